"""The strings parsing a body would add to libxml2's dictionary, found before it is parsed (issue 16).

libxml2 interns names in the parsing thread's string dictionary, which lxml keeps for the thread's life:
a body with names never seen before grows the process for good, refused or not (XML 1.0 §2.3 Names,
§2.6 PIs, §4.1 references; Namespaces in XML §3). Measured on libxml2 2.14.6 as lxml parses (COMPACT, no
DTD), 200,000 distinct strings of each kind in one body: kept are element and attribute names (prefix
and local part, also for end tags and for names after a well-formedness error), xmlns prefixes and
namespace URIs, PI targets, entity reference names (declared or not, in text and in attribute values,
with or without ';'), a DOCTYPE's internal subset, and whitespace-only text of 16 to 59 characters that
starts a text node (after '>') and ends at '<' not followed by '!'. Not kept: attribute values, other
text, comments, CDATA (tests/xdscore/test_names.py checks each kind against a parse).

`tokens` over-approximates: every string libxml2 could intern is a function of one returned token, so a
body whose tokens are all known adds nothing new to a dictionary that has parsed those tokens before.
Where the scan cannot be sure (a name outside ASCII, a '<' that starts no well-formed construct, a '<'
inside a comment or CDATA, an encoding other than UTF-8 / ASCII) it returns None: the caller parses the
body as if every name were new. A DOCTYPE is refused before anything is parsed (`has_doctype`).
Pure: no I/O, no threads (the service side is `xdsservice.names`).
"""

from __future__ import annotations

import re

