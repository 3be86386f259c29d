"""Application-level acknowledgement for syslog over TLS: the sink tells the sender what it has stored.

RFC 5425 has no acknowledgement: a sender cannot know whether frames it wrote reached the sink's
database or died with the sink's host. pyxds adds one, negotiated so that plain RFC 5425 peers are
unaffected:
- The sender offers the ALPN protocol `ACK_PROTOCOL` in its TLS handshake; a pyxds sink selects it. A
  peer that does not (any other syslog receiver) sees a plain RFC 5425 client, and gets no acknowledgement.
- Sender to sink: RFC 5425 octet-counted frames, unchanged.
- Sink to sender, on the same connection: ASCII lines `ack <n>\\n`, where n is the number of frames this
  connection has carried that are now durably kept by the sink (stored as events or as rejections, or, while
  its database is unavailable, in its own durable pending file, stored from there later), counted from the
  first frame of the connection. n only grows; the sink may skip values (one line per stored batch).
The sender deletes a message from its spool only once it is acknowledged; frames not acknowledged when
a connection ends are sent again on the next one, and the sink's digest check stores them once.
No I/O here: `encode` and `AckReader` are used by the sink (`audit.receiver`) and the sender
(`xdsservice.audit_sender`).
"""

from __future__ import annotations

import re

ACK_PROTOCOL = "pyxds-syslog-ack/1"
_LINE = re.compile(rb"ack ([0-9]{1,18})\n")
MAX_LINE = 32


class AckError(ValueError):
    """The peer sent something that is not an acknowledgement line."""


def encode(stored: int) -> bytes:
    return b"ack %d\n" % stored


class AckReader:
    """Feed the bytes the sink sends; `acknowledged` is the highest count seen so far."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.acknowledged = 0

    def feed(self, data: bytes) -> int:
        self._buf += data
        while (end := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[: end + 1])
            del self._buf[: end + 1]
            match = _LINE.fullmatch(line)
            if match is None:
                raise AckError(f"not an acknowledgement line: {line[:MAX_LINE]!r}")
            self.acknowledged = max(self.acknowledged, int(match.group(1)))
        if len(self._buf) > MAX_LINE:
            raise AckError(f"acknowledgement line too long: {bytes(self._buf[:MAX_LINE])!r}")
        return self.acknowledged
