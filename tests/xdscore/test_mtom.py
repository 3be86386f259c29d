"""MTOM/XOP codec (xdscore.mtom): tables of exact bytes in both directions, byte-by-byte feeding,
random splits, spilling to disk, and every malformed input answered with a SOAP Fault. The multipart
framing underneath (boundaries, part headers, limits) has its own tables in test_multipart.py."""

from __future__ import annotations

import base64
import hashlib
import io
import random
from pathlib import Path

import pytest
from lxml import etree

from xdscore import mtom
from xdscore.errors import FaultCode, SoapFault

ENV = b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x/></s:Body></s:Envelope>'
BINARY = bytes(range(256)) * 3 + b"\r\n--MIMEBoundary\r\n--MIMEBoundar"  # looks like a boundary, is not one


def ct(boundary: str = "MIMEBoundary_1", start: str | None = "<root@x>", extra: str = "") -> str:
    value = f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start-info="application/soap+xml"'
    if start:
        value += f'; start="{start}"'
    return value + extra


# (name, Content-Type header, body, expected root, expected attachments)
DECODE_TABLE: list[tuple[str, str, bytes, bytes, dict[str, bytes]]] = [
    (
        "axis2-style CRLF, binary part",
        ct(),
        b"--MIMEBoundary_1\r\n"
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <root@x>\r\n\r\n" + ENV + b"\r\n"
        b"--MIMEBoundary_1\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <1.doc@urn:ihe:iti:xds-b:2007>\r\n\r\n" + BINARY + b"\r\n"
        b"--MIMEBoundary_1--\r\n",
        ENV,
        {"1.doc@urn:ihe:iti:xds-b:2007": BINARY},
    ),
    (
        "LF-only line ends, preamble and epilogue, transport padding",
        ct(),
        b"This is a preamble.\n--MIMEBoundary_1  \t\n"
        b"Content-Type: application/xop+xml\nContent-ID: <root@x>\n\n" + ENV + b"\n"
        b"--MIMEBoundary_1\nContent-ID: <a@b>\n\nhello\n--MIMEBoundary_1--\nepilogue --MIMEBoundary_1 ignored",
        ENV,
        {"a@b": b"hello"},
    ),
    (
        "root part not first, found through start",
        ct(start="<root@x>"),
        b"--MIMEBoundary_1\r\nContent-ID: <a@b>\r\n\r\nfirst\r\n"
        b"--MIMEBoundary_1\r\nContent-Type: application/xop+xml\r\nContent-ID: <root@x>\r\n\r\n" + ENV + b"\r\n"
        b"--MIMEBoundary_1--",
        ENV,
        {"a@b": b"first"},
    ),
    (
        "no start parameter: the first part is the root; WCF-style content ids",
        ct(start=None),
        b"--MIMEBoundary_1\r\nContent-Type: application/xop+xml\r\nContent-ID: <http://tempuri.org/0>\r\n\r\n" + ENV + b"\r\n"
        b"--MIMEBoundary_1\r\nContent-ID: <http://tempuri.org/1/634>\r\n\r\n\x00\x01\r\n"
        b"--MIMEBoundary_1--\r\n",
        ENV,
        {"http://tempuri.org/1/634": b"\x00\x01"},
    ),
    (
        "base64 transfer encoding with folded lines; empty attachment",
        ct(),
        b"--MIMEBoundary_1\r\nContent-ID: <root@x>\r\nContent-Type: application/xop+xml\r\n\r\n" + ENV + b"\r\n"
        b"--MIMEBoundary_1\r\nContent-ID: <b64@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(BINARY) + b"\r\n"
        b"--MIMEBoundary_1\r\nContent-ID: <empty@x>\r\n\r\n\r\n"
        b"--MIMEBoundary_1--\r\n",
        ENV,
        {"b64@x": BINARY, "empty@x": b""},
    ),
    (
        "folded header, unquoted boundary, part data ending in CR",
        "multipart/related;boundary=b;type=\"application/xop+xml\";start=\"<root@x>\"",
        b"--b\r\nContent-Type: application/xop+xml;\r\n charset=UTF-8\r\nContent-ID: <root@x>\r\n\r\n" + ENV + b"\r\n"
        b"--b\r\nContent-ID: <cr@x>\r\n\r\nends with CR\r\r\n--b--",
        ENV,
        {"cr@x": b"ends with CR\r"},
    ),
]


