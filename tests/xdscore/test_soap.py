"""SOAP 1.2 envelope structure (Part 1 §5) and version mismatch (§5.4.7, Appendix A) in xdscore.soap."""

from __future__ import annotations

import pytest
from lxml import etree

from xdscore import soap
from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS

ENV = NS.SOAP12
HEADER = f'<s:Header><wsa:Action xmlns:wsa="{NS.WSA}">urn:a</wsa:Action></s:Header>'
BODY = '<s:Body><x:Request xmlns:x="urn:x"/></s:Body>'


def envelope(inner: str, attributes: str = "") -> etree._Element:
    return etree.fromstring(f'<s:Envelope xmlns:s="{ENV}"{attributes}>{inner}</s:Envelope>')


def test_header_then_body_is_read() -> None:
    request = soap.read_envelope(envelope(HEADER + BODY))
    assert request.addressing.action == "urn:a" and request.body.tag == "{urn:x}Request"


def test_comments_and_whitespace_are_fine() -> None:
    soap.read_envelope(envelope(f"\n  <!-- a comment -->{HEADER}\n  {BODY}\n"))


@pytest.mark.parametrize(
    ("inner", "attributes", "words"),
    [
        (BODY + HEADER, "", "the Header comes after the Body"),
        (HEADER + BODY + BODY, "", "two Body elements"),
        (HEADER + HEADER + BODY, "", "two Header elements"),
        (HEADER, "", "no Body"),
        (HEADER + BODY + '<x:Trailer xmlns:x="urn:x"/>', "", "{urn:x}Trailer in the Envelope"),
        (HEADER + f'<s:Other xmlns:s="{ENV}"/>' + BODY, "", "Other in the Envelope"),
        (HEADER + "text" + BODY, "", "character data in the Envelope"),
        (HEADER + "<s:Body>text<x:Request xmlns:x='urn:x'/></s:Body>", "", "character data in the Body"),
        (HEADER + BODY, ' s:encodingStyle="http://www.w3.org/2003/05/soap-encoding"', "encodingStyle on Envelope"),
        ("<s:Header><Unqualified/></s:Header>" + BODY, "", "Header block Unqualified is not namespace-qualified"),
        (HEADER + "<s:Body><?php evil?><x:Request xmlns:x='urn:x'/></s:Body>", "", "processing instruction"),
        ("<?pi here?>" + HEADER + BODY, "", "processing instruction"),
    ],
    ids=["header-after-body", "two-bodies", "two-headers", "no-body", "trailing-element", "other-soap-element",
         "text-in-envelope", "text-in-body", "encoding-style", "unqualified-header-block",
         "pi-in-body", "pi-in-envelope"],
)
def test_anything_but_header_then_body_is_a_sender_fault(inner: str, attributes: str, words: str) -> None:
    with pytest.raises(SoapFault) as caught:
        soap.read_envelope(envelope(inner, attributes))
    assert caught.value.code is FaultCode.SENDER and words in caught.value.reason, caught.value.reason
    assert caught.value.http_status == 400


def test_a_processing_instruction_before_the_envelope_is_a_sender_fault() -> None:
    doc = etree.fromstring(f'<?xml-stylesheet href="x"?><s:Envelope xmlns:s="{ENV}">{HEADER}{BODY}</s:Envelope>')
    with pytest.raises(SoapFault, match="processing instruction"):
        soap.read_envelope(doc)


def test_soap11_gets_a_soap11_version_mismatch_with_upgrade() -> None:
    root = etree.fromstring(f'<e:Envelope xmlns:e="{soap.SOAP11_NS}"><e:Body/></e:Envelope>')
    with pytest.raises(soap.VersionMismatch) as caught:
        soap.read_envelope(root)
    fault = caught.value
    assert fault.soap11 and fault.code is FaultCode.VERSION_MISMATCH and fault.http_status == 500
    assert soap.fault_content_type(fault) == "text/xml; charset=utf-8"
    reply = etree.fromstring(soap.write_fault(fault, "urn:uuid:1"))
    s11 = f"{{{soap.SOAP11_NS}}}"
    assert reply.tag == f"{s11}Envelope"
    supported = reply.find(f"{s11}Header/{{{ENV}}}Upgrade/{{{ENV}}}SupportedEnvelope")
    assert supported is not None
    prefix, _, local = supported.get("qname").partition(":")
    assert (supported.nsmap[prefix], local) == (ENV, "Envelope")
    code = reply.find(f"{s11}Body/{s11}Fault/faultcode")
    prefix, _, local = code.text.partition(":")
    assert (code.nsmap[prefix], local) == (soap.SOAP11_NS, "VersionMismatch")
    parsed = soap.read_fault(reply)
    assert parsed is not None and parsed.code == "soap:VersionMismatch" and "SOAP 1.1" in parsed.reason


def test_another_envelope_namespace_gets_a_soap12_version_mismatch_with_upgrade() -> None:
    root = etree.fromstring('<e:Envelope xmlns:e="urn:example:soap-2.0"><e:Body/></e:Envelope>')
    with pytest.raises(soap.VersionMismatch) as caught:
        soap.read_envelope(root)
    assert not caught.value.soap11
    assert soap.fault_content_type(caught.value) == "application/soap+xml; charset=utf-8"
    reply = etree.fromstring(soap.write_fault(caught.value))
    assert reply.tag == f"{{{ENV}}}Envelope"
    assert reply.find(f"{{{ENV}}}Header/{{{ENV}}}Upgrade/{{{ENV}}}SupportedEnvelope") is not None
    parsed = soap.read_fault(reply)
    assert parsed is not None and parsed.code == "soap:VersionMismatch"


def test_other_faults_carry_no_upgrade() -> None:
    reply = etree.fromstring(soap.write_fault(SoapFault(FaultCode.SENDER, "no")))
    assert reply.find(f"{{{ENV}}}Header/{{{ENV}}}Upgrade") is None


def test_a_root_that_is_no_envelope_is_a_sender_fault() -> None:
    with pytest.raises(SoapFault) as caught:
        soap.read_envelope(etree.fromstring("<x:Request xmlns:x='urn:x'/>"))
    assert caught.value.code is FaultCode.SENDER
