"""multipart/related reader (xdscore.multipart): tables of exact bytes read whole, byte by byte and at
random split points; bounded memory for a large part; every malformed input answered with a SOAP Fault.
What MTOM makes of the parts (root, Content-IDs, transfer encodings) is tested in test_mtom.py."""

from __future__ import annotations

import hashlib
import random

import pytest

from xdscore import multipart
from xdscore.errors import FaultCode, SoapFault
from xdscore.multipart import (
    NEED_DATA,
    ContentType,
    MessageEnd,
    MultipartReader,
    PartData,
    PartEnd,
    PartStart,
)

BINARY = bytes(range(256)) * 3 + b"\r\n--MIMEBoundary\r\n--MIMEBoundar"  # looks like a boundary, is not one
Parts = list[tuple[dict[str, str], bytes]]

# (name, boundary, body, expected parts as (headers, content))
READ_TABLE: list[tuple[str, str, bytes, Parts]] = [
    (
        "CRLF, two parts, binary content that nearly contains the boundary",
        "MIMEBoundary_1",
        b"--MIMEBoundary_1\r\nContent-Type: application/xop+xml\r\nContent-ID: <root@x>\r\n\r\n<e/>\r\n"
        b"--MIMEBoundary_1\r\nContent-ID: <a@x>\r\n\r\n" + BINARY + b"\r\n--MIMEBoundary_1--\r\n",
        [({"content-type": "application/xop+xml", "content-id": "<root@x>"}, b"<e/>"), ({"content-id": "<a@x>"}, BINARY)],
    ),
    (
        "LF-only line ends, preamble, transport padding, epilogue with a boundary in it",
        "b",
        b"preamble\n--b \t\nContent-ID: <1>\n\none\n--b\nContent-ID: <2>\n\ntwo\n--b--\nepilogue\n--b\nignored",
        [({"content-id": "<1>"}, b"one"), ({"content-id": "<2>"}, b"two")],
    ),
    (
        "folded header, content ending in CR, empty part, part without headers",
        "b",
        (
            b"--b\r\nContent-Type: text/plain;\r\n charset=UTF-8\r\n\r\nends with CR\r\r\n"
            b"--b\r\nContent-ID: <empty>\r\n\r\n\r\n--b\r\n\r\nno headers\r\n--b--"
        ),
        [
            ({"content-type": "text/plain; charset=UTF-8"}, b"ends with CR\r"),
            ({"content-id": "<empty>"}, b""),
            ({}, b"no headers"),
        ],
    ),
    (
        "CRLF preamble before the first delimiter; no line end after the closing one",
        "B",
        b"\r\n--B\r\nX-A: 1\r\n\r\n--B-- is data\r\n--B--",
        [({"x-a": "1"}, b"--B-- is data")],
    ),
]


def read(boundary: str, chunks: list[bytes], **limits: int) -> Parts:
    """Feed the chunks one by one, pulling events after each, and rebuild the parts; checks event order."""
    reader = MultipartReader(boundary, **limits)
    parts: Parts = []
    events: list[object] = []
    for chunk in chunks:
        reader.feed(chunk)
        events += reader.events()
    reader.feed_eof()
    events += reader.events()
    assert reader.done and isinstance(events[-1], MessageEnd)
    current: tuple[dict[str, str], list[bytes]] | None = None
    for event in events[:-1]:
        if isinstance(event, PartStart):
            assert current is None
            current = (event.headers, [])
        elif isinstance(event, PartData):
            assert current is not None and event.data
            current[1].append(event.data)
        else:
            assert isinstance(event, PartEnd) and current is not None
            parts.append((current[0], b"".join(current[1])))
            current = None
    return parts


@pytest.mark.parametrize("name,boundary,body,parts", READ_TABLE, ids=[r[0] for r in READ_TABLE])
def test_read_table_whole(name: str, boundary: str, body: bytes, parts: Parts) -> None:
    assert read(boundary, [body]) == parts
    assert multipart.split_multipart(body, boundary) == parts


@pytest.mark.parametrize("name,boundary,body,parts", READ_TABLE, ids=[r[0] for r in READ_TABLE])
def test_read_table_byte_by_byte(name: str, boundary: str, body: bytes, parts: Parts) -> None:
    assert read(boundary, [body[i : i + 1] for i in range(len(body))]) == parts


@pytest.mark.parametrize("seed", range(12))
def test_read_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    _name, boundary, body, parts = READ_TABLE[seed % len(READ_TABLE)]
    cuts = sorted(rng.sample(range(1, len(body)), k=min(12, len(body) - 1)))
    assert read(boundary, [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=False)]) == parts