def _feed_all(header: str, body: bytes, chunks: list[bytes]) -> mtom.MtomMessage:
    assembler = mtom.MtomAssembler(mtom.ContentType.parse(header))
    for chunk in chunks:
        assembler.feed(chunk)
    assembler.feed_eof()
    return assembler.result()


def _check(message: mtom.MtomMessage, root: bytes, attachments: dict[str, bytes]) -> None:
    assert message.root == root
    assert {cid: a.read() for cid, a in message.attachments.items()} == attachments
    for cid, a in message.attachments.items():
        assert a.size == len(attachments[cid])
        assert a.sha1 == hashlib.sha1(attachments[cid]).hexdigest()


@pytest.mark.parametrize("name,header,body,root,attachments", DECODE_TABLE, ids=[r[0] for r in DECODE_TABLE])
def test_decode_table_whole(name: str, header: str, body: bytes, root: bytes, attachments: dict[str, bytes]) -> None:
    _check(mtom.decode_message(body, mtom.ContentType.parse(header)), root, attachments)


@pytest.mark.parametrize("name,header,body,root,attachments", DECODE_TABLE, ids=[r[0] for r in DECODE_TABLE])
def test_decode_table_byte_by_byte(name: str, header: str, body: bytes, root: bytes, attachments: dict[str, bytes]) -> None:
    _check(_feed_all(header, body, [body[i : i + 1] for i in range(len(body))]), root, attachments)


@pytest.mark.parametrize("seed", range(20))
def test_decode_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    _name, header, body, root, attachments = DECODE_TABLE[seed % len(DECODE_TABLE)]
    cuts = sorted(rng.sample(range(1, len(body)), k=min(12, len(body) - 1)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=False)]
    _check(_feed_all(header, body, chunks), root, attachments)


# ------------------------------------------------------------------------------------------------
# Encoding: exact bytes, and back


def test_encode_exact_bytes_and_back() -> None:
    parts: list[mtom.AnyPart] = [
        mtom.Part("a@x", "application/octet-stream", b"\x00\x01"),
        mtom.StreamingPart("b@x", "text/plain", 5, lambda: iter([b"he", b"llo"])),
    ]
    encoded = mtom.encode_stream(b"<e/>", parts, action="urn:a", boundary="B", root_cid="r@x")
    body = b"".join(encoded.chunks)
    assert body == (
        b"--B\r\n"
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml";action="urn:a"\r\n'
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <r@x>\r\n\r\n<e/>"
        b"\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
        b"Content-ID: <a@x>\r\n\r\n\x00\x01"
        b"\r\n--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n"
        b"Content-ID: <b@x>\r\n\r\nhello"
        b"\r\n--B--\r\n"
    )
    assert encoded.length == len(body)
    assert encoded.content_type == (
        'multipart/related; boundary="B"; type="application/xop+xml"; start="<r@x>"; '
        'start-info="application/soap+xml";action="urn:a"'
    )
    back = mtom.decode_message(body, mtom.ContentType.parse(encoded.content_type))
    _check(back, b"<e/>", {"a@x": b"\x00\x01", "b@x": b"hello"})


@pytest.mark.parametrize("name,header,body,root,attachments", DECODE_TABLE, ids=[r[0] for r in DECODE_TABLE])
def test_encode_then_decode_table(name: str, header: str, body: bytes, root: bytes, attachments: dict[str, bytes]) -> None:
    parts = [mtom.Part(cid, "application/octet-stream", data) for cid, data in attachments.items()]
    content_type, encoded = mtom.encode_message(root, parts, action="urn:x")
    _check(_feed_all(content_type, encoded, [encoded[i : i + 7] for i in range(0, len(encoded), 7)]), root, attachments)


def test_streaming_part_with_wrong_size_is_refused() -> None:
    encoded = mtom.encode_stream(b"<e/>", [mtom.StreamingPart("a", "x/y", 10, lambda: [b"short"])])
    with pytest.raises(RuntimeError, match="announced"):
        b"".join(encoded.chunks)


# ------------------------------------------------------------------------------------------------
# XOP references


def test_element_content_through_url_encoded_href() -> None:
    xml = (
        b'<d xmlns:xop="http://www.w3.org/2004/08/xop/include">'
        b'<xop:Include href="cid:1.urn%3Auuid%3Aabc%40urn%3Aihe%3Aiti%3Axds-b%3A2007"/></d>'
    )
    att = mtom.Attachment("1.urn:uuid:abc@urn:ihe:iti:xds-b:2007", data=b"doc", size=3)
    assert mtom.element_content(etree.fromstring(xml), {att.content_id: att}) is att


