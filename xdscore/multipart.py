"""MIME multipart/related reading (RFC 2046 §5.1, RFC 2387), sans-IO: no socket, no file, no XML.

`MultipartReader` is an h11-style parser: feed it bytes as they arrive (`feed`, then `feed_eof`), pull
typed events (`PartStart(headers)`, `PartData`, `PartEnd`, `MessageEnd`, or `NEED_DATA`).
`split_multipart` is the reader fed one whole body. `ContentType` reads a Content-Type header (the
`boundary`, `type` and `start` parameters of RFC 2387) and `parse_headers` a MIME part's header block.
What the parts mean (the XOP root, Content-ID references, transfer encodings, hashing) is
`xdscore.mtom`'s job.

Theory of operation of the reader
---------------------------------
RFC 2046 §5.1.1: a part ends at CRLF "--" boundary; the delimiter line may carry transport padding
(spaces, tabs) before its line end; the final delimiter is followed by "--". Sloppy senders use LF alone,
so the reader looks for LF "--" boundary and drops one CR in front of it. The very first delimiter may
start the body without a line end before it. The preamble and the epilogue are discarded.

While in a part body the reader searches its buffer for the delimiter. When it is not there, everything
but the last `len(delimiter) + 1` bytes is certainly data (a delimiter split across two feeds starts in
that tail), so that much is released as `PartData` and the tail waits for the next feed. The buffer
therefore never holds more than one feed plus the tail, whatever the part size.

Faults: anything that cannot be a valid multipart (no boundary, a header block without its blank line
or above the header limit, garbage after a delimiter, too many parts, input ending before the closing
delimiter) raises `SoapFault(Sender)`. After a fault the reader is dead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from xdscore.errors import FaultCode, SoapFault

DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_MAX_PARTS = 1000
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
        """RFC 2045 §5.1: `type/subtype *(; name=value)`, a value a token or a quoted string.

        Read the way Python's `email` package reads it (a media type without exactly one "/" is the
        RFC 2045 §5.2 default text/plain, a ";" inside quotes does not end a parameter, names lower case,
        quotes and their backslash escapes removed, empty parameters ignored), without building an
        email Message for every HTTP request. RFC 2231 encoded parameters are not decoded: no SOAP
        stack sends them, and the names we read (boundary, type, start, action) never need them."""
        media = header.partition(";")[0].strip().lower()
        if media.count("/") != 1:
            media = "text/plain"
        params: dict[str, str] = {}
        for piece in _parameters(header):
            name, equals, value = piece.strip().partition("=")
            name = name.strip().lower()
            if name:
                params[name] = _value(value.strip()) if equals else ""
        return cls(media, params)

    @property
    def is_multipart(self) -> bool:
        return self.media_type == "multipart/related"


def _parameters(header: str) -> list[str]:
    """The pieces after the media type: the header split at each ";" before which, counted from the
    start of the piece, the quotes that are not escaped are balanced."""
    pieces: list[str] = []
    rest = header
    while True:
        end = rest.find(";")
        while end > 0 and (rest.count('"', 0, end) - rest.count('\\"', 0, end)) % 2:
            end = rest.find(";", end + 1)
        if end < 0:
            pieces.append(rest)
            return pieces[1:]
        pieces.append(rest[:end])
        rest = rest[end + 1:]


def _unquote(value: str) -> str:
    """A quoted string without its quotes and escapes; a bare <...> without its brackets."""
    if len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    if len(value) > 1 and value[0] == "<" and value[-1] == ">":
        return value[1:-1]
    return value


def _value(raw: str) -> str:
    """A parameter value as `email` reads it: unquoted, then quoted and unquoted again (RFC 2231 path)."""
    once = _unquote(raw)
    return _unquote('"' + once.replace("\\", "\\\\").replace('"', '\\"') + '"')


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
            if self._preamble_seen + idx > _MAX_PREAMBLE_BYTES:  # the same answer however the bytes were split
                self._state = _DONE
                raise _fault("multipart body does not contain its boundary")
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

