"""MTOM/XOP packaging of SOAP 1.2 messages (W3C SOAP MTOM, XOP 1.0; ITI TF-2x V.3.6; RFC 2046, 2387, 2392).

Three layers, none of which opens a socket or a file:

- `MultipartReader`: an h11-style `multipart/related` parser. Feed it bytes as they arrive, pull typed
  events (`PartStart`, `PartData`, `PartEnd`, `MessageEnd`, or `NEED_DATA`).
- `MtomAssembler`: drives the reader. It keeps the root part (the SOAP envelope) in memory under a limit,
  and hands every attachment to an `AttachmentSink` that hashes the bytes (SHA-1) and counts them as they
  pass. `SpillingSink` keeps small attachments in memory and moves big ones to a file object that the
  *caller* provides (the repository gives a temporary file beside its blob store), so memory stays flat
  whatever the document size.
- `encode_stream` / `encode_message`: build an MTOM message from the envelope and parts. Parts are either
  bytes (`Part`) or lazily read chunks (`StreamingPart`), so a response can stream documents from disk.

`decode_message` (whole body in memory) is the assembler fed in one call. `cid:` hrefs are URL-decoded
before they are matched against Content-ID headers (RFC 2392; NIST test PnrXop/encodedURL). A document
inlined as base64 instead of an xop:Include is accepted too (NIST test PnrXop/NoXop).

Theory of operation of the reader
---------------------------------
RFC 2046 §5.1.1: a part ends at CRLF "--" boundary; the delimiter line may carry transport padding
(spaces, tabs) before its line end; the final delimiter is followed by "--". Sloppy senders use LF alone,
so the reader looks for LF "--" boundary and drops one CR in front of it. The very first delimiter may
start the body without a line end before it.

While in a part body the reader searches its buffer for the delimiter. When it is not there, everything
but the last `len(delimiter) + 1` bytes is certainly data (a delimiter split across two feeds starts in
that tail), so that much is released as `PartData` and the tail waits for the next feed. The buffer
therefore never holds more than one feed plus the tail, whatever the part size.

Faults: anything that cannot be a valid multipart (no boundary, a header block without its blank line
or above the header limit, garbage after a delimiter, input ending before the closing delimiter) raises
`SoapFault(Sender)`. After a fault the reader is dead; the assembler discards what its sinks held.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import unquote

from lxml import etree

from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS

XOP_INCLUDE = f"{{{NS.XOP}}}Include"
XOP_MEDIA_TYPE = "application/xop+xml"
SOAP12_MEDIA_TYPE = "application/soap+xml"

DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_MAX_PARTS = 1000
DEFAULT_MAX_ROOT_BYTES = 64 * 1024 * 1024
DEFAULT_SPILL_THRESHOLD = 1024 * 1024
# Preamble and transport padding are discarded; they may not grow without bound either.
_MAX_PREAMBLE_BYTES = 64 * 1024
_MAX_DELIMITER_LINE = 1024


def _fault(reason: str) -> SoapFault:
    return SoapFault(FaultCode.SENDER, reason)


@dataclass(frozen=True)
class ContentType:
    """A parsed Content-Type header: media type (lower case) and its parameters (names lower case)."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, header: str) -> ContentType:
        msg = Message()
        msg["content-type"] = header
        media = msg.get_content_type().lower()
        params: dict[str, str] = {}
        for key, value in msg.get_params(failobj=[], header="content-type")[1:]:
            params[key.lower()] = str(value)
        return cls(media, params)

    @property
    def is_multipart(self) -> bool:
        return self.media_type == "multipart/related"


@dataclass
class Attachment:
    """One MIME part referenced from the XML by Content-ID: in memory (`data`) or on disk (`path`)."""

    content_id: str
    content_type: str = "application/octet-stream"
    data: bytes | None = None
    path: Path | None = None
    size: int = 0
    sha1: str | None = None  # hex, lower case; set by the sinks while the bytes pass

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is not None:
            return self.path.read_bytes()
        return b""