# RFC 2392: the href is percent-decoded once, then compared exactly (case included) with the Content-ID
# header (brackets off, never decoded). (Content-ID header, href, the part it must resolve to or None)
CID_TABLE: list[tuple[str, str, bool]] = [
    ("<a@b>", "cid:a@b", True),
    ("<a@b>", "cid:a%40b", True),
    ("<a@b>", "CID:a@b", True),  # the scheme name is case-insensitive (RFC 3986 §3.1)
    ("a@b", "cid:a@b", True),  # a Content-ID without brackets, as some stacks send it
    ("<a%40b>", "cid:a%2540b", True),
    ("<../x>", "cid:..%2Fx", True),  # an id, never a path
    ("<a@b>", "cid:A@b", False),  # case-sensitive
    ("<a@b>", "cid:a@B", False),
    ("<a@b>", "cid:<a@b>", False),  # brackets belong to the header, not to the URL
    ("<a@b>", "cid:%3Ca@b%3E", False),
    ("<a@b>", "cid:a%2540b", False),  # decoded once only
    ("<a%40b>", "cid:a%40b", False),  # the header is not decoded
    ("<..%2Fx>", "cid:..%2Fx", False),
    ("<a@b>", "cid: a@b", False),
]


def _including(href: str) -> etree._Element:
    element = etree.Element("d")
    mtom.xop_include(element, "placeholder").set("href", href)
    return element


@pytest.mark.parametrize("header,href,matches", CID_TABLE)
def test_cid_href_matches_content_id_exactly(header: str, href: str, matches: bool) -> None:
    att = mtom.Attachment(mtom.content_id(header), data=b"doc", size=3)
    if matches:
        assert mtom.element_content(_including(href), {att.content_id: att}) is att
    else:
        with pytest.raises(SoapFault, match="missing MIME part") as info:
            mtom.element_content(_including(href), {att.content_id: att})
        assert info.value.code is FaultCode.SENDER


@pytest.mark.parametrize("href", ["a@b", "<a@b>", "cid:", "cid:a%zzb", "cid:a%4", "cid:%FF%FE", "http://x/a@b"])
def test_href_that_is_not_a_cid_url_is_a_fault(href: str) -> None:
    with pytest.raises(SoapFault, match=r"cid: URL|UTF-8") as info:
        mtom.element_content(_including(href), {"a@b": mtom.Attachment("a@b", data=b"x", size=1)})
    assert info.value.code is FaultCode.SENDER


def test_parts_whose_content_ids_differ_only_in_case_are_two_parts() -> None:
    body = (
        b"--B\r\nContent-Type: application/xop+xml\r\nContent-ID: <root@x>\r\n\r\n" + ENV + b"\r\n"
        b"--B\r\nContent-ID: <Doc@x>\r\n\r\nupper\r\n--B\r\nContent-ID: <doc@x>\r\n\r\nlower\r\n--B--\r\n"
    )
    message = mtom.decode_message(body, mtom.ContentType.parse('multipart/related; boundary=B; start="<root@x>"'))
    assert {k: v.read() for k, v in message.attachments.items()} == {"Doc@x": b"upper", "doc@x": b"lower"}


def test_element_content_inline_base64_is_hashed() -> None:
    el = etree.fromstring(b"<d>aGVs\n bG8=</d>")
    att = mtom.element_content(el, {})
    assert (att.data, att.size, att.sha1) == (b"hello", 5, hashlib.sha1(b"hello").hexdigest())


@pytest.mark.parametrize(
    "xml,reason",
    [
        (b'<d xmlns:xop="http://www.w3.org/2004/08/xop/include"><xop:Include href="cid:nope"/></d>', "missing MIME part"),
        (b'<d xmlns:xop="http://www.w3.org/2004/08/xop/include"><xop:Include/></d>', "without href"),
        (b"<d>not*base64</d>", "not valid base64"),
    ],
)
def test_element_content_faults(xml: bytes, reason: str) -> None:
    with pytest.raises(SoapFault, match=reason) as info:
        mtom.element_content(etree.fromstring(xml), {})
    assert info.value.code is FaultCode.SENDER


# ------------------------------------------------------------------------------------------------
# Spilling to disk


class FileSpill:
    """A `mtom.Spill` on a file, as the repository's spool files are (the core itself never touches files)."""

    def __init__(self, path: Path) -> None:
        self.path, self.file = path, path.open("wb")

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def close(self) -> None:
        self.file.close()

    def read(self) -> bytes:
        return self.path.read_bytes()

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


