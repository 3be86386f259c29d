"""xdscore.names: every string libxml2 keeps in its dictionary is found before parsing (issue 16)."""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
import sys
import textwrap

import pytest

from harness import wire
from harness.builders import single_document
from tests.security import fixtures
from xdscore import names
from xdscore.errors import SoapFault
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import Action, Status
from xdscore.vocabulary import StoredQueryId as Q
from xdscore.xmlsafe import parse_bytes
from xuatool import variants
from xuatool.pki import TestPki

pki = fixtures.pki

NEW = "q0917zz"  # a name no other body here uses


# Each kind of string libxml2 2.14 interns (measured: docs/reliability.md, xdscore/names.py): the body,
# and the token that stands for it.
INTERNED = {
    "element": (f"<r><{NEW}/></r>", NEW),
    "end tag": (f"<r></{NEW}>", NEW),
    "attribute": (f"<r {NEW}='1'/>", NEW),
    "attribute (double quotes)": (f'<r a="1" {NEW}="2"/>', NEW),
    "element prefix": (f"<{NEW}:r xmlns:{NEW}='urn:x'/>", NEW),
    "element local part": (f"<p:{NEW} xmlns:p='urn:x'/>", NEW),
    "attribute prefix": (f"<r xmlns:{NEW}='urn:x' {NEW}:a='1'/>", NEW),
    "xmlns prefix": (f"<r xmlns:{NEW}='urn:x'/>", NEW),
    "namespace URI": (f"<r xmlns='urn:{NEW}'/>", names.URI_MARK + f"urn:{NEW}".encode()),
    "namespace URI (prefixed)": (f'<r xmlns:p="urn:{NEW}"/>', names.URI_MARK + f"urn:{NEW}".encode()),
    "PI target": (f"<r><?{NEW} data?></r>", NEW),
    "entity reference": (f"<r>&{NEW};</r>", NEW),
    "entity reference without ';'": (f"<r>&{NEW} </r>", NEW),
    "entity reference in an attribute": (f"<r a='&{NEW};'/>", NEW),
    "blank text of 16": ("<r><a>" + " " * 16 + "</a></r>", b" " * 16),
    "blank text of 59": ("<r><a>" + "\n" + "\t" * 58 + "</a></r>", b"\n" + b"\t" * 58),
    "blank text with CR LF": ("<r><a>\r\n" + " " * 30 + "</a></r>", b"\r\n" + b" " * 30),
    "name after a well-formedness error": (f"<r><a b='1' b='2'/><{NEW}/></r>", NEW),
    "name after a '>' in a value": (f"<r><a b='x>y' {NEW}='1'/></r>", NEW),
    "name after a quote in text": (f"<r>it's <{NEW} c=\"1\"/> \"</r>", NEW),
    "name between comments": (f"<r><!-- a --><{NEW}/><!-- b --></r>", NEW),
    "name in CDATA that looks like a comment": (f"<r><![CDATA[ <!-- ]]><{NEW}/> --></r>", NEW),
}


@pytest.mark.parametrize("kind", INTERNED)
def test_each_kind_of_interned_string_is_a_token(kind: str) -> None:
    body, token = INTERNED[kind]
    found = names.tokens(body.encode())
    assert found is not None
    assert (token.encode() if isinstance(token, str) else token) in found


def test_what_libxml2_does_not_keep_is_no_token() -> None:
    # Values, texts, comments, CDATA, short or long blank texts: they change with every request, and a
    # token for them would send every request to a thread of its own.
    body = (b"<?xml version='1.0' encoding='UTF-8'?>\n<r a=\"v1\" b='v 2'><t>text 1234</t><!-- c -->"
            b"<![CDATA[data]]><s>" + b" " * 15 + b"</s><u>" + b" " * 119 + b"</u>&#32;<v>" + b" " * 20 +
            b"<!--x--></v></r>")
    assert names.tokens(body) == {b"r", b"a", b"b", b"t", b"s", b"u", b"v", b"_"}  # "_": a comment or CDATA