def test_reader_events_in_order() -> None:
    reader = MultipartReader("b")
    reader.feed(b"--b\r\nContent-ID: <1>\r\n\r\nab")
    assert list(reader.events()) == [PartStart({"content-id": "<1>"})]
    assert reader.next_event() is NEED_DATA  # "ab" could still be the start of CRLF--b
    reader.feed(b"cdefgh\r\n--b--")
    reader.feed_eof()
    events = list(reader.events())
    assert b"".join(e.data for e in events if isinstance(e, PartData)) == b"abcdefgh"
    assert events[-2:] == [PartEnd(), MessageEnd()]
    assert reader.done


def test_reader_buffer_stays_bounded_for_a_large_part() -> None:
    """Memory stays flat: each PartData is at most one feed plus the delimiter tail."""
    boundary = "MIMEBoundary_" + "f" * 32
    reader = MultipartReader(boundary)
    reader.feed(f"--{boundary}\r\nContent-ID: <big>\r\n\r\n".encode())
    block = bytes(range(256)) * 256  # 64 KiB
    sha, total, largest = hashlib.sha1(), 0, 0
    for _ in range(400):  # 25 MiB
        reader.feed(block)
        for event in reader.events():
            if isinstance(event, PartData):
                sha.update(event.data)
                total += len(event.data)
                largest = max(largest, len(event.data))
        assert len(reader._buf) <= len(block) + len(boundary) + 4
    reader.feed(f"\r\n--{boundary}--\r\n".encode())
    reader.feed_eof()
    for event in reader.events():
        if isinstance(event, PartData):
            sha.update(event.data)
            total += len(event.data)
    assert total == 400 * len(block)
    assert sha.hexdigest() == hashlib.sha1(block * 400).hexdigest()
    assert largest <= len(block) + len(boundary) + 3


def test_feed_after_eof_is_a_programming_error() -> None:
    reader = MultipartReader("b")
    reader.feed_eof()
    with pytest.raises(RuntimeError):
        reader.feed(b"--b")


# ------------------------------------------------------------------------------------------------
# Malformed and truncated input: always a Sender fault, never another exception

PART = b"--B\r\nContent-ID: <1>\r\n\r\nx\r\n"

# (name, body, reason, reader limits)
MALFORMED: list[tuple[str, bytes, str, dict[str, int]]] = [
    ("truncated inside a part", PART[:-4], "truncated", {}),
    ("closing boundary missing", PART, "truncated", {}),
    ("truncated in part headers", b"--B\r\nContent-ID: <1>\r\nContent-Ty", "truncated", {}),
    ("truncated in the boundary line", b"--B", "truncated", {}),
    ("empty body", b"", "truncated", {}),
    ("boundary never appears", b"just some text, no multipart at all", "does not contain its boundary", {}),
    ("preamble over its limit", b"x" * 70_000 + b"\r\n" + PART + b"--B--", "does not contain its boundary", {}),
    ("text after a boundary", PART.replace(b"--B\r\n", b"--Bogus\r\n"), "malformed multipart boundary line", {}),
    ("boundary line without end", b"--B" + b" " * 2000, "malformed multipart boundary line", {}),
    ("header line without a colon", b"--B\r\nthis is not a header\r\n\r\nx\r\n--B--", "malformed MIME part header", {}),
    ("headers without end", b"--B\r\nX-Filler: " + b"a" * 20000, "headers are longer", {}),
    ("headers over a small limit", b"--B\r\nX-Filler: " + b"a" * 200 + b"\r\n\r\nx\r\n--B--", "headers are longer", {"max_header_bytes": 100}),
    ("no parts at all", b"--B--\r\n", "no parts", {}),
    ("too many parts", PART * 4 + b"--B--", "more than 3 parts", {"max_parts": 3}),
]