def _spiller(tmp_path: Path) -> tuple[list[Path], mtom.SinkFactory]:
    made: list[Path] = []

    def spill() -> FileSpill:
        path = tmp_path / f"spill{len(made)}"
        made.append(path)
        return FileSpill(path)

    return made, lambda cid, ctype: mtom.SpillingSink(cid, ctype, spill=spill, threshold=1000)


def test_large_attachment_spills_small_stays_in_memory(tmp_path: Path) -> None:
    made, factory = _spiller(tmp_path)
    big = bytes(random.Random(1).getrandbits(8) for _ in range(5000))
    content_type, body = mtom.encode_message(ENV, [mtom.Part("big", "a/b", big), mtom.Part("small", "a/b", b"s" * 10)])
    assembler = mtom.MtomAssembler(mtom.ContentType.parse(content_type), sink_factory=factory)
    for i in range(0, len(body), 333):
        assembler.feed(body[i : i + 333])
    assembler.feed_eof()
    message = assembler.result()
    big_att, small_att = message.attachments["big"], message.attachments["small"]
    assert big_att.data is None and isinstance(big_att.spilled, FileSpill) and big_att.spilled.path == made[0]
    assert big_att.read() == big and made[0].read_bytes() == big
    assert big_att.sha1 == hashlib.sha1(big).hexdigest() and big_att.size == 5000
    assert small_att.spilled is None and small_att.data == b"s" * 10
    assert len(made) == 1


def test_memory_budget_spills_once_the_message_holds_enough(tmp_path: Path) -> None:
    """Many parts each under the threshold: once together they pass the message's budget, the next ones
    spill too (a thousand 1 MiB parts would otherwise sit in memory at once)."""
    made: list[Path] = []

    def spill() -> FileSpill:
        made.append(tmp_path / f"spill{len(made)}")
        return FileSpill(made[-1])

    budget = mtom.MemoryBudget(2500)
    parts = {f"p{i}@x": bytes([i]) * 900 for i in range(6)}
    body = b"--B\r\nContent-Type: application/xop+xml\r\nContent-ID: <root@x>\r\n\r\n" + ENV + b"\r\n" + b"".join(
        b"--B\r\nContent-ID: <" + cid.encode() + b">\r\n\r\n" + data + b"\r\n" for cid, data in parts.items()) + b"--B--\r\n"
    assembler = mtom.MtomAssembler(
        mtom.ContentType.parse('multipart/related; boundary=B; start="<root@x>"'),
        sink_factory=lambda cid, ctype: mtom.SpillingSink(cid, ctype, spill=spill, threshold=1000, budget=budget))
    assembler.feed(body)
    assembler.feed_eof()
    message = assembler.result()
    in_memory = [cid for cid, a in message.attachments.items() if a.data is not None]
    assert in_memory == ["p0@x", "p1@x"] and len(made) == 4  # 2 x 900 fit in 2,500; a third would not
    assert {cid: a.read() for cid, a in message.attachments.items()} == parts
    assert budget.used == 1800


def test_truncated_stream_removes_spilled_files(tmp_path: Path) -> None:
    made, factory = _spiller(tmp_path)
    content_type, body = mtom.encode_message(ENV, [mtom.Part("one", "a/b", b"1" * 3000), mtom.Part("two", "a/b", b"2" * 3000)])
    assembler = mtom.MtomAssembler(mtom.ContentType.parse(content_type), sink_factory=factory)
    assembler.feed(body[: len(body) - 1500])
    assert len(made) == 2 and all(p.exists() for p in made)
    with pytest.raises(SoapFault, match="truncated"):
        assembler.feed_eof()
    assert not any(p.exists() for p in made)


def test_sink_limit_is_a_fault() -> None:
    sink = mtom.SpillingSink("c", "a/b", limit=4)
    sink.write(b"1234")
    with pytest.raises(SoapFault, match="larger than the limit"):
        sink.write(b"5")


def test_sink_discard_removes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    sink = mtom.SpillingSink("c", "a/b", spill=lambda: FileSpill(path), threshold=1)
    sink.write(b"12345")
    assert path.exists()
    sink.discard()
    assert not path.exists()


# ------------------------------------------------------------------------------------------------
# Malformed and truncated input: always a Sender fault, never another exception (framing errors of the
# multipart layer itself: test_multipart.py)

