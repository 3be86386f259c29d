"""RFC 5424 message codec and RFC 5425 octet-counting framing (xdscore.syslog)."""

from __future__ import annotations

import datetime as dt

import pytest

from xdscore import syslog
from xdscore.syslog import BOM, Frame, FrameDecoder, Garbage, SdElement, SyslogMessage

XML = b'<?xml version="1.0" encoding="UTF-8"?><AuditMessage/>'

# (message, exact bytes): checked in both directions
TABLE = [
    (
        syslog.atna_message(XML, "2026-01-15T10:30:00.123456Z", "xds.example.org", "xds-registry", "4242"),
        b"<85>1 2026-01-15T10:30:00.123456Z xds.example.org xds-registry 4242 IHE+RFC-3881 - " + BOM + XML,
    ),
    (  # every header field NIL, no MSG
        SyslogMessage(0, 0, None, None, None, None, None, (), b"", utf8=False),
        b"<0>1 - - - - - -",
    ),
    (  # MSG without BOM (MSG-ANY), structured data with escapes
        SyslogMessage(
            23, 7, "2026-01-15T10:30:00+01:00", "h", "a", "p", "m",
            (SdElement("meta", (("sequenceId", "7"),)), SdElement("ex@32473", (("q", 'a"b\\c]d'),))),
            b"plain text", utf8=False,
        ),
        b'<191>1 2026-01-15T10:30:00+01:00 h a p m [meta sequenceId="7"][ex@32473 q="a\\"b\\\\c\\]d"] plain text',
    ),
]


@pytest.mark.parametrize(("message", "wire"), TABLE)
def test_encode(message, wire):
    assert syslog.encode(message) == wire


@pytest.mark.parametrize(("message", "wire"), TABLE)
def test_decode(message, wire):
    assert syslog.decode(wire) == message


def test_atna_message_fields():
    message = syslog.atna_message(XML, "2026-01-15T10:30:00Z", "h", "a", "1")
    assert (message.pri, message.facility, message.severity, message.msgid) == (85, 10, 5, "IHE+RFC-3881")


