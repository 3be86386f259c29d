"""Safe XML parsing for everything received from the network.

No DTD is accepted (so no external entity, no entity expansion, no "billion laughs"), the parser never
touches the network or the file system, and input is refused above a size limit before parsing starts.
A refusal is a `SoapFault` (Sender): the caller never sees an lxml exception.

`XmlLimits` bounds the shape of what is received as well as its size (issue 16): element depth, number
of elements, attribute value and text node lengths. The byte limit is checked before parsing, the number
of elements is bounded before parsing too (each element needs a "<", so `data.count(b"<")` is an upper
bound found at memory speed), and the rest is checked on the parsed tree with compiled XPath, in C, in
time linear in the tree (about a fifth of the parse itself) and without holding the GIL, so a large body
parsed in a worker thread leaves the event loop free (`xdsservice.soapapp.decode_off_loop`). Memory is therefore bounded by `max_bytes`
(lxml's tree is a few times its input), and what the transactions walk afterwards by the other limits.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from xdscore import names
from xdscore.errors import FaultCode, SoapFault

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class XmlLimits:
    """What one received XML document may hold; `None` leaves a dimension to `max_bytes` alone."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int | None = 256  # nesting of elements (libxml2's own default without XML_PARSE_HUGE)
    max_elements: int | None = None
    max_attribute_chars: int | None = None  # characters of one attribute value
    max_text_chars: int | None = None  # characters of one text node (inline base64 documents are text)

    @classmethod
    def of(cls, max_bytes: int, depth: int, elements: int, attribute_chars: int, text_chars: int) -> XmlLimits:
        """Limits from service settings, where 0 means "no limit" (other than `max_bytes`)."""
        return cls(max_bytes, depth or None, elements or None, attribute_chars or None, text_chars or None)


class _Parsers(threading.local):
    # One parser per thread: lxml serializes the threads that share a parser, and large bodies are parsed
    # in worker threads (xdsservice.soapapp) while the event loop parses small ones.
    def __init__(self) -> None:
        # huge_tree lifts libxml2's 10 MB text-node cap: documents inlined as base64 are legal (ITI-41
        # NoXop). The limits below are what bound memory and shape instead.
        self.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=True,
            remove_blank_text=False,
            collect_ids=False,
        )


_PARSERS = _Parsers()