def test_qname_with_several_colons_gives_its_pieces() -> None:
    found = names.tokens(b"<a:b:c/>")
    assert found is not None and {b"a", b"b:c", b"a:b", b"c", b"a:b:c"} <= found


@pytest.mark.parametrize("body", [
    "<r>caf\u00e9 &eacut\u00e9;</r>",  # an entity name outside ASCII
    "<r\u00e9/>",  # an element name outside ASCII
    "<r><a>x</a><!-- a, <comment> --></r>",  # a comment holding "<" (kept: it might hide a tag) and ","
    "<?xml version='1.0' encoding='ISO-8859-1'?><r/>",  # another encoding: bytes are not the names
    "<?xml version='1.0' <evil/> ?><r/>",  # a declaration libxml2 does not read as such
])
def test_what_the_scan_cannot_read_is_unknown(body: str) -> None:
    assert names.tokens(body.encode()) is None


def test_utf16_is_unknown() -> None:
    assert names.tokens("<r/>".encode("utf-16")) is None


def test_long_texts_are_skipped_without_losing_a_name() -> None:
    base64 = b"QUJD" * 20_000
    body = b"<r><d>" + base64 + b"</d><e " + NEW.encode() + b"='1'>" + b" " * 20 + b"<f/></e>&ent;</r>" + base64
    found = names.tokens(body)
    assert found is not None
    assert {b"r", b"d", b"e", b"f", NEW.encode(), b" " * 20, b"ent"} <= found
    assert not any(b"QUJD" in token for token in found)


def test_doctype_is_refused_before_parsing() -> None:
    assert names.has_doctype(b"<!DOCTYPE r [<!ELEMENT r ANY>]><r/>")
    with pytest.raises(SoapFault, match="carries a DTD"):
        parse_bytes(b"<!DOCTYPE r [<!ELEMENT r ANY>]><r/>")


def test_scanner_fed_in_pieces_finds_what_the_whole_body_holds() -> None:
    body = (f"<r xmlns:p='urn:{NEW}'><p:a b='1'>" + " " * 20 + f"<c {NEW}='x>y'/></p:a>&e;</r>").encode()
    scanner = names.Scanner()
    found: set[bytes] = set()
    for i in range(0, len(body), 7):
        piece = scanner.feed(body[i : i + 7])
        assert piece is not None
        found |= piece
    whole = names.tokens(body)
    assert whole is not None and whole <= found


# Checked against libxml2 itself, in a child process: a thread's RSS after 200,000 strings of a kind.
_PROBE = textwrap.dedent("""
    import ctypes, gc, sys
    from xdscore import names
    from xdscore.xmlsafe import parse_bytes
    libc = ctypes.CDLL("libc.so.6")
    def rss(): return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6
    known = set(names.tokens(b"<r xmlns:p='urn:p'><p:a b='1'><?pi x?>&amp;<!--c--></p:a></r>"))
    def body(kind, n):
        if kind == "values":  # new values, texts, comments, CDATA, short blanks: no new token
            items = "".join(f"<p:a b='{n}v{i}'>{n}t{i} &amp;<!--{n}c{i}--><![CDATA[{n}d{i}]]>   </p:a>"
                            for i in range(10_000))
        else:  # new element names
            items = "".join(f"<p:a{n}x{i}/>" for i in range(10_000))
        return f"<r xmlns:p='urn:p'>{items}<?pi x?></r>".encode()
    kind = sys.argv[1]
    bodies = [body(kind, n) for n in range(21)]
    for data in bodies:
        tokens = names.tokens(data)
        assert tokens is not None
        if kind == "values":
            assert tokens <= known, sorted(tokens - known)[:5]
    parse_bytes(bodies[0])  # the parser's own first allocations
    gc.collect(); libc.malloc_trim(0)
    start = rss()
    for data in bodies[1:]:
        parse_bytes(data)
    gc.collect(); libc.malloc_trim(0)
    print(rss() - start)
""")