def test_format_timestamp_is_utc_with_microseconds():
    moment = dt.datetime(2026, 1, 15, 11, 30, 0, 42, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert syslog.format_timestamp(moment) == "2026-01-15T10:30:00.000042Z"
    with pytest.raises(ValueError):
        syslog.format_timestamp(dt.datetime(2026, 1, 15))


@pytest.mark.parametrize(("wire", "complaint"), [
    (b"hello", "PRI"),
    (b"<192>1 - - - - - -", "above 191"),
    (b"<85>2 - - - - - -", "version"),
    (b"<85>1 2026-01-15 h a p m -", "TIMESTAMP"),
    (b"<85>1 - h a p", "ends before"),
    (b"<85>1 -  a p m -", "empty"),
    (b"<85>1 - h a p m x", "STRUCTURED-DATA"),
    (b'<85>1 - h a p m [id x="1"', "not closed"),
    (b'<85>1 - h a p m [id x="1', "unterminated"),
    (b"<85>1 - h a p m -x", "followed by a space"),
    (b"<85>1 - h\xc3\xa9 a p m -", "US-ASCII"),
    (b"<85>1 - h " + b"a" * 49 + b" p m -", "longer than 48"),
])
def test_decode_refuses(wire, complaint):
    with pytest.raises(syslog.SyslogError, match=complaint):
        syslog.decode(wire)


@pytest.mark.parametrize("field", ["hostname", "app_name", "procid", "msgid"])
def test_encode_refuses_non_printable_header_fields(field):
    message = syslog.atna_message(XML, "2026-01-15T10:30:00Z", "h", "a", "1")
    with pytest.raises(syslog.SyslogError, match=field):
        syslog.encode(message.__class__(**{**message.__dict__, field: "two words"}))


def test_encode_refuses_a_bad_timestamp():
    with pytest.raises(syslog.SyslogError, match="TIMESTAMP"):
        syslog.encode(syslog.atna_message(XML, "yesterday", "h", "a", "1"))


# --- framing ---------------------------------------------------------------------------------------------

MESSAGES = [wire for _, wire in TABLE]
STREAM = b"".join(syslog.frame(m) for m in MESSAGES)


def drain(decoder: FrameDecoder) -> list[Frame | Garbage]:
    events = []
    while (event := decoder.next_event()) is not syslog.NEED_DATA:
        events.append(event)
    return events


def test_frame_prefixes_the_octet_count():
    assert syslog.frame(b"<0>1 - - - - - -") == b"16 <0>1 - - - - - -"
    assert syslog.frame("é".encode()) == b"2 \xc3\xa9"


def test_decoder_reads_frames_fed_whole():
    decoder = FrameDecoder()
    decoder.feed(STREAM)
    assert drain(decoder) == [Frame(m) for m in MESSAGES]
    assert decoder.buffered == 0


def test_decoder_reads_frames_fed_byte_by_byte():
    decoder, events = FrameDecoder(), []
    for i in range(len(STREAM)):
        decoder.feed(STREAM[i : i + 1])
        events += drain(decoder)
    assert events == [Frame(m) for m in MESSAGES]


@pytest.mark.parametrize("cut", [1, 2, 3, 50, len(STREAM) - 1])
def test_decoder_reads_frames_split_anywhere(cut):
    decoder = FrameDecoder()
    decoder.feed(STREAM[:cut])
    first = drain(decoder)
    decoder.feed(STREAM[cut:])
    assert first + drain(decoder) == [Frame(m) for m in MESSAGES]


@pytest.mark.parametrize("junk", [b"garbage!", b"\x00\xff\n", b"0", b"12x", b"99 not-syslog ", b"\r\n"])
def test_decoder_skips_garbage_and_finds_the_next_frame(junk):
    decoder = FrameDecoder()
    decoder.feed(syslog.frame(MESSAGES[0]) + junk + STREAM)
    events = drain(decoder)
    assert events[0] == Frame(MESSAGES[0])
    assert [e for e in events if isinstance(e, Frame)] == [Frame(MESSAGES[0])] + [Frame(m) for m in MESSAGES]
    garbage = [e for e in events if isinstance(e, Garbage)]
    assert garbage and b"".join(g.data for g in garbage) == junk


def test_decoder_garbage_fed_byte_by_byte_still_resynchronises():
    decoder, events = FrameDecoder(), []
    data = b"junk 12 " + STREAM
    for i in range(len(data)):
        decoder.feed(data[i : i + 1])
        events += drain(decoder)
    assert [e for e in events if isinstance(e, Frame)] == [Frame(m) for m in MESSAGES]


def test_decoder_skips_an_oversized_frame_without_buffering_it():
    decoder = FrameDecoder(max_frame=100)
    big = b"<85>1 - - - - - - " + b"x" * 1000
    decoder.feed(syslog.frame(big)[:300])
    (event,) = drain(decoder)
    assert isinstance(event, Garbage) and "larger than the limit of 100" in event.reason
    assert decoder.buffered == 0
    decoder.feed(syslog.frame(big)[300:] + syslog.frame(MESSAGES[1]))
    assert drain(decoder) == [Frame(MESSAGES[1])]


def test_decoder_waits_for_a_split_length_prefix():
    decoder = FrameDecoder()
    decoder.feed(b"12")
    assert decoder.next_event() is syslog.NEED_DATA
    decoder.feed(b"3")
    assert decoder.next_event() is syslog.NEED_DATA
    assert decoder.buffered == 3


def test_garbage_record_is_capped():
    decoder = FrameDecoder()
    decoder.feed(b"z" * 5000)
    events = drain(decoder)
    assert all(isinstance(e, Garbage) and len(e.data) <= 1024 for e in events)
    assert decoder.buffered == 0
