"""Syslog codec for ATNA (ITI TF-2a 3.20.4.1.1; RFC 5424 message format, RFC 5425 TLS framing, RFC 5426 UDP).

`encode` / `decode` turn a `SyslogMessage` into RFC 5424 bytes and back. `atna_message` builds the message
ITI-20 sends: PRI 85 (facility 10 authpriv, severity 5 notice), MSGID `IHE+RFC-3881`, no structured data,
and the AuditMessage XML after a UTF-8 BOM. Over TLS each message travels as an octet-counted frame
(`MSG-LEN SP SYSLOG-MSG`, RFC 5425 §4.3): `frame` writes one, and `FrameDecoder` reads them h11-style:
`feed` bytes as they arrive, pull `Frame` / `Garbage` events until `NEED_DATA`. Over UDP a datagram is one
message, unframed. No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

BOM = b"\xef\xbb\xbf"
NIL = "-"
ATNA_FACILITY = 10  # authpriv
ATNA_SEVERITY = 5  # notice
ATNA_MSGID = "IHE+RFC-3881"
DEFAULT_MAX_FRAME = 1024 * 1024  # RFC 5425 asks receivers for 8 KiB at least; audit records with queries are bigger

_FIELD_LIMITS = (("hostname", 255), ("app_name", 48), ("procid", 128), ("msgid", 32))
_PRINTUSASCII = re.compile(r"[\x21-\x7e]+")
_SD_NAME = re.compile(r"[\x21-\x7e]{1,32}")  # SD-NAME: PRINTUSASCII except '=', SP, ']', '"'
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})"
)


class SyslogError(ValueError):
    """The bytes are not an RFC 5424 message; the text says where."""


@dataclass(frozen=True)
class SdElement:
    """One STRUCTURED-DATA element: `[id name="value" ...]`."""

    sd_id: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SyslogMessage:
    """An RFC 5424 message. Header fields hold the wire text; None is the NILVALUE `-`."""

    facility: int
    severity: int
    timestamp: str | None
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: tuple[SdElement, ...] = ()
    msg: bytes = b""
    utf8: bool = True  # MSG is UTF-8, announced by a BOM (MSG-UTF8)

    @property
    def pri(self) -> int:
        return self.facility * 8 + self.severity


def format_timestamp(moment: datetime) -> str:
    """RFC 5424 TIMESTAMP in UTC with microseconds, e.g. 2025-01-31T10:00:00.123456Z."""
    if moment.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def atna_message(audit_xml: bytes, timestamp: str, hostname: str, app_name: str, procid: str) -> SyslogMessage:
    """The ITI-20 syslog message carrying one AuditMessage."""
    return SyslogMessage(ATNA_FACILITY, ATNA_SEVERITY, timestamp, hostname, app_name, procid, ATNA_MSGID, (), audit_xml)


# --- RFC 5424 message --------------------------------------------------------------------------------


def _header_field(value: str | None, name: str, limit: int) -> str:
    if value is None or value == "":
        return NIL
    if len(value) > limit or not _PRINTUSASCII.fullmatch(value):
        raise SyslogError(f"{name} must be 1 to {limit} printable US-ASCII characters: {value!r}")
    return value


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def encode(message: SyslogMessage) -> bytes:
    """RFC 5424 bytes of `message`."""
    if not (0 <= message.facility <= 23 and 0 <= message.severity <= 7):
        raise SyslogError(f"facility {message.facility} / severity {message.severity} out of range")
    if message.timestamp is not None and not _TIMESTAMP.fullmatch(message.timestamp):
        raise SyslogError(f"timestamp is not an RFC 5424 TIMESTAMP: {message.timestamp!r}")
    fields = [_header_field(getattr(message, name), name, limit) for name, limit in _FIELD_LIMITS]
    header = f"<{message.pri}>1 {message.timestamp or NIL} {' '.join(fields)}"
    if message.structured_data:
        sd = "".join(
            "[" + element.sd_id + "".join(f' {name}="{_escape(value)}"' for name, value in element.params) + "]"
            for element in message.structured_data
        )
    else:
        sd = NIL
    out = f"{header} {sd}".encode()
    if message.msg or message.utf8:
        out += b" " + (BOM if message.utf8 else b"") + message.msg
    return out


def _next_token(data: bytes, pos: int, what: str) -> tuple[str, int]:
    end = data.find(b" ", pos)
    if end < 0:
        raise SyslogError(f"message ends before {what}")
    token = data[pos:end]
    if not token:
        raise SyslogError(f"{what} is empty (two spaces in a row)")
    try:
        text = token.decode("ascii")
    except UnicodeDecodeError:
        raise SyslogError(f"{what} is not US-ASCII") from None
    return text, end + 1


def _parse_sd(data: bytes, pos: int) -> tuple[tuple[SdElement, ...], int]:
    """STRUCTURED-DATA starting at `pos`; returns the elements and the position after them."""
    if data[pos : pos + 1] == b"-":
        return (), pos + 1
    elements = []
    while data[pos : pos + 1] == b"[":
        close = pos + 1
        while close < len(data) and data[close : close + 1] not in (b" ", b"]"):
            close += 1
        sd_id = data[pos + 1 : close].decode("ascii", "replace")
        if not _SD_NAME.fullmatch(sd_id):
            raise SyslogError(f"bad SD-ID {sd_id!r}")
        pos, params = close, []
        while data[pos : pos + 1] == b" ":
            eq = data.find(b'="', pos)
            if eq < 0:
                raise SyslogError("SD-PARAM without a quoted value")
            name = data[pos + 1 : eq].decode("ascii", "replace")
            if not _SD_NAME.fullmatch(name):
                raise SyslogError(f"bad PARAM-NAME {name!r}")
            value, pos = bytearray(), eq + 2
            while True:
                if pos >= len(data):
                    raise SyslogError("unterminated PARAM-VALUE")
                byte = data[pos : pos + 1]
                if byte == b"\\" and data[pos + 1 : pos + 2] in (b'"', b"\\", b"]"):
                    value += data[pos + 1 : pos + 2]
                    pos += 2
                elif byte == b'"':
                    pos += 1
                    break
                else:
                    value += byte
                    pos += 1
            params.append((name, value.decode("utf-8", "replace")))
        if data[pos : pos + 1] != b"]":
            raise SyslogError("SD-ELEMENT is not closed by ']'")
        elements.append(SdElement(sd_id, tuple(params)))
        pos += 1
    if not elements:
        raise SyslogError("STRUCTURED-DATA is neither '-' nor '[...]'")
    return tuple(elements), pos


def decode(data: bytes) -> SyslogMessage:
    """Parse one RFC 5424 message; raise `SyslogError` naming the first thing wrong."""
    match = re.match(rb"<(\d{1,3})>([1-9]\d{0,2}) ", data)
    if match is None:
        raise SyslogError("message does not start with <PRI>VERSION")
    pri = int(match.group(1))
    if pri > 191:
        raise SyslogError(f"PRI {pri} is above 191")
    if match.group(2) != b"1":
        raise SyslogError(f"syslog version {match.group(2).decode()} is not 1")
    pos = match.end()
    timestamp, pos = _next_token(data, pos, "TIMESTAMP")
    if timestamp != NIL and not _TIMESTAMP.fullmatch(timestamp):
        raise SyslogError(f"bad TIMESTAMP {timestamp!r}")
    header: list[str | None] = []
    for name, limit in _FIELD_LIMITS:
        value, pos = _next_token(data, pos, name.upper())
        if len(value) > limit:
            raise SyslogError(f"{name.upper()} is longer than {limit}")
        if not _PRINTUSASCII.fullmatch(value):
            raise SyslogError(f"{name.upper()} holds a character that is not printable US-ASCII")
        header.append(None if value == NIL else value)
    sd, pos = _parse_sd(data, pos)
    msg, utf8 = b"", False
    if pos < len(data):
        if data[pos : pos + 1] != b" ":
            raise SyslogError("STRUCTURED-DATA is not followed by a space")
        msg = data[pos + 1 :]
        utf8 = msg.startswith(BOM)
        if utf8:
            msg = msg[len(BOM) :]
    hostname, app_name, procid, msgid = header
    return SyslogMessage(
        pri // 8, pri % 8, None if timestamp == NIL else timestamp, hostname, app_name, procid, msgid, sd, msg, utf8
    )


# --- RFC 5425 octet-counting framing -----------------------------------------------------------------


def frame(message: bytes) -> bytes:
    """`MSG-LEN SP SYSLOG-MSG` (RFC 5425 §4.3)."""
    return b"%d " % len(message) + message


class _Need(Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA = _Need.NEED_DATA


@dataclass(frozen=True)
class Frame:
    """One complete syslog message, without its length prefix."""

    data: bytes


@dataclass(frozen=True)
class Garbage:
    """Bytes that are not a frame, skipped to find the next one; `data` is capped at 1 KiB for the record."""

    data: bytes
    reason: str


_PREFIX = re.compile(rb"([1-9][0-9]{0,9}) ")
_PARTIAL_PREFIX = re.compile(rb"[1-9][0-9]{0,9}")
# A frame starts with its length, a space, and '<' (every RFC 5424 message begins with PRI).
_RESYNC = re.compile(rb"[1-9][0-9]{0,9} <")
_GARBAGE_KEPT = 1024


class FrameDecoder:
    """Reads octet-counted frames from a byte stream, whatever the read boundaries.

    Theory of operation: the buffer always starts where a frame should start. If it holds a length
    prefix followed by '<', the frame is returned once all its bytes are in. Anything else is garbage:
    the decoder reports it and skips to the next place that looks like a frame start (digits, space,
    '<'), so one bad sender write costs one event, not the connection. A frame longer than `max_frame`
    is reported and its bytes are skipped as they arrive, never buffered.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._skip = 0  # bytes of an oversized frame still to discard

    def feed(self, data: bytes) -> None:
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_event(self) -> Frame | Garbage | _Need:
        buf = self._buf
        if not buf:
            return NEED_DATA
        match = _PREFIX.match(buf)
        if match is not None:
            length, start = int(match.group(1)), match.end()
            if start < len(buf) and buf[start] != 0x3C:  # '<'
                return self._garbage("a frame must start with '<' after its length")
            if length > self.max_frame:
                prefix = bytes(buf[:start])
                available = min(length, len(buf) - start)
                del buf[: start + available]
                self._skip = length - available
                return Garbage(prefix, f"frame of {length} bytes is larger than the limit of {self.max_frame}")
            if len(buf) < start + length:
                return NEED_DATA
            data = bytes(buf[start : start + length])
            del buf[: start + length]
            return Frame(data)
        if _PARTIAL_PREFIX.fullmatch(buf):
            return NEED_DATA  # the length prefix itself is split across reads
        return self._garbage("no octet-count length prefix")

    def _garbage(self, reason: str) -> Garbage:
        buf = self._buf
        found = _RESYNC.search(buf, 1)
        if found is not None:
            end = found.start()
        else:
            # keep a tail that may be the start of a prefix not yet complete
            tail = re.search(rb"[1-9][0-9]{0,9} ?$", buf[1:])
            end = tail.start() + 1 if tail is not None else len(buf)
        skipped = bytes(buf[:end])
        del buf[:end]
        return Garbage(skipped[:_GARBAGE_KEPT], reason)
