"""The Header gate (xdscore.envelope_gate), fed byte by byte and in one piece."""

from __future__ import annotations

import pytest

from xdscore.envelope_gate import HeaderGate, Verdict
from xdscore.errors import SoapFault

ENV = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
SECURITY = (b'<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
            b'<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="a"/></wsse:Security>')
BODY = b"<s:Body><q:Query xmlns:q='urn:x'>" + b"<q:Slot/>" * 1000 + b"</q:Query></s:Body></s:Envelope>"


def verdict(data: bytes, step: int) -> Verdict:
    gate = HeaderGate(max_header_bytes=10_000)
    for i in range(0, len(data), step):
        if (found := gate.feed(data[i : i + step])) is not Verdict.NEED_DATA:
            return found
    return gate.verdict


@pytest.mark.parametrize("step", [1, 7, 100_000])
@pytest.mark.parametrize(("data", "expected"), [
    (ENV + b"<s:Header>" + SECURITY + b"</s:Header>" + BODY, Verdict.ASSERTED),
    (ENV + b"<s:Header><a:Action xmlns:a='urn:a'>x</a:Action></s:Header>" + BODY, Verdict.ANONYMOUS),
    (ENV + BODY, Verdict.ANONYMOUS),  # no Header at all
    (ENV + b"<s:Header>" + SECURITY.replace(b"saml2:Assertion", b"saml2:Other") + b"</s:Header>" + BODY, Verdict.ANONYMOUS),
    (ENV + b"<s:Header><x:Wrap xmlns:x='urn:x'>" + SECURITY + b"</x:Wrap></s:Header>" + BODY, Verdict.ANONYMOUS),
    (b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">' + BODY, Verdict.UNKNOWN),  # SOAP 1.1
    (ENV + b"<s:Header><oops></s:Header>" + BODY, Verdict.UNKNOWN),  # not well-formed
])
def test_verdict_at_the_start_of_the_body(data: bytes, expected: Verdict, step: int) -> None:
    assert verdict(data, step) is expected


def test_the_verdict_comes_before_the_body_is_complete() -> None:
    gate = HeaderGate()
    assert gate.feed(ENV + b"<s:Header/><s:Body><q:Query xmlns:q='urn:x'>") is Verdict.ANONYMOUS


def test_a_header_past_the_limit_is_refused() -> None:
    gate = HeaderGate(max_header_bytes=1000)
    gate.feed(ENV + b"<s:Header>")
    with pytest.raises(SoapFault, match="more than 1000 bytes before its Body"):
        for _ in range(100):
            gate.feed(b"<x:Pad xmlns:x='urn:x'>" + b"p" * 50 + b"</x:Pad>")
