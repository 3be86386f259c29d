"""SOAP 1.2 mustUnderstand (Part 1 §5.2.3) as `xdscore.soap` applies it: which header blocks a node
must understand, for which roles, and what counts as understood with and without a security hook."""

from __future__ import annotations

import pytest
from lxml import etree

from xdscore import soap
from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS

_ENV = f"{{{NS.SOAP12}}}"


def header_with(tag: str, must_understand: str | None = "true", role: str | None = None) -> etree._Element:
    env = soap.request_envelope(etree.Element("{urn:x}E"), "urn:x:a")
    header = env.find(f"{_ENV}Header")
    assert header is not None
    block = etree.SubElement(header, tag)
    if must_understand is not None:
        block.set(f"{_ENV}mustUnderstand", must_understand)
    if role is not None:
        block.set(f"{_ENV}role", role)
    return header


def refused(header: etree._Element, understood: frozenset[str]) -> SoapFault:
    with pytest.raises(SoapFault) as info:
        soap.check_must_understand(header, understood)
    assert info.value.code is FaultCode.MUST_UNDERSTAND and info.value.http_status == 500
    return info.value


SECURITY = f"{{{NS.WSSE}}}Security"


def test_security_is_understood_only_with_a_hook() -> None:
    header = header_with(SECURITY)
    soap.check_must_understand(header, soap.UNDERSTOOD)  # today's default: read_envelope keeps it
    assert "Security" in refused(header, soap.UNDERSTOOD_WITHOUT_SECURITY).reason
    # the envelope reader takes the same parameter
    with pytest.raises(SoapFault):
        soap.read_envelope(header.getparent(), understood=soap.UNDERSTOOD_WITHOUT_SECURITY)
    assert soap.read_envelope(header.getparent()).header is header


@pytest.mark.parametrize("value", ["true", "1", " true ", "TRUE"])
def test_mandatory_values(value: str) -> None:
    refused(header_with("{urn:example:other}Block", value), soap.UNDERSTOOD)


@pytest.mark.parametrize("value", [None, "false", "0", ""])
def test_optional_blocks_are_never_a_fault(value: str | None) -> None:
    soap.check_must_understand(header_with("{urn:example:other}Block", value), soap.UNDERSTOOD_WITHOUT_SECURITY)
    soap.check_must_understand(header_with(SECURITY, value), soap.UNDERSTOOD_WITHOUT_SECURITY)


@pytest.mark.parametrize("role", [soap.ROLE_NEXT, soap.ROLE_ULTIMATE_RECEIVER, ""])
def test_blocks_targeted_at_us(role: str) -> None:
    refused(header_with(SECURITY, role=role), soap.UNDERSTOOD_WITHOUT_SECURITY)


@pytest.mark.parametrize("role", [f"{NS.SOAP12}/role/none", "urn:example:another-actor"])
def test_blocks_for_other_roles_are_not_ours(role: str) -> None:
    soap.check_must_understand(header_with(SECURITY, role=role), soap.UNDERSTOOD_WITHOUT_SECURITY)
    soap.check_must_understand(header_with("{urn:example:other}Block", role=role), soap.UNDERSTOOD)


def test_addressing_is_always_understood() -> None:
    header = header_with(f"{{{NS.WSA}}}Action")  # request_envelope already marks wsa:Action mandatory
    soap.check_must_understand(header, soap.UNDERSTOOD_WITHOUT_SECURITY)
