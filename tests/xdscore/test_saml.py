"""xdscore.saml helpers: xs:dateTime as SAML senders write it, and distinguished-name comparison."""

from __future__ import annotations

import datetime as dt

import pytest

from xdscore.saml import dn_key, parse_instant
from xdscore.wsse_faults import SecurityFault, WsseFault


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-02T13:22:25.789Z", dt.datetime(2024, 9, 2, 13, 22, 25, 789000, dt.UTC)),
        ("2024-09-02T13:22:25Z", dt.datetime(2024, 9, 2, 13, 22, 25, tzinfo=dt.UTC)),
        ("2024-09-02T13:22:25.1234567Z", dt.datetime(2024, 9, 2, 13, 22, 25, 123456, dt.UTC)),  # .NET: 7 digits
        ("2024-09-02T15:22:25+02:00", dt.datetime(2024, 9, 2, 13, 22, 25, tzinfo=dt.UTC)),
        ("2024-09-02T13:22:25", dt.datetime(2024, 9, 2, 13, 22, 25, tzinfo=dt.UTC)),  # no zone: UTC (SAML core)
    ],
)
def test_parse_instant(text: str, expected: dt.datetime) -> None:
    assert parse_instant(text, "t") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # XML white space around the value is collapsed away (xs:dateTime whiteSpace facet)
        (" \t\r\n2024-09-02T13:22:25Z \n", dt.datetime(2024, 9, 2, 13, 22, 25, tzinfo=dt.UTC)),
        # 12 fraction digits: cut to microseconds, never rounded up into the next second
        ("2024-12-31T23:59:59.999999999999Z", dt.datetime(2024, 12, 31, 23, 59, 59, 999999, dt.UTC)),
        ("2024-09-02T13:22:25.123456789012Z", dt.datetime(2024, 9, 2, 13, 22, 25, 123456, dt.UTC)),
        # 24:00:00 is the first instant of the next day (XML Schema 1.0 §3.2.7)
        ("2024-12-31T24:00:00Z", dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
        ("2024-12-31T24:00:00.000Z", dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
        # the widest offsets allowed, and the extremes of the range
        ("2024-09-03T03:22:25+14:00", dt.datetime(2024, 9, 2, 13, 22, 25, tzinfo=dt.UTC)),
        ("2024-09-01T23:22:25-14:00", dt.datetime(2024, 9, 2, 13, 22, 25, tzinfo=dt.UTC)),
        ("2024-09-02T13:22:25-00:00", dt.datetime(2024, 9, 2, 13, 22, 25, tzinfo=dt.UTC)),
        ("0001-01-01T00:00:00Z", dt.datetime(1, 1, 1, tzinfo=dt.UTC)),
        ("9999-12-31T23:59:59.999Z", dt.datetime(9999, 12, 31, 23, 59, 59, 999000, dt.UTC)),
    ],
)
def test_parse_instant_edges(text: str, expected: dt.datetime) -> None:
    parsed = parse_instant(text, "t")
    assert parsed == expected and parsed.utcoffset() == dt.timedelta(0)


# One row per malformed shape: the value, and what the reason must say about it.
REFUSED = [
    ("", "is empty"),
    (" \t\n ", "is empty"),
    ("yesterday", "is not an xs:dateTime"),
    ("2024-09-02 13:22:25Z", "is not an xs:dateTime"),  # missing T
    ("2024-09-0213:22:25Z", "is not an xs:dateTime"),
    ("2024-09-02T13: 22:25Z", "is not an xs:dateTime"),  # white space inside
    ("2024-09-02", "is not an xs:dateTime"),
    ("2024-09-02T13:22Z", "is not an xs:dateTime"),
    ("2024-09-02T13:22:25.Z", "is not an xs:dateTime"),
    ("2024-09-02T13:22:25z", "is not an xs:dateTime"),
    ("2024-09-02T13:22:25+0200", "is not an xs:dateTime"),
    ("+2024-09-02T13:22:25Z", "is not an xs:dateTime"),
    ("\u00a02024-09-02T13:22:25Z", "non-ASCII"),  # no-break space is not XML white space
    ("٢٠٢٤-٠٩-٠٢T13:22:25Z", "non-ASCII"),  # Arabic-Indic digits, which Python's int() would read
    ("２０２４-09-02T13:22:25Z", "non-ASCII"),  # full-width digits
    ("2024-09-02T13:22:25.१२Z", "non-ASCII"),
    ("0000-01-01T00:00:00Z", "year is outside 0001-9999"),
    ("99999-01-01T00:00:00Z", "year is outside 0001-9999"),
    ("-0001-01-01T00:00:00Z", "year is outside 0001-9999"),
    ("1" * 5000 + "-01-01T00:00:00Z", "year is outside 0001-9999"),  # beyond int()'s digit limit
    ("2024-13-02T13:22:25Z", "not a valid date"),
    ("2023-02-29T13:22:25Z", "not a valid date"),
    ("2024-09-02T25:00:00Z", "does not exist"),
    ("2024-09-02T13:60:00Z", "does not exist"),
    ("2024-09-02T13:22:61Z", "does not exist"),
    ("2016-12-31T23:59:60Z", "leap second"),
    ("2024-09-02T24:00:01Z", "hour 24"),
    ("2024-09-02T24:00:00.5Z", "hour 24"),
    ("2024-09-02T13:22:25+24:00", "outside -14:00..+14:00"),
    ("2026-01-01T00:00:00+25:00", "outside -14:00..+14:00"),  # the fuzz finding
    ("2024-09-02T13:22:25-99:99", "outside -14:00..+14:00"),
    ("2024-09-02T13:22:25+14:01", "outside -14:00..+14:00"),
    ("2024-09-02T13:22:25+01:60", "outside -14:00..+14:00"),
    ("0001-01-01T00:00:00+00:01", "outside 0001-9999 once moved to UTC"),
    ("9999-12-31T23:59:59-00:01", "outside 0001-9999 once moved to UTC"),
    ("9999-12-31T24:00:00Z", "outside 0001-9999 once moved to UTC"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_parse_instant_refuses(text: str, reason: str) -> None:
    with pytest.raises(SecurityFault) as info:
        parse_instant(text, "NotOnOrAfter")
    fault = info.value
    assert fault.kind is WsseFault.INVALID_SECURITY_TOKEN
    assert fault.reason.startswith("NotOnOrAfter") and reason in fault.reason, fault.reason
    assert len(fault.reason) < 300  # a huge value is quoted cut


def test_own_text_keeps_non_xml_white_space() -> None:
    from lxml import etree

    from xdscore.saml import own_text

    el = etree.fromstring("<a>\u00a08997<!-- x -->00000001\n</a>")
    assert own_text(el) == "\u00a0899700000001"


def test_security_fault_reasons_are_bounded() -> None:
    from xdscore.wsse_faults import MAX_REASON

    fault = SecurityFault(WsseFault.INVALID_SECURITY, "x" * 10_000)
    assert len(fault.reason) == MAX_REASON and fault.reason.endswith("…")


def test_dn_key_is_order_and_alias_insensitive() -> None:
    rfc4514 = "CN=DMP SIGN,OU=10B0167011,O=CENTRE DE SANTE\\, TEST,ST=Rhône (69),C=FR"
    windows = "C=FR, S=Rhône (69), O=CENTRE DE SANTE\\, TEST, OU=10B0167011, CN=DMP SIGN"
    assert dn_key(rfc4514) == dn_key(windows) is not None
    assert dn_key("CN=DMP SIGN,C=FR") != dn_key("CN=DMP SIGN,C=DE")
    assert dn_key("not a dn") is None
