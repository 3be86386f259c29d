"""MLLP framing for HL7 v2 (HL7 v2.5 Appendix C, Minimal Lower Layer Protocol): 0x0B message 0x1C 0x0D.

`MllpReader` is h11-style: feed the bytes as they arrive, pull complete messages. Bytes outside a frame
are discarded; a frame larger than the limit is dropped and reported, and reading resynchronizes on the
next start byte. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

START = b"\x0b"
END = b"\x1c\x0d"
DEFAULT_MAX_FRAME = 4 * 1024 * 1024


@dataclass(frozen=True)
class Frame:
    payload: bytes


@dataclass(frozen=True)
class Oversized:
    size: int


Event = Frame | Oversized


def frame(payload: bytes) -> bytes:
    return START + payload + END


class MllpReader:
    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._in_frame = False
        self._dropping = False
        self._dropped = 0

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
            end = self._buf.find(END)
            if end < 0:
                if len(self._buf) > self.max_frame:
                    self._dropping = True
                    self._dropped += len(self._buf)
                    # keep a byte in case it is the first half of END
                    del self._buf[:-1]
                return events
            payload = bytes(self._buf[:end])
            del self._buf[: end + len(END)]
            self._in_frame = False
            if self._dropping or len(payload) > self.max_frame:
                events.append(Oversized(self._dropped + len(payload)))
                self._dropping, self._dropped = False, 0
            else:
                events.append(Frame(payload))
