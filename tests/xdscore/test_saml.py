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


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-02T13:22:25Z", "2024-09-02 13:22:25Z"])
def test_parse_instant_refuses(text: str) -> None:
    with pytest.raises(SecurityFault) as info:
        parse_instant(text, "NotOnOrAfter")
    assert info.value.kind is WsseFault.INVALID_SECURITY_TOKEN and "NotOnOrAfter" in info.value.reason


def test_dn_key_is_order_and_alias_insensitive() -> None:
    rfc4514 = "CN=DMP SIGN,OU=10B0167011,O=CENTRE DE SANTE\\, TEST,ST=Rhône (69),C=FR"
    windows = "C=FR, S=Rhône (69), O=CENTRE DE SANTE\\, TEST, OU=10B0167011, CN=DMP SIGN"
    assert dn_key(rfc4514) == dn_key(windows) is not None
    assert dn_key("CN=DMP SIGN,C=FR") != dn_key("CN=DMP SIGN,C=DE")
    assert dn_key("not a dn") is None