@dataclass
class MtomMessage:
    root: bytes  # the SOAP envelope (application/xop+xml part)
    attachments: dict[str, Attachment]


def normalize_cid(value: str) -> str:
    """Content-ID header `<x@y>` or href `cid:x%40y` → `x@y`."""
    value = value.strip()
    if value.lower().startswith("cid:"):
        value = unquote(value[4:])
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def parse_headers(block: bytes) -> dict[str, str]:
    """MIME part headers (names lower case); folded lines joined; LF-only line ends accepted."""
    headers: dict[str, str] = {}
    last: str | None = None
    for line in block.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.strip():
            continue
        if line[:1] in (b" ", b"\t") and last:  # folded header
            headers[last] += " " + line.strip().decode("latin-1")
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise _fault(f"malformed MIME part header line {line[:80]!r}")
        last = name.strip().decode("latin-1").lower()
        headers[last] = value.strip().decode("latin-1")
    return headers


# --------------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True)
class PartStart:
    headers: dict[str, str]


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


@dataclass(frozen=True)
class MessageEnd:
    pass


class NeedData:
    """Sentinel: feed more bytes (or `feed_eof`) before asking again."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()
Event = PartStart | PartData | PartEnd | MessageEnd

_PREAMBLE, _DELIMITER_LINE, _HEADERS, _BODY, _DONE = range(5)


class MultipartReader:
    """Sans-IO `multipart/related` reader: `feed(bytes)`, then `next_event()` until `NEED_DATA`."""

    def __init__(
        self,
        boundary: str,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_parts: int = DEFAULT_MAX_PARTS,
    ) -> None:
        if not boundary or len(boundary) > 200:
            raise _fault("multipart/related boundary is missing or longer than 200 characters")
        self._delimiter = b"--" + boundary.encode("latin-1")
        self._lf_delimiter = b"\n" + self._delimiter
        # Bytes that may be the start of a delimiter split across feeds: CR LF "--" boundary, minus one.
        self._keep = len(self._delimiter) + 1
        self._buf = bytearray()
        self._state = _PREAMBLE
        self._eof = False
        self._max_header_bytes = max_header_bytes
        self._max_parts = max_parts
        self._parts = 0
        self._preamble_seen = 0

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> None:
        if self._eof:
            raise RuntimeError("feed() after feed_eof()")
        if self._state != _DONE:  # the epilogue is ignored
            self._buf += data

    def feed_eof(self) -> None:
        self._eof = True

    def events(self) -> Iterator[Event]:
        """Every event available now (stops at NEED_DATA or after MessageEnd)."""
        while True:
            event = self.next_event()
            if isinstance(event, NeedData):
                return
            yield event
            if isinstance(event, MessageEnd):
                return

    def next_event(self) -> Event | NeedData:
        if self._state == _PREAMBLE:
            return self._preamble()
        if self._state == _DELIMITER_LINE:
            return self._delimiter_line()
        if self._state == _HEADERS:
            return self._headers()
        if self._state == _BODY:
            return self._body()
        return NEED_DATA

    def _need(self, what: str) -> NeedData:
        if self._eof:
            self._state = _DONE
            raise _fault(f"multipart body is truncated: input ended {what}")
        return NEED_DATA

    def _preamble(self) -> Event | NeedData:
        buf = self._buf
        if buf.startswith(self._delimiter):
            del buf[: len(self._delimiter)]
        else:
            idx = buf.find(self._lf_delimiter)
            if idx < 0:
                drop = max(0, len(buf) - self._keep)
                self._preamble_seen += drop
                del buf[:drop]
                if self._preamble_seen > _MAX_PREAMBLE_BYTES or (self._eof and buf):
                    self._state = _DONE
                    raise _fault("multipart body does not contain its boundary")
                return self._need("before the first boundary")
            del buf[: idx + len(self._lf_delimiter)]
        self._state = _DELIMITER_LINE
        return self._delimiter_line()

    def _delimiter_line(self) -> Event | NeedData:
        buf = self._buf
        if len(buf) < 2:
            return self._need("inside a boundary line")
        if buf[:2] == b"--":
            self._state = _DONE
            buf.clear()
            if self._parts == 0:
                raise _fault("multipart message has no parts")
            return MessageEnd()
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > _MAX_DELIMITER_LINE:
                self._state = _DONE
                raise _fault("malformed multipart boundary line")
            return self._need("inside a boundary line")
        if buf[:nl].strip(b" \t\r"):
            self._state = _DONE
            raise _fault("malformed multipart boundary line: unexpected text after the boundary")
        del buf[: nl + 1]
        self._parts += 1
        if self._parts > self._max_parts:
            self._state = _DONE
            raise _fault(f"multipart message has more than {self._max_parts} parts")
        self._state = _HEADERS
        return self._headers()

    def _headers(self) -> Event | NeedData:
        buf = self._buf
        if buf.startswith(b"\r\n"):
            end, skip = 0, 2
        elif buf.startswith(b"\n"):
            end, skip = 0, 1
        else:
            candidates = [(i, n) for i, n in ((buf.find(b"\n\r\n"), 3), (buf.find(b"\n\n"), 2)) if i >= 0]
            if not candidates:
                if len(buf) > self._max_header_bytes:
                    self._state = _DONE
                    raise _fault(f"MIME part headers are longer than {self._max_header_bytes} bytes")
                return self._need("inside MIME part headers")
            end, skip = min(candidates)
            end += 1  # keep the line end of the last header inside the block
        if end > self._max_header_bytes:
            self._state = _DONE
            raise _fault(f"MIME part headers are longer than {self._max_header_bytes} bytes")
        try:
            headers = parse_headers(bytes(buf[:end]))
        except SoapFault:
            self._state = _DONE
            raise
        del buf[: end - (1 if end else 0) + skip]
        self._state = _BODY
        return PartStart(headers)

    def _body(self) -> Event | NeedData:
        buf = self._buf
        idx = buf.find(self._lf_delimiter)
        if idx >= 0:
            end = idx - 1 if idx > 0 and buf[idx - 1] == 0x0D else idx
            if end > 0:
                data = bytes(memoryview(buf)[:end])
                del buf[:end]
                return PartData(data)
            # Only the line end and the delimiter are left in front: the part is complete.
            del buf[: idx + len(self._lf_delimiter) - end]
            self._state = _DELIMITER_LINE
            return PartEnd()
        release = len(buf) - self._keep
        if release > 0:
            data = bytes(memoryview(buf)[:release])
            del buf[:release]
            return PartData(data)
        return self._need("inside a MIME part (closing boundary missing)")


def split_multipart(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a whole multipart body into (headers, content) parts; tolerant of LF-only line ends."""
    reader = MultipartReader(boundary)
    reader.feed(body)
    reader.feed_eof()
    parts: list[tuple[dict[str, str], bytes]] = []
    chunks: list[bytes] = []
    headers: dict[str, str] = {}
    for event in reader.events():
        if isinstance(event, PartStart):
            headers, chunks = event.headers, []
        elif isinstance(event, PartData):
            chunks.append(event.data)
        elif isinstance(event, PartEnd):
            parts.append((headers, b"".join(chunks)))
    if not reader.done:
        raise _fault("multipart body is truncated: closing boundary missing")
    return parts