GOOD = DECODE_TABLE[0][2]
ROOT_PART = b"--B\r\nContent-Type: application/xop+xml\r\nContent-ID: <root@x>\r\n\r\n<e/>\r\n"
B = ct("B")

MALFORMED: list[tuple[str, str, bytes, str]] = [
    ("truncated inside an attachment", ct(), GOOD[:-60], "truncated"),
    ("closing boundary missing", ct(), GOOD.replace(b"--MIMEBoundary_1--\r\n", b""), "truncated"),
    ("start part missing", ct("B", start="<other@x>"), ROOT_PART + b"--B--", "no MIME part has the start"),
    ("duplicate content id", B, ROOT_PART + b"--B\r\nContent-ID: <root@x>\r\n\r\nx\r\n--B--", "two MIME parts"),
    ("attachment without content id", B, ROOT_PART + b"--B\r\n\r\nx\r\n--B--", "no Content-ID"),
    ("bad base64 part", B, ROOT_PART + b"--B\r\nContent-ID: <a>\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n--B--", "not valid base64"),
    ("incomplete base64 part", B, ROOT_PART + b"--B\r\nContent-ID: <a>\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8\r\n--B--", "incomplete quantum"),
    ("quoted-printable", B, ROOT_PART + b"--B\r\nContent-ID: <a>\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx\r\n--B--", "unsupported Content-Transfer-Encoding"),
    ("root part is not XML", B, b"--B\r\nContent-Type: image/png\r\nContent-ID: <root@x>\r\n\r\nPNG\r\n--B--", "root MIME part has Content-Type"),
]


@pytest.mark.parametrize("name,header,body,reason", MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("byte_by_byte", [False, True])
def test_malformed_input_is_a_sender_fault(name: str, header: str, body: bytes, reason: str, byte_by_byte: bool) -> None:
    chunks = [body[i : i + 1] for i in range(len(body))] if byte_by_byte else [body]
    with pytest.raises(SoapFault, match=reason) as info:
        _feed_all(header, body, chunks)
    assert info.value.code is FaultCode.SENDER and info.value.http_status == 400


@pytest.mark.parametrize(
    "header,reason",
    [
        ("multipart/related; type=\"application/xop+xml\"", "no boundary parameter"),
        ('multipart/related; boundary="B"; type="text/html"', "type parameter"),
        ("application/soap+xml", "expected multipart/related"),
    ],
)
def test_bad_content_type_is_a_fault(header: str, reason: str) -> None:
    with pytest.raises(SoapFault, match=reason):
        mtom.MtomAssembler(mtom.ContentType.parse(header))


def test_root_part_over_its_limit_is_a_fault() -> None:
    content_type, body = mtom.encode_message(b"<e>" + b"x" * 5000 + b"</e>", [])
    with pytest.raises(SoapFault, match="envelope part is larger"):
        mtom.decode_message(body, mtom.ContentType.parse(content_type), max_root_bytes=1000)


def test_too_many_parts_is_a_fault() -> None:
    parts = [mtom.Part(f"p{i}", "a/b", b"x") for i in range(5)]
    content_type, body = mtom.encode_message(b"<e/>", parts)
    assembler = mtom.MtomAssembler(mtom.ContentType.parse(content_type), max_parts=3)
    with pytest.raises(SoapFault, match="more than 3 parts"):
        assembler.feed(body)


def test_fuzz_never_raises_anything_but_a_fault() -> None:
    """Random byte damage to a valid message: a result or a SoapFault, nothing else."""
    rng = random.Random(7)
    header, body = DECODE_TABLE[0][1], DECODE_TABLE[0][2]
    for _ in range(300):
        damaged = bytearray(body)
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            pos = rng.randrange(len(damaged))
            if op < 0.4:
                damaged[pos] = rng.randrange(256)
            elif op < 0.7:
                del damaged[pos : pos + rng.randint(1, 40)]
            else:
                damaged[pos:pos] = rng.choice([b"\r\n", b"--", b"--MIMEBoundary_1", b"\n\n"])
        try:
            _feed_all(header, bytes(damaged), [bytes(damaged[i : i + 13]) for i in range(0, len(damaged), 13)])
        except SoapFault:
            pass


def test_attachment_read_from_its_spill(tmp_path: Path) -> None:
    spill = FileSpill(tmp_path / "a")
    spill.write(b"on disk")
    spill.close()
    assert mtom.Attachment("c", spilled=spill).read() == b"on disk"
    assert mtom.Attachment("c").read() == b""
    assert isinstance(io.BytesIO(b"").read(), bytes)
