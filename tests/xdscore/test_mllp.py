"""MLLP framing codec: byte by byte, several frames per read, noise, oversized frames."""

from __future__ import annotations

import pytest

from xdscore.mllp import Frame, MllpReader, Oversized, frame

MSG = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|||1^^^&1.2&ISO\r"


def test_frame_bytes() -> None:
    assert frame(b"abc") == b"\x0babc\x1c\x0d"


def test_byte_by_byte() -> None:
    reader = MllpReader()
    events = []
    for b in frame(MSG):
        events += reader.feed(bytes([b]))
    assert events == [Frame(MSG)]


def test_two_frames_in_one_read_with_noise_between() -> None:
    reader = MllpReader()
    assert reader.feed(b"junk" + frame(b"one") + b"\r\n" + frame(b"two") + frame(b"thr")[:3]) == [Frame(b"one"), Frame(b"two")]
    assert reader.feed(frame(b"thr")[3:]) == [Frame(b"thr")]


@pytest.mark.parametrize("split", [1, 2, 3, 7])
def test_oversized_frame_is_dropped_and_reading_resumes(split: int) -> None:
    reader = MllpReader(max_frame=10)
    data = frame(b"x" * 50) + frame(b"ok")
    events = []
    for i in range(0, len(data), split):
        events += reader.feed(data[i : i + split])
    assert isinstance(events[0], Oversized) and events[0].size >= 50
    assert events[1:] == [Frame(b"ok")]