# --------------------------------------------------------------------------------------------------
# Sinks: where attachment bytes go while they are hashed


class AttachmentSink(Protocol):
    def write(self, data: bytes) -> None: ...

    def finish(self) -> Attachment: ...

    def discard(self) -> None: ...


class SpillingSink:
    """Hash and count an attachment; keep it in memory up to `threshold` bytes, then spill.

    `spill` is called once, when the threshold is crossed, and returns an open binary file object and
    its path; the sink writes the rest there and closes it in `finish`. With `spill=None` everything
    stays in memory (up to `limit`). The caller owns the file afterwards (`Attachment.path`).
    """

    def __init__(
        self,
        content_id: str,
        content_type: str,
        spill: Callable[[], tuple[IO[bytes], Path]] | None = None,
        threshold: int = DEFAULT_SPILL_THRESHOLD,
        limit: int | None = None,
    ) -> None:
        self.content_id = content_id
        self.content_type = content_type
        self._spill = spill
        self._threshold = threshold
        self._limit = limit
        self._sha1 = hashlib.sha1()
        self._size = 0
        self._memory: list[bytes] = []
        self._file: IO[bytes] | None = None
        self._path: Path | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._size += len(data)
        if self._limit is not None and self._size > self._limit:
            raise _fault(f"MIME part cid:{self.content_id} is larger than the limit of {self._limit} bytes")
        self._sha1.update(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._memory.append(data)
        if self._spill is not None and self._size > self._threshold:
            self._file, self._path = self._spill()
            for piece in self._memory:
                self._file.write(piece)
            self._memory = []

    def finish(self) -> Attachment:
        attachment = Attachment(self.content_id, self.content_type, size=self._size, sha1=self._sha1.hexdigest())
        if self._file is not None:
            self._file.close()
            attachment.path = self._path
        else:
            attachment.data = b"".join(self._memory)
        return attachment

    def discard(self) -> None:
        self._memory = []
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None


SinkFactory = Callable[[str, str], AttachmentSink]  # (content_id, content_type) -> sink


class _Base64Stream:
    """Decode a base64 Content-Transfer-Encoding chunk by chunk (whitespace and line ends ignored)."""

    _WS = bytes.maketrans(b"", b"")

    def __init__(self) -> None:
        self._rest = b""

    def decode(self, data: bytes) -> bytes:
        data = self._rest + data.translate(self._WS, b" \t\r\n")
        cut = len(data) - len(data) % 4
        self._rest = data[cut:]
        return self._b64(data[:cut])

    def flush(self) -> bytes:
        rest, self._rest = self._rest, b""
        if rest:
            raise _fault("base64 MIME part ends with an incomplete quantum")
        return b""

    @staticmethod
    def _b64(data: bytes) -> bytes:
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error:
            raise _fault("MIME part is not valid base64") from None


class MtomAssembler:
    """Turn a stream of multipart/related bytes into the root SOAP part and hashed attachments."""

    def __init__(
        self,
        content_type: ContentType,
        sink_factory: SinkFactory | None = None,
        max_root_bytes: int = DEFAULT_MAX_ROOT_BYTES,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_parts: int = DEFAULT_MAX_PARTS,
    ) -> None:
        if not content_type.is_multipart:
            raise _fault(f"expected multipart/related, got {content_type.media_type}")
        boundary = content_type.params.get("boundary")
        if not boundary:
            raise _fault("multipart/related Content-Type has no boundary parameter")
        root_type = content_type.params.get("type", XOP_MEDIA_TYPE).strip().lower()
        if root_type not in (XOP_MEDIA_TYPE, SOAP12_MEDIA_TYPE):
            raise _fault(f"multipart/related type parameter {root_type!r} is neither {XOP_MEDIA_TYPE} nor {SOAP12_MEDIA_TYPE}")
        start = content_type.params.get("start")
        self._start = normalize_cid(start) if start else None
        self._reader = MultipartReader(boundary, max_header_bytes, max_parts)
        self._sink_factory = sink_factory or (lambda cid, ctype: SpillingSink(cid, ctype))
        self._max_root_bytes = max_root_bytes
        self._root: list[bytes] | None = None
        self._root_size = 0
        self._in_root = False
        self._sink: AttachmentSink | None = None
        self._b64: _Base64Stream | None = None
        self._attachments: dict[str, Attachment] = {}
        self._seen_cids: set[str] = set()
        self._first = True
        self._failed = False

    def feed(self, data: bytes) -> None:
        self._guard()
        try:
            self._reader.feed(data)
            self._drain()
        except BaseException:
            self.abort()
            raise

    def feed_eof(self) -> None:
        self._guard()
        try:
            self._reader.feed_eof()
            self._drain()
            if not self._reader.done:
                raise _fault("multipart body is truncated: closing boundary missing")
        except BaseException:
            self.abort()
            raise

    def result(self) -> MtomMessage:
        if self._root is None:
            self.abort()
            wanted = f"the start Content-ID <{self._start}>" if self._start else "a root part"
            raise _fault(f"no MIME part has {wanted}")
        return MtomMessage(root=b"".join(self._root), attachments=self._attachments)

    def abort(self) -> None:
        """Discard everything the sinks hold (spilled files included)."""
        self._failed = True
        if self._sink is not None:
            self._sink.discard()
            self._sink = None
        for attachment in self._attachments.values():
            if attachment.path is not None:
                attachment.path.unlink(missing_ok=True)
        self._attachments = {}

    def _guard(self) -> None:
        if self._failed:
            raise RuntimeError("MtomAssembler used after a failure")

    def _drain(self) -> None:
        for event in self._reader.events():
            if isinstance(event, PartStart):
                self._start_part(event.headers)
            elif isinstance(event, PartData):
                self._data(event.data)
            elif isinstance(event, PartEnd):
                self._end_part()

    def _start_part(self, headers: dict[str, str]) -> None:
        cid = normalize_cid(headers.get("content-id", ""))
        if cid and cid in self._seen_cids:
            raise _fault(f"two MIME parts have the Content-ID <{cid}>")
        self._seen_cids.add(cid)
        is_root = (cid == self._start) if self._start else self._first
        self._first = False
        encoding = headers.get("content-transfer-encoding", "binary").strip().lower()
        if encoding == "base64":
            self._b64 = _Base64Stream()
        elif encoding in ("binary", "8bit", "7bit", ""):
            self._b64 = None
        else:
            raise _fault(f"unsupported Content-Transfer-Encoding {encoding!r} in MIME part <{cid}>")
        ctype = headers.get("content-type", "application/octet-stream")
        if is_root:
            media = ContentType.parse(ctype).media_type
            if media not in (XOP_MEDIA_TYPE, SOAP12_MEDIA_TYPE, "text/xml", "application/xml"):
                raise _fault(f"the root MIME part has Content-Type {media}, not {XOP_MEDIA_TYPE}")
            self._root, self._in_root = [], True
        else:
            if not cid:
                raise _fault("a MIME attachment part has no Content-ID")
            self._in_root = False
            self._sink = self._sink_factory(cid, ctype)

    def _data(self, data: bytes) -> None:
        if self._b64 is not None:
            data = self._b64.decode(data)
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self._in_root:
            assert self._root is not None
            self._root_size += len(data)
            if self._root_size > self._max_root_bytes:
                raise _fault(f"the SOAP envelope part is larger than the limit of {self._max_root_bytes} bytes")
            self._root.append(data)
        elif self._sink is not None:
            self._sink.write(data)

    def _end_part(self) -> None:
        if self._b64 is not None:
            self._write(self._b64.flush())
            self._b64 = None
        if self._in_root:
            self._in_root = False
        elif self._sink is not None:
            attachment = self._sink.finish()
            self._sink = None
            self._attachments[attachment.content_id] = attachment


def decode_message(body: bytes, content_type: ContentType, max_root_bytes: int = DEFAULT_MAX_ROOT_BYTES) -> MtomMessage:
    """Split a whole multipart/related message into the root part and (in-memory) attachments."""
    assembler = MtomAssembler(content_type, max_root_bytes=max_root_bytes)
    assembler.feed(body)
    assembler.feed_eof()
    return assembler.result()


# --------------------------------------------------------------------------------------------------
# XOP references inside the envelope


def include_href(element: etree._Element) -> str | None:
    """The normalized Content-ID an element refers to through xop:Include, or None if inline."""
    inc = element.find(XOP_INCLUDE)
    if inc is None:
        return None
    href = inc.get("href")
    if not href:
        raise _fault("xop:Include without href")
    return normalize_cid(href)


def inline_content(element: etree._Element) -> bytes:
    """The bytes of an element holding inline base64 (xs:base64Binary, whitespace allowed)."""
    text = "".join((element.text or "").split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fault("element content is not valid base64") from None


def element_content(element: etree._Element, attachments: dict[str, Attachment]) -> Attachment:
    """The bytes an element carries, through xop:Include or inline base64 (hashed like a part)."""
    cid = include_href(element)
    if cid is None:
        data = inline_content(element)
        return Attachment(content_id="", data=data, size=len(data), sha1=hashlib.sha1(data).hexdigest())
    found = attachments.get(cid)
    if found is None:
        raise _fault(f"xop:Include refers to a missing MIME part cid:{cid}")
    return found


def new_content_id() -> str:
    return f"{uuid.uuid4().hex}@pyxds"


def xop_include(parent: etree._Element, content_id: str) -> etree._Element:
    """Append `<xop:Include href="cid:...">` to `parent` (the content ID is URL-safe as generated)."""
    inc = etree.SubElement(parent, XOP_INCLUDE, nsmap={"xop": NS.XOP})
    inc.set("href", f"cid:{content_id}")
    return inc


# --------------------------------------------------------------------------------------------------
# Encoding


@dataclass(frozen=True)
class Part:
    content_id: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class StreamingPart:
    """An attachment sent from chunks produced on demand (for example a file read piece by piece)."""

    content_id: str
    content_type: str
    size: int
    chunks: Callable[[], Iterable[bytes]]


AnyPart = Part | StreamingPart


@dataclass(frozen=True)
class EncodedMessage:
    content_type: str  # the HTTP Content-Type header value
    length: int  # the exact body length, so the HTTP layer can send Content-Length
    chunks: Iterator[bytes]


def encode_stream(
    envelope: bytes,
    parts: Iterable[AnyPart],
    action: str | None = None,
    boundary: str | None = None,
    root_cid: str | None = None,
) -> EncodedMessage:
    """Build an MTOM message lazily: framing, envelope and parts are yielded in order."""
    boundary = boundary or f"MIMEBoundary_{uuid.uuid4().hex}"
    root_cid = root_cid or f"root.{uuid.uuid4().hex}@pyxds"
    action_param = f';action="{action}"' if action else ""
    head = (
        f"--{boundary}\r\n"
        f'Content-Type: {XOP_MEDIA_TYPE}; charset=UTF-8; type="{SOAP12_MEDIA_TYPE}"{action_param}\r\n'
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{root_cid}>\r\n\r\n"
    ).encode()
    part_list = list(parts)
    framed: list[tuple[bytes, AnyPart]] = []
    length = len(head) + len(envelope)
    for p in part_list:
        frame = (
            f"\r\n--{boundary}\r\n"
            f"Content-Type: {p.content_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{p.content_id}>\r\n\r\n"
        ).encode()
        framed.append((frame, p))
        length += len(frame) + (len(p.data) if isinstance(p, Part) else p.size)
    tail = f"\r\n--{boundary}--\r\n".encode()
    length += len(tail)
    header = (
        f'multipart/related; boundary="{boundary}"; type="{XOP_MEDIA_TYPE}"; '
        f'start="<{root_cid}>"; start-info="{SOAP12_MEDIA_TYPE}"' + action_param
    )

    def generate() -> Iterator[bytes]:
        yield head + envelope
        for frame, p in framed:
            yield frame
            if isinstance(p, Part):
                yield p.data
                continue
            sent = 0
            for chunk in p.chunks():
                sent += len(chunk)
                yield chunk
            if sent != p.size:  # the Content-Length already promised would be wrong
                raise RuntimeError(f"part <{p.content_id}> produced {sent} bytes, {p.size} announced")
        yield tail

    return EncodedMessage(header, length, generate())


def encode_message(envelope: bytes, parts: Iterable[AnyPart], action: str | None = None) -> tuple[str, bytes]:
    """Build a whole MTOM message in memory; returns (Content-Type header value, body)."""
    encoded = encode_stream(envelope, parts, action)
    return encoded.content_type, b"".join(encoded.chunks)
