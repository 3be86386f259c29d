"""Hypothesis strategies that turn valid messages into hostile ones: byte-level edits guided by a dictionary
of tokens that matter to the parsers (markup, MIME and HL7 separators, SQL and LIKE metacharacters,
invalid UTF-8, long runs), and tree-level edits of an XML message (elements dropped, duplicated, moved,
renamed, emptied; attributes and texts replaced by tokens), so that most mutants still parse and reach
the code behind the parser.
"""

from __future__ import annotations

import copy

from hypothesis import strategies as st
from lxml import etree

TOKENS: tuple[bytes, ...] = (
    b"<", b">", b"</", b"/>", b"&", b"&amp;", b"&lt;", b"&#0;", b"&#x110000;", b"&xxe;", b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
    b"<![CDATA[", b"]]>", b"<?pi x?>", b"<!--", b"-->", b'"', b"'", b"=", b"xmlns:a=\"\"", b"xmlns=\"urn:x\"",
    b"\x00", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\r\n", b"\n", b"\r", b"\t", b" ", b"--", b"--\r\n",
    b"Content-Type: ", b"Content-ID: <", b"Content-Transfer-Encoding: base64\r\n", b"boundary=", b"cid:", b"%40", b"%2F",
    b"|", b"^", b"~", b"\\", b"&", b"\x0b", b"\x1c\r", b"MSH|^~\\&|", b"PID|||", b"MRG|", b"EVN|",
    b"' OR '1'='1", b"''", b"%", b"_", b"%_%", b"\\%", b"(", b")", b",", b";", b"--", b"/*", b"\x1a",
    b"urn:uuid:", b"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved", b"^^^&1.2.3&ISO", b"1.2.3.4",
    b"99999999999999999999", b"-1", b"0", b"20260101", b"2026-01-01T00:00:00Z",
    b"A" * 300, b"9" * 1000, b"<a>" * 200, b"x" * 70_000,
)
_PRINTABLE = tuple(
    t.decode("utf-8", "ignore") for t in TOKENS if all(c in "\t\n\r" or c >= " " for c in t.decode("utf-8", "ignore"))
)
TEXT_TOKENS: tuple[str, ...] = (
    *_PRINTABLE, "", "é", "\u202e", "𝄞" * 10, "urn:uuid:00000000-0000-0000-0000-000000000000", "('a','b')",
    "('%', '_')", "$XDSDocumentEntryPatientId", "'P1^^^&1.3.6.1.4.1.21367.2005.3.7&ISO'",
)


@st.composite
def byte_mutant(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A seed with up to eight edits: token or random bytes inserted, a range deleted or duplicated,
    a byte changed, the end cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(("insert", "token", "delete", "duplicate", "flip", "truncate")))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "duplicate":
            end = min(len(data), pos + draw(st.integers(1, 256)))
            data[end:end] = data[pos:end] * draw(st.integers(1, 4))
        elif op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


def _set_text(element: etree._Element, value: str) -> None:
    try:
        element.text = value
    except ValueError:  # a character XML cannot hold: the edit is skipped
        pass


@st.composite
def tree_mutant(draw: st.DrawFn, seeds: tuple[etree._Element, ...]) -> etree._Element:
    """A copy of a seed tree with up to six edits of its elements, attributes and texts."""
    root = copy.deepcopy(draw(st.sampled_from(seeds)))
    # Half the mutants only change values, so that they keep the schema's shape and reach the rules behind it.
    ops = ("drop", "duplicate", "move", "rename", "attribute", "text", "empty", "nest") if draw(st.booleans()) \
        else ("attribute", "text")
    for _ in range(draw(st.integers(1, 6))):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        element = elements[draw(st.integers(0, len(elements) - 1))]
        parent = element.getparent()
        op = draw(st.sampled_from(ops))
        if op == "drop" and parent is not None:
            parent.remove(element)
        elif op == "duplicate" and parent is not None:
            for _ in range(draw(st.integers(1, 3))):
                parent.insert(parent.index(element), copy.deepcopy(element))
        elif op == "move" and parent is not None:
            target = elements[draw(st.integers(0, len(elements) - 1))]
            if element not in target.iterancestors() and target is not element:
                target.append(element)
        elif op == "rename":
            other = elements[draw(st.integers(0, len(elements) - 1))]
            element.tag = other.tag if draw(st.booleans()) else f"{{urn:x:{draw(st.integers(0, 3))}}}E"
        elif op == "attribute":
            names = list(element.attrib) or ["id"]
            name = draw(st.sampled_from([*names, "id", "value", "objectType", "classificationScheme"]))
            try:
                element.set(name, draw(st.sampled_from(TEXT_TOKENS)))
            except ValueError:
                pass
        elif op == "text":
            _set_text(element, draw(st.sampled_from(TEXT_TOKENS)) * draw(st.integers(1, 3)))
        elif op == "empty":
            for child in list(element):
                element.remove(child)
        elif op == "nest":
            element.append(copy.deepcopy(element))
    return root


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut at a few random places, as it may arrive from a socket."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    pieces, last = [], 0
    for cut in [*cuts, len(data)]:
        pieces.append(data[last:cut])
        last = cut
    return pieces
