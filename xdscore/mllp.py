"""MLLP framing for HL7 v2 (HL7 v2.5 Appendix C, Minimal Lower Layer Protocol): 0x0B message 0x1C 0x0D.

`MllpReader` is h11-style: feed the bytes as they arrive, pull complete messages. Bytes outside a frame
are discarded; a frame larger than the limit is dropped and reported once it ends, with its first
`head_bytes` (default `HEAD_BYTES`, so the receiver can still ACK it: the MSH segment is there), and reading resynchronizes on
the next start byte. Memory stays bounded by the limit whatever the frame's size. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

START = b"\x0b"
END = b"\x1c\x0d"
DEFAULT_MAX_FRAME = 4 * 1024 * 1024
HEAD_BYTES = 4096  # kept of an oversized frame by default: enough for its MSH segment


@dataclass(frozen=True)
class Frame:
    payload: bytes


@dataclass(frozen=True)
class Oversized:
    size: int
    head: bytes = b""  # the frame's first bytes (at most the reader's head_bytes)


Event = Frame | Oversized


def frame(payload: bytes) -> bytes:
    return START + payload + END


class MllpReader:
    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, head_bytes: int = HEAD_BYTES) -> None:
        self.max_frame = max_frame
        self.head_bytes = head_bytes
        self._buf = bytearray()
        self._in_frame = False
        self._dropping = False
        self._dropped = 0
        self._head = b""
        self._scanned = 0  # bytes of the current frame already searched for END

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        self._buf += data
        while True:
            if not self._in_frame:
                start = self._buf.find(START)
                if start < 0:
                    self._buf.clear()  # noise between frames
                    return events
                del self._buf[: start + 1]
                self._in_frame = True
                self._scanned = 0
            # Search only what was not searched yet (less one byte: END may straddle two reads), so a
            # frame arriving in many reads costs time linear in its size.
            end = self._buf.find(END, max(0, self._scanned - 1))
            if end < 0:
                self._scanned = len(self._buf)
                if len(self._buf) > self.max_frame:
                    if not self._dropping:
                        self._head = bytes(self._buf[: self.head_bytes])
                    self._dropping = True
                    self._dropped += len(self._buf) - 1
                    # keep a byte in case it is the first half of END
                    del self._buf[:-1]
                    self._scanned = 1
                return events
            payload = bytes(self._buf[:end])
            del self._buf[: end + len(END)]
            self._in_frame = False
            if self._dropping or len(payload) > self.max_frame:
                head = self._head if self._dropping else payload[: self.head_bytes]
                events.append(Oversized(self._dropped + len(payload), head))
                self._dropping, self._dropped, self._head = False, 0, b""
            else:
                events.append(Frame(payload))