@pytest.mark.parametrize("name,body,reason,limits", MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("byte_by_byte", [False, True])
def test_malformed_input_is_a_sender_fault(name: str, body: bytes, reason: str, limits: dict[str, int], byte_by_byte: bool) -> None:
    chunks = [body[i : i + 1] for i in range(len(body))] if byte_by_byte else [body]
    with pytest.raises(SoapFault, match=reason) as info:
        read("B", chunks, **limits)
    assert info.value.code is FaultCode.SENDER and info.value.http_status == 400


@pytest.mark.parametrize("boundary", ["", "x" * 201])
def test_unusable_boundary_is_a_fault(boundary: str) -> None:
    with pytest.raises(SoapFault, match="boundary is missing or longer"):
        MultipartReader(boundary)


def test_reader_is_dead_after_a_fault() -> None:
    reader = MultipartReader("B")
    reader.feed(b"--Bogus\r\n")
    with pytest.raises(SoapFault):
        reader.next_event()
    assert reader.done and reader.next_event() is NEED_DATA


def test_fuzz_never_raises_anything_but_a_fault() -> None:
    """Random byte damage to a valid message: parts or a SoapFault, nothing else."""
    rng = random.Random(11)
    _name, boundary, body, _parts = READ_TABLE[0]
    for _ in range(300):
        damaged = bytearray(body)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(damaged))
            op = rng.random()
            if op < 0.4:
                damaged[pos] = rng.randrange(256)
            elif op < 0.7:
                del damaged[pos : pos + rng.randint(1, 40)]
            else:
                damaged[pos:pos] = rng.choice([b"\r\n", b"--", b"--" + boundary.encode(), b"\n\n"])
        try:
            read(boundary, [bytes(damaged[i : i + 13]) for i in range(0, len(damaged), 13)])
        except SoapFault:
            pass


# ------------------------------------------------------------------------------------------------
# Headers

# (Content-Type header, media type, parameters)
CONTENT_TYPES: list[tuple[str, str, dict[str, str]]] = [
    (
        'Multipart/Related; boundary="MIMEBoundary_1"; type="application/xop+xml"; start="<root@x>"; start-info="application/soap+xml"',
        "multipart/related",
        {"boundary": "MIMEBoundary_1", "type": "application/xop+xml", "start": "<root@x>", "start-info": "application/soap+xml"},
    ),
    ("multipart/related;BOUNDARY=b;Type=application/xop+xml", "multipart/related", {"boundary": "b", "type": "application/xop+xml"}),
    (
        'application/soap+xml; charset=UTF-8; action="urn:ihe:iti:2007:RetrieveDocumentSet"',
        "application/soap+xml",
        {"charset": "UTF-8", "action": "urn:ihe:iti:2007:RetrieveDocumentSet"},
    ),
    ("", "text/plain", {}),  # RFC 2045 §5.2 default
]


@pytest.mark.parametrize("header,media_type,params", CONTENT_TYPES)
def test_content_type_parse(header: str, media_type: str, params: dict[str, str]) -> None:
    parsed = ContentType.parse(header)
    assert (parsed.media_type, parsed.params) == (media_type, params)
    assert parsed.is_multipart is (media_type == "multipart/related")


def test_parse_headers_folds_lowercases_and_strips() -> None:
    block = b"Content-Type: application/xop+xml;\r\n\tcharset=UTF-8\nCONTENT-ID:  <a@b> \r\n"
    assert multipart.parse_headers(block) == {"content-type": "application/xop+xml; charset=UTF-8", "content-id": "<a@b>"}


def test_names_stay_importable_from_mtom() -> None:
    from xdscore import mtom

    assert mtom.MultipartReader is MultipartReader and mtom.ContentType is ContentType and mtom.NEED_DATA is NEED_DATA


def _with_email(header: str) -> tuple[str, dict[str, str]]:
    """What Python's email package reads in a Content-Type header (the reference ContentType.parse follows)."""
    from email.message import Message

    msg = Message()
    msg["content-type"] = header
    params = {k.lower(): str(v) for k, v in msg.get_params(failobj=[], header="content-type")[1:] if k.strip()}
    return msg.get_content_type().lower(), params


def test_content_type_parse_reads_what_the_email_package_reads() -> None:
    import random

    headers = [h for h, _, _ in CONTENT_TYPES] + [
        'multipart/related; boundary="a;b"; type="application/xop+xml"; start="<root.message@cxf.apache.org>"',
        'multipart/related; boundary=uuid:0f4a; start=<rootpart@soapui.org>; start-info="application/soap+xml"',
        'application/soap+xml;charset=utf-8;action="urn:ihe:iti:2007:RegisterDocumentSet-b"',
        'multipart/related; boundary="x\\"y"; type=application/xop+xml', "text", "a/b/c", " TEXT/XML ; charset = UTF-8 ",
        'multipart/related; boundary=MIMEBoundary_a; novalue; ;;', 'x/y; a="unterminated; b=c',
    ]
    rng = random.Random(17)
    alphabet = 'ab/;="\\<> \t=xyz'
    headers += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for header in headers:
        parsed = ContentType.parse(header)
        assert (parsed.media_type, parsed.params) == _with_email(header), header