def _growth(kind: str) -> float:
    done = subprocess.run([sys.executable, "-c", _PROBE, kind], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


def test_a_body_whose_tokens_are_known_adds_nothing_to_libxml2s_dictionary() -> None:
    assert _growth("names") > 4  # 200,000 new names stay (the probe measures what it should)
    assert _growth("values") < 0.5  # 200,000 new values, texts, comments do not


def test_ordinary_requests_are_read_by_the_scan(pki: TestPki) -> None:
    """What the services usually get is scanned (None would send each to a thread of its own): ITI-18 (its
    values in text hold quotes), ITI-42, ITI-41 (MTOM root and inline), ITI-43, with a signed XUA header."""
    builder = single_document()
    query = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": builder.patient_id,
                                             "$XDSDocumentEntryStatus": [Status.APPROVED.value]}, ReturnType.LEAF_CLASS)
    assertion = variants.make("valid", variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), profile="xua"))
    inline, _ = wire.pnr_element(builder, {"Document01": wire.Content.of(b"%PDF" * 10_000)}, inline=True)
    mtom_root, _ = wire.pnr_element(builder, {"Document01": wire.Content.of(b"x")})
    for body, action in ((query, Action.STORED_QUERY), (builder.xml(), Action.REGISTER), (inline, Action.PROVIDE_AND_REGISTER),
                         (mtom_root, Action.PROVIDE_AND_REGISTER), (wire.retrieve_element(("1.2", "3.4")), Action.RETRIEVE)):
        for security in (None, copy.deepcopy(assertion)):
            found = names.tokens(wire.envelope(body, action, security=security))
            assert found is not None, (action, security is not None)
            assert not any(b"%PDF" in token or b"JVBER" in token for token in found)


def test_scanner_never_reads_a_value_from_its_middle() -> None:
    # A piece that ends after a '>' inside a value: the next piece must not pair the value's closing quote
    # with the next value's opening one (which would hide the attribute between them).
    scanner = names.Scanner()
    first = scanner.feed(b'<r><a v="x>')
    second = scanner.feed(b'y" ' + NEW.encode() + b'="1"/></r>')
    assert first is not None and second is not None and NEW.encode() in second


def test_scanner_finds_an_entity_in_the_text_after_the_last_tag() -> None:
    scanner = names.Scanner()
    found = scanner.feed(b"<r><a>x &" + NEW.encode() + b"; y")
    assert found is not None and NEW.encode() in found


def test_scanner_gives_up_on_a_long_text_in_pieces() -> None:
    scanner = names.Scanner()
    assert scanner.feed(b"<r>") == {b"r"}
    assert all(scanner.feed(b"x" * 16_000) is not None for _ in range(4))
    assert scanner.feed(b"x" * 16_000) is None  # a 64 KB text is scanned no more: cannot tell


def test_scanner_keeps_the_scan_of_a_body_that_came_in_one_piece() -> None:
    body = f"<r xmlns:p='urn:{NEW}'><p:a b='1'/>&e;</r>".encode()
    scanner = names.Scanner()
    scanner.feed(body)
    assert scanner.tokens_of(body) == names.tokens(body)  # the body's parse need not scan it again
    assert scanner.tokens_of(body + b"<x/>") is False  # another body: not known
    trailing = names.Scanner()
    trailing.feed(body + b"\r\n")  # blanks after the root read no name
    assert trailing.tokens_of(body + b"\r\n") == names.tokens(body + b"\r\n")
    pieces = names.Scanner()
    pieces.feed(body[:10])
    pieces.feed(body[10:])
    assert pieces.tokens_of(body) is False  # scanned in pieces: the parse scans it whole itself
    unfinished = names.Scanner()
    unfinished.feed(body + b"<p:b " + NEW.encode())  # a tag still open: not scanned whole
    assert unfinished.tokens_of(body + b"<p:b " + NEW.encode()) is False