_NAME_CHARS = b"-.0123456789:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_NAME = rb"[A-Za-z_:][-.0-9A-Za-z_:]*"
# The scan works at C speed on the whole body (a regular expression per tag cost 60 µs for an 8 KB ITI-42):
# it removes what libxml2 reads as an attribute value, then as text, and every word left is a candidate
# name. A value is removed only when it holds no '<' (XML forbids it; libxml2 interns nothing after one),
# so a quote in text pairs with nothing past the next '<', and once the values are gone a '>' ends a tag.
_TEXT = re.compile(rb">[^<]+<")
_UNREAD = re.compile(rb"<!--[^<]*?-->|<!\[CDATA\[[^<]*?\]\]>")
_VALUE = re.compile(rb"\"[^\"<]*\"|'[^'<]*'")
_DELIMITERS = bytes.maketrans(b"<>/=?!\"'[]\t\r\n", b" " * 13)
_COLON = bytes.maketrans(b":", b" ")
_COLONS = re.compile(rb":[^ :]*:")  # a word with two colons
_XMLNS_VALUE = re.compile(rb"xmlns(?::" + _NAME + rb")?\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
# libxml2 reads a Name after '&' (not '&#') and interns it before it looks for ';'.
_ENTITY = re.compile(rb"&([-.0-9A-Za-z_:\x80-\xff]*)")
_NAME_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:")
# Whitespace libxml2 interns: 16 (shorter texts are stored in the node) to 59 characters, where "\r\n"
# counts one, so up to 118 bytes here.
_BLANK_RUN = re.compile(rb">([ \t\r\n]{16,118})<(?!!)")
# The XML declaration (XML 1.0 §2.8), read strictly: anything else that looks like one is not scanned.
_DECLARATION = re.compile(rb"<\?xml\s+version\s*=\s*(?:\"1\.[0-9]\"|'1\.[0-9]')"
                          rb"(?:\s+encoding\s*=\s*(?:\"([-.A-Za-z0-9_]+)\"|'([-.A-Za-z0-9_]+)'))?"
                          rb"(?:\s+standalone\s*=\s*(?:\"(?:yes|no)\"|'(?:yes|no)'))?\s*\?>")
_RUN_SIGNS = (b"\n", b"\r", b"\t", b" " * 8)  # one is in any run of 16 blanks: else no need to look
_SCANNABLE_ENCODINGS = frozenset((b"utf-8", b"utf8", b"us-ascii", b"ascii"))
# Namespace URIs are kept apart from names: the same string as a URI and as a name is two tokens.
URI_MARK = b"\x00"
# Bodies above this have their long texts cut first (the regular expressions read text at 2 ns a byte);
# a text is long past the longest blank run libxml2 interns.
_CUT_TEXTS_ABOVE = 32 * 1024
_LONG_TEXT = 256
_BLANKS = (b" ", b"\t", b"\r", b"\n")


def has_doctype(data: bytes) -> bool:
    """A DOCTYPE, refused before parsing: libxml2 interns its internal subset's names while parsing it."""
    return b"<!DOCTYPE" in data


def tokens(data: bytes) -> frozenset[bytes] | None:
    """Every token whose strings parsing `data` could intern; None when the scan cannot tell."""
    if b"\x00" in data[:4] or data[:2] in (b"\xfe\xff", b"\xff\xfe"):  # UTF-16 or -32: not byte names
        return None
    entities = _ENTITY.findall(data) if b"&" in data else []
    if len(data) > _CUT_TEXTS_ABOVE:  # first: what follows reads only what is left
        data = _without_long_texts(data)
    declaration = _DECLARATION.match(data)
    if declaration is not None:
        if (declaration.group(1) or declaration.group(2) or b"utf-8").lower() not in _SCANNABLE_ENCODINGS:
            return None
        # libxml2 reads no name in it, nor in the blanks after it (the prolog makes no text node)
        data = data[declaration.end() :].lstrip()
    elif data.lstrip()[:5] == b"<?xml":
        return None  # a declaration libxml2 may read otherwise
    # (blank texts before a comment are not interned: read before comments go)
    blanks = _BLANK_RUN.findall(data) if any(blank in data for blank in _RUN_SIGNS) else []
    if b"<!" in data:  # comments and CDATA hold no name (one holding '<' stays: it might hide a tag)
        data = _UNREAD.sub(b"<_/>", data)
    markup = _TEXT.sub(b"><", _without_values(data))
    names = set(markup.translate(_DELIMITERS).split())
    if b"".join(names).translate(None, _NAME_CHARS):
        return None  # a word that is no name: text with a quote, a non-ASCII name, a comment...
    words = b" ".join(names)
    if b":" in words:  # libxml2 interns a QName's prefix and local part (with several colons, pieces of it)
        names.update(words.translate(_COLON).split())
        if _COLONS.search(words):
            names.update(part for qname in words.split() if qname.count(b":") > 1 for part in _parts(qname))
    if b"xmlns" in data:
        names.update(URI_MARK + (double or single) for double, single in _XMLNS_VALUE.findall(data))
    found = _entity_names(entities)
    if found is None:
        return None
    names.update(found)
    names.update(blanks)
    return frozenset(names)


def _entity_names(entities: list[bytes]) -> list[bytes] | None:
    """The names libxml2 reads after each '&' (`_ENTITY`), None when one is not ASCII."""
    if not all(name.isascii() for name in entities):
        return None
    return [name for name in entities if name and name[0] in _NAME_START]  # else no name: nothing interned


def _without_long_texts(data: bytes) -> bytes:
    """`data` without the long texts (inline base64 documents), found at memory speed and never copied:
    what follows the last '>' before a '<' is text (a '>' inside an attribute value comes before its
    tag's own '>')."""
    kept: list[bytes] = []
    at = 0  # start of what is not yet kept
    start = data.find(b"<")
    while start >= 0:
        after = data.find(b"<", start + 1)
        stop = len(data) if after < 0 else after
        if stop - start > _LONG_TEXT:
            end = data.rfind(b">", start, stop) + 1
            if end and stop - end > _LONG_TEXT:
                kept.append(data[at:end])
                at = stop
        start = after
    kept.append(data[at:])
    return b"".join(kept)


def _without_values(markup: bytes) -> bytes:
    """`markup` without its attribute values (XML 1.0 §3.1: a value holds no '<' and ends at the quote
    it opened with)."""
    if b"'" in markup:  # the alternation that pairs either quote: four times slower
        return _VALUE.sub(b" ", markup)
    # Double quotes only (what serializers write): quoted pieces are every other one once split at the
    # quotes, unless a quote in text shifted the pairing, which then puts a '<' in a quoted piece.
    pieces = markup.split(b'"')
    if b"<" in b"".join(pieces[1::2]):
        return _VALUE.sub(b" ", markup)
    return b" ".join(pieces[::2])


def _parts(qname: bytes) -> list[bytes]:
    # libxml2 splits a QName at its colon; with several (a namespace error) it keeps pieces on either side.
    pieces = []
    at = qname.find(b":")
    while at >= 0:
        pieces += [qname[:at], qname[at + 1 :]]
        at = qname.find(b":", at + 1)
    return pieces


class Scanner:
    """`tokens` of a body that arrives in pieces, for a push parser fed as it comes (the WS-Security gate).

    libxml2's push parser parses a construct only once it is complete (a start tag once its '>' outside
    quotes has come, a text once the '<' after it has). Each piece is scanned from the start of the last
    tag of the one before, up to the last '>' (or '<') that has come: the last tag is read whole, never
    from inside one of its values; what follows is scanned again with the next piece."""

    MAX_PENDING = 64 * 1024  # more bytes than this without a tag starting: cannot tell (else each piece rescans them)

    def __init__(self) -> None:
        self._rest = b""
        self._fed = False
        # (bytes, tokens) when the first piece was scanned whole, ending with a tag: `tokens(body)` for a
        # body that came in that one piece, kept so that the body's parse does not scan it again.
        self.whole: tuple[bytes, frozenset[bytes] | None] | None = None

    def tokens_of(self, body: bytes) -> frozenset[bytes] | bool | None:
        """`tokens(body)` when the first piece fed was `body` and was scanned whole; else False (not known)."""
        if self.whole is not None and self.whole[0] == body:
            return self.whole[1]
        return False

    def feed(self, data: bytes) -> frozenset[bytes] | None:
        first, self._fed = not self._fed, True
        data = self._rest + data
        last = data.rfind(b"<")
        if last < 0:
            self._rest = data
            return frozenset() if len(data) <= self.MAX_PENDING else None
        end = data.rfind(b">", last) + 1 or last + 1  # the last tag if its '>' has come, else up to its '<'
        self._rest = data[last:]
        if len(self._rest) > self.MAX_PENDING:
            return None
        found = tokens(data[:end])
        if first and not data[end:].strip(b" \t\r\n"):  # nothing but blanks after the last tag (which
            self.whole = (data, found)  # no pattern of `tokens` reads without a '<' after them): `tokens(data)`
        # libxml2 reads an entity reference in the text after the last tag once its ';' has come
        later = _entity_names(_ENTITY.findall(data, end)) if b"&" in data[end:] else []
        if found is None or later is None:
            return None
        return found | frozenset(later)
