"""The Header gate (xdscore.envelope_gate), fed byte by byte and in one piece."""

from __future__ import annotations

import pytest
from lxml import etree

from xdscore import envelope_gate
from xdscore.envelope_gate import HeaderGate, Verdict
from xdscore.errors import FaultCode, SoapFault
from xdscore.soap import VersionMismatch

ENV = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
SECURITY = (b'<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
            b'<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="a"/></wsse:Security>')
BODY = b"<s:Body><q:Query xmlns:q='urn:x'>" + b"<q:Slot/>" * 1000 + b"</q:Query></s:Body></s:Envelope>"
MESSAGE_ID = b"<a:MessageID xmlns:a='http://www.w3.org/2005/08/addressing'> urn:uuid:7 </a:MessageID>"


def gate_fed(data: bytes, step: int) -> HeaderGate:
    gate = HeaderGate(max_header_bytes=10_000)
    for i in range(0, len(data), step):
        if gate.feed(data[i : i + step]) is not Verdict.NEED_DATA:
            break
    return gate


@pytest.mark.parametrize("step", [1, 7, 100_000])
@pytest.mark.parametrize(("data", "expected"), [
    (ENV + b"<s:Header>" + SECURITY + b"</s:Header>" + BODY, Verdict.SECURED),
    (ENV + b"<s:Header><a:Action xmlns:a='urn:a'>x</a:Action></s:Header>" + BODY, Verdict.ANONYMOUS),
    (ENV + BODY, Verdict.ANONYMOUS),  # no Header at all
    # a Security block without an assertion is still one to verify (a Timestamp, two blocks: wssec decides)
    (ENV + b"<s:Header>" + SECURITY.replace(b"saml2:Assertion", b"saml2:Other") + b"</s:Header>" + BODY, Verdict.SECURED),
    (ENV + b"<s:Header><x:Wrap xmlns:x='urn:x'>" + SECURITY + b"</x:Wrap></s:Header>" + BODY, Verdict.ANONYMOUS),
])
def test_verdict_at_the_start_of_the_body(data: bytes, expected: Verdict, step: int) -> None:
    gate = gate_fed(data, step)
    assert gate.verdict is expected
    assert gate.header is None if data.startswith(ENV + b"<s:Body") else gate.header.tag.endswith("}Header")


def test_the_header_is_complete_and_in_its_envelope() -> None:
    gate = gate_fed(ENV + b"<s:Header>" + MESSAGE_ID + SECURITY + b"</s:Header>" + BODY, 100_000)
    assert gate.header is not None and len(gate.header) == 2
    assert gate.header.getparent() is not None and gate.header.getparent().tag.endswith("}Envelope")
    assert gate.message_id == "urn:uuid:7"


def test_the_verdict_comes_before_the_body_is_complete() -> None:
    gate = HeaderGate()
    assert gate.feed(ENV + b"<s:Header/><s:Body><q:Query xmlns:q='urn:x'>") is Verdict.ANONYMOUS


def test_the_gate_parses_in_slices_and_stops_after_the_body_starts() -> None:
    gate = HeaderGate()
    data = ENV + b"<s:Header/>" + BODY.replace(b"<q:Slot/>" * 1000, b"<q:Slot/>" * 100_000)
    assert gate.feed(data) is Verdict.ANONYMOUS
    body = gate.header.getparent()[1] if gate.header is not None else None
    assert body is not None and len(body[0]) < envelope_gate.SLICE // len(b"<q:Slot/>") + 1


def test_a_header_past_the_limit_is_refused() -> None:
    gate = HeaderGate(max_header_bytes=1000)
    gate.feed(ENV + b"<s:Header>")
    with pytest.raises(SoapFault, match="more than 1000 bytes before its Body"):
        for _ in range(100):
            gate.feed(b"<x:Pad xmlns:x='urn:x'>" + b"p" * 50 + b"</x:Pad>")


@pytest.mark.parametrize(("data", "fault", "reason"), [
    (b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">' + BODY, VersionMismatch, "SOAP 1.1"),
    (b"<x:Other xmlns:x='urn:x'>" + BODY, SoapFault, "not a SOAP 1.2 Envelope"),
    (b"\n<soap:Envelope><soap:Body/></soap:Envelope>", SoapFault, "not"),  # undeclared prefix (found by harness.fuzz)
    (ENV + b"<s:Header><oops></s:Header>" + BODY, SoapFault, "not well-formed"),
    (b"<!DOCTYPE s:Envelope [<!ATTLIST a ID ID #IMPLIED>]>" + ENV + b"<s:Header/>" + BODY, SoapFault, "carries a DTD"),
])
def test_what_the_decoder_would_refuse_is_refused_at_once(data: bytes, fault: type[SoapFault], reason: str) -> None:
    with pytest.raises(fault, match=reason) as info:
        gate_fed(data, 7)
    assert info.value.code in (FaultCode.SENDER, FaultCode.VERSION_MISMATCH)


def test_a_predefined_entity_in_the_header_is_plain_text() -> None:
    gate = HeaderGate()
    # an undeclared entity is a syntax error; libxml2 keeps a reference node only with resolve_entities off
    data = ENV + b"<s:Header><x:A xmlns:x='urn:x'>&lt;</x:A></s:Header>" + BODY
    assert gate.feed(data) is Verdict.ANONYMOUS  # a predefined entity is plain text
    assert not any(isinstance(n, etree._Entity) for n in gate.header.iter(etree.Entity))  # type: ignore[union-attr]