def parse_bytes(
    data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, what: str = "message", limits: XmlLimits | None = None
) -> etree._Element:
    """Parse untrusted XML; refuse DTDs, entities, oversized and over-limit input with a Sender fault.

    `limits` (default: `max_bytes` and a depth of 256) names every bound; when given, its `max_bytes` wins."""
    limits = limits or XmlLimits(max_bytes=max_bytes)
    if len(data) > limits.max_bytes:
        raise SoapFault(FaultCode.SENDER, f"{what} is larger than the limit of {limits.max_bytes} bytes")
    if names.has_doctype(data):  # refused before libxml2 interns the names of its internal subset
        raise SoapFault(FaultCode.SENDER, f"{what} carries a DTD, which is not allowed")
    if limits.max_elements is not None and data.count(b"<") > 2 * limits.max_elements + 16:
        # Every element costs one or two "<" (empty or not): this many is over the limit, or garbage.
        raise _over(what, f"more than {limits.max_elements} elements")
    try:
        root = etree.fromstring(data, parser=_PARSERS.parser)
    except etree.XMLSyntaxError as exc:
        if limits.max_depth is not None and "Excessive depth" in str(exc):
            # libxml2 stops by itself at 2048 levels (even with huge_tree): deeper than any limit we allow,
            # so the answer names the limit, as for a document a little deeper than it (found by the attack corpus)
            raise _over(what, f"elements nested more than {limits.max_depth} deep") from None
        raise SoapFault(FaultCode.SENDER, f"{what} is not well-formed XML: {exc}") from None
    except ValueError as exc:  # e.g. empty input, unsupported encoding declaration
        raise SoapFault(FaultCode.SENDER, f"{what} cannot be parsed: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise SoapFault(FaultCode.SENDER, f"{what} carries a DTD, which is not allowed")
    if b"<!ENTITY" in data and _has_entity_reference(root):  # entities are declared in a DTD, or nowhere
        raise SoapFault(FaultCode.SENDER, f"{what} uses entity references, which are not allowed")
    at_most_one = (tree.docinfo.encoding or "").upper() in _BYTE_PER_CHARACTER_AT_MOST
    check_shape(root, limits, what, data if at_most_one else None)
    return root


# Encodings in which a character takes at least one byte, so no value of a document holds more characters
# than the document has bytes (references only shrink: `&lt;` is one character, `&#x10FFFF;` one too).
# lxml names a document without a declaration UTF-8 even when libxml2 read it as UTF-16 or UCS-4 from its
# byte order mark: two to four bytes a character, so the bound holds there too. A declared encoding is named.
_BYTE_PER_CHARACTER_AT_MOST = frozenset({"UTF-8", "US-ASCII", "ASCII"})


def check_shape(root: etree._Element, limits: XmlLimits, what: str = "message", data: bytes | None = None) -> None:
    """Sender fault when the tree under `root` is deeper, larger or holds longer values than `limits` allow.

    `data`: the UTF-8 (or ASCII) bytes `root` was parsed from, when the caller has them: a limit no part of
    them could exceed is not walked (an 8 KB ITI-42 holds no 64 K attribute value nor 64 elements deep: the
    XPath walks were a third of its parse)."""
    size = len(data) if data is not None else None
    tags = data.count(b"<") if data is not None else None  # every element takes at least one
    if limits.max_depth is not None and (tags is None or tags > limits.max_depth) and _deeper_than(limits.max_depth)(root):
        raise _over(what, f"elements nested more than {limits.max_depth} deep")
    if (limits.max_elements is not None and (tags is None or tags > limits.max_elements)
            and int(_COUNT_ELEMENTS(root)) > limits.max_elements):
        raise _over(what, f"more than {limits.max_elements} elements")
    if (limits.max_attribute_chars is not None and (size is None or size > limits.max_attribute_chars)
            and _longer("//@*", limits.max_attribute_chars)(root)):
        raise _over(what, f"an attribute value longer than {limits.max_attribute_chars} characters")
    if (limits.max_text_chars is not None and (size is None or size > limits.max_text_chars)
            and _longer("//text()", limits.max_text_chars)(root)):
        raise _over(what, f"a text longer than {limits.max_text_chars} characters")


def _over(what: str, detail: str) -> SoapFault:
    return SoapFault(FaultCode.SENDER, f"{what} has {detail}, over this service's limit")


_COUNT_ELEMENTS = etree.XPath("count(//*)")


@lru_cache(maxsize=16)
def _deeper_than(depth: int) -> etree.XPath:
    # "/*/*/…/*" with depth + 1 steps selects the elements below `depth` levels: evaluated level by level,
    # it visits each element at most once.
    return etree.XPath("boolean(/" + "/".join(["*"] * (depth + 1)) + ")")


@lru_cache(maxsize=16)
def _longer(nodes: str, chars: int) -> etree.XPath:
    return etree.XPath(f"boolean({nodes}[string-length(.) > {int(chars)}])")


# Characters XML 1.0 cannot carry (§2.2): C0 controls but tab, LF, CR; surrogates; U+FFFE, U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """`value` made writable as XML text or attribute: each character XML cannot hold becomes U+FFFD.
    For what answers quote from a request (a MIME header, a Content-ID) in a fault reason or codeContext."""
    return _NOT_XML.sub("\ufffd", value)


def _has_entity_reference(root: etree._Element) -> bool:
    # A walk of the whole tree that holds the GIL (XPath, above, does not): only where an entity may be.
    # Without a DTD an undeclared entity is already a syntax error; this is a second wall for the
    # predefined-entity-free case where libxml2 keeps an unresolved reference node.
    return any(isinstance(node, etree._Entity) for node in root.iter(etree.Entity))
