"""VIHFs of the DMP's callers for the service tests: DIRECTE (the professional's card: unsigned over mutual
TLS as the official requests, or signed with the card) and INDIRECTE (signed with the structure's seal),
each with its professional (NameID), structure, patient (resource-id) and access mode."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from lxml import etree

from tests.dmp.messages import PATIENT, cx, schema
from xdscore import vihf, xua
from xdscore.dmpws.vocabulary import DmpNS
from xdscore.vocabulary import NS
from xdsservice.tls import client_ssl_context
from xuatool.assertion import ACCESS_NORMAL, AssertionSpec, Code, build_assertion, sign_assertion
from xuatool.header import request, security_header, timestamp_for
from xuatool.pki import TestPki

ANSWER_SCHEMAS = {DmpNS.HL7: schema("hl7v3-gdp.xsd"), DmpNS.GDP: schema("gdp.xsd"),
                  DmpNS.HABILITATIONS: schema("habilitations.xsd"), DmpNS.PATIENTS: schema("patients-specific.xsd")}
DOCTOR = "899900063480"  # KIT-MSG's LIBRE MAX
STRUCTURE = "499900063480001"


@dataclass
class Vihf:
    name_id: str = DOCTOR
    subject: str = "LIBRE, MAX"
    patient: str = field(default_factory=lambda: cx(PATIENT))
    mode: str = vihf.DIRECTE
    signed: bool = False  # DIRECTE: unsigned (the card is the TLS client certificate) unless signed with the card
    purpose: Code = ACCESS_NORMAL
    structure: str = STRUCTURE

    def header(self, pki: TestPki) -> etree._Element:
        now = dt.datetime.now(dt.UTC)
        spec = AssertionSpec(authentication_mode=self.mode, name_id=self.name_id, subject_id=self.subject,
                             resource_id=self.patient, purpose_of_use=[self.purpose], structure_id=self.structure,
                             vihf_version="3.0")
        if self.mode == vihf.DIRECTE and not self.signed:
            spec.issuer = pki.card.certificate.subject.rfc4514_string()
            spec.omit_attributes = {xua.SUBJECT_ID}
            if not self.patient:
                spec.omit_attributes.add(xua.RESOURCE_ID)
            return security_header(build_assertion(spec, None, now), timestamp_for(now))
        if not self.patient:
            spec.omit_attributes = {xua.RESOURCE_ID}
        signer = pki.card if self.mode == vihf.DIRECTE else pki.seal
        return security_header(sign_assertion(build_assertion(spec, signer, now), signer), timestamp_for(now))


class Client:
    """Posts SOAP 1.2 requests to the DMP's services of one server, as a DMP client does."""

    def __init__(self, pki: TestPki, base: str, files: Path | None = None) -> None:
        self.pki, self.base, self.files = pki, base.rstrip("/"), files

    def context(self, card: bool) -> ssl.SSLContext | bool:
        if self.files is None:
            return True
        trust = str(self.files / "trust")
        return client_ssl_context(trust, str(self.files / "card.pem"), str(self.files / "card.key")) if card else \
            client_ssl_context(trust)

    def raw(self, service: str, data: bytes, card: bool = True, content_type: str = "application/soap+xml") -> httpx.Response:
        return httpx.post(f"{self.base}/{service}", content=data, headers={"content-type": content_type},
                          verify=self.context(card), timeout=30)

    def post(self, service: str, body: etree._Element, action: str, caller: Vihf | None = None,
             card: bool = True) -> etree._Element:
        """The answer's Body child (the service's answer, or a soap:Fault)."""
        security = (caller or Vihf()).header(self.pki)
        data = request(body, action, security)
        r = self.raw(service, data, card=card)
        answer: etree._Element = etree.fromstring(r.content).find(f"{{{NS.SOAP12}}}Body")[0]
        return valid_answer(answer)


def valid_answer(answer: etree._Element) -> etree._Element:
    """Every answer of a DMP service, accepted or refused, validates against its schema in `schemas/dmp/`
    (issue 13: "each service's requests and answers validate"); a SOAP fault or an XDS answer (`/registry`)
    has none of these namespaces."""
    schema = ANSWER_SCHEMAS.get(etree.QName(answer).namespace or "")
    if schema is not None:
        assert schema.validate(answer), (schema.error_log, etree.tostring(answer)[:800])
    return answer


def fault_reason(element: etree._Element) -> str:
    assert element.tag == f"{{{NS.SOAP12}}}Fault", etree.tostring(element)[:500]
    return "".join(element.find(f"{{{NS.SOAP12}}}Reason").itertext())
