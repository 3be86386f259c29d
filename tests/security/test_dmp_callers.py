"""DMP callers: DIRECTE (professional card: unsigned VIHF over mutual TLS, as the official requests do it)
and INDIRECTE (VIHF signed with the structure's seal), each accepted, each refused without its credential.

The pure verifier first (xdscore.wssec with a client certificate given), then the registry with the dmp
profile behind real uvicorn HTTPS with client certificates (the certificate reaching the hook through the
ASGI TLS extension of xdsservice.tls_peer).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from harness.builders import DMP_PATIENT, dmp_submission
from registry.app import Registry
from registry.config import RegistrySettings
from tests.dmp_records import MemoryRecords
from tests.security import fixtures
from tests.security.server import ServerThread
from xdscore import soap, vihf, wssec, xmlsafe, xua
from xdscore.access.record import PatientRecord
from xdscore.model import Author, PatientKey
from xdscore.principal import AuthenticatedBy, Principal
from xdscore.vocabulary import NS, Action, ResponseStatus
from xdscore.wsse_faults import SecurityFault, WsseFault
from xdsservice.security import SecuritySettings, build_security_hook
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService
from xdsservice.tls import TlsSettings, client_ssl_context, uvicorn_ssl_kwargs
from xuatool.assertion import AssertionSpec, build_assertion, sign_assertion
from xuatool.header import request, security_header, timestamp_for
from xuatool.pki import Credential, TestPki

pki, now = fixtures.pki, fixtures.now
INS = "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"


def directe(card: Credential, when: dt.datetime) -> etree._Element:
    """An unsigned DIRECTE VIHF as KIT-MSG TD2.1 sends it: Issuer = the card's DN, no subject-id."""
    spec = AssertionSpec(authentication_mode=vihf.DIRECTE, issuer=card.certificate.subject.rfc4514_string(),
                         omit_attributes={xua.SUBJECT_ID}, resource_id=INS, vihf_version="3.0")
    return security_header(build_assertion(spec, None, when), timestamp_for(when))


def indirecte(seal: Credential, when: dt.datetime, signed: bool = True) -> etree._Element:
    spec = AssertionSpec(authentication_mode=vihf.INDIRECTE, resource_id=INS)
    assertion = build_assertion(spec, seal, when)
    return security_header(sign_assertion(assertion, seal) if signed else assertion, timestamp_for(when))


def header_of(security: etree._Element) -> etree._Element | None:
    data = request(etree.Element("{urn:example:echo}Echo"), "urn:example:echo:Echo", security)
    return soap.read_envelope(xmlsafe.parse_bytes(data)).header


def policy(pki: TestPki, when: dt.datetime) -> wssec.Policy:
    return wssec.Policy(trust_anchors=pki.trust_anchors, now=when, profile=wssec.Profile.VIHF)


# --- the pure verifier ------------------------------------------------------------------------------------


def test_unsigned_directe_with_the_card_as_tls_client_certificate(pki: TestPki, now: dt.datetime) -> None:
    principal = wssec.verify(header_of(directe(pki.card, now)), policy(pki, now), pki.card.certificate)
    assert isinstance(principal, Principal)
    assert principal.authenticated_by is AuthenticatedBy.TLS_CLIENT_CERTIFICATE
    assert principal.subject_id == "899700000001/MEDECIN TEST"  # the card's holder (CN: no SN / GN in it)
    assert principal.name_id == "899700000001" and principal.authentication_mode == vihf.DIRECTE
    assert principal.signer is not None and principal.signer.subject == pki.card.certificate.subject.rfc4514_string()
    assert principal.structure_id == "10B0012345" and principal.vihf_version == "3.0"


def test_holder_name_from_surname_and_given_name() -> None:
    import datetime as d

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from xuatool.pki import issue

    start = d.datetime.now(d.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "899900038839"), x509.NameAttribute(NameOID.SURNAME, "TRAL"),
                      x509.NameAttribute(NameOID.GIVEN_NAME, "ADEMIS")])
    card = issue(name, None, start, start + d.timedelta(days=1))
    assert wssec.holder_name(card.certificate) == "TRAL, ADEMIS"


@pytest.mark.parametrize(
    "client,kind,reason",
    [
        (None, WsseFault.FAILED_AUTHENTICATION, "the connection carries no verified TLS client certificate"),
        ("rogue", WsseFault.FAILED_AUTHENTICATION, "the TLS client certificate"),
        ("expired", WsseFault.FAILED_AUTHENTICATION, "is not trusted"),
        ("seal", WsseFault.FAILED_AUTHENTICATION, "is not the subject of the signing certificate"),  # Issuer = card DN
    ],
)
def test_unsigned_directe_refused_without_its_card(pki: TestPki, now: dt.datetime, client: str | None,
                                                   kind: WsseFault, reason: str) -> None:
    cert = getattr(pki, client).certificate if client else None
    with pytest.raises(SecurityFault) as info:
        wssec.verify(header_of(directe(pki.card, now)), policy(pki, now), cert)
    assert info.value.kind is kind and reason in info.value.reason, info.value.reason


def test_indirecte_signed_by_the_seal(pki: TestPki, now: dt.datetime) -> None:
    principal = wssec.verify(header_of(indirecte(pki.seal, now)), policy(pki, now))
    assert isinstance(principal, Principal) and principal.authenticated_by is AuthenticatedBy.SIGNATURE
    assert principal.authentication_mode == vihf.INDIRECTE and principal.subject_id == "MEDECIN, TEST"


def test_unsigned_indirecte_is_refused_even_with_a_client_certificate(pki: TestPki, now: dt.datetime) -> None:
    with pytest.raises(SecurityFault) as info:
        wssec.verify(header_of(indirecte(pki.seal, now, signed=False)), policy(pki, now), pki.card.certificate)
    assert info.value.kind is WsseFault.INVALID_SECURITY_TOKEN
    assert info.value.reason == ("the SAML assertion is not signed (an INDIRECTE VIHF is signed with the structure's "
                                 "seal certificate)")


def test_unsigned_plain_xua_stays_refused(pki: TestPki, now: dt.datetime) -> None:
    assertion = build_assertion(AssertionSpec.xua(), None, now)
    pol = dataclasses.replace(policy(pki, now), profile=wssec.Profile.XUA)
    with pytest.raises(SecurityFault, match=r"^the SAML assertion is not signed$"):
        wssec.verify(header_of(security_header(assertion, timestamp_for(now))), pol, pki.card.certificate)


def test_both_spellings_of_the_mode_are_read(pki: TestPki, now: dt.datetime) -> None:
    spec = AssertionSpec(authentication_mode=vihf.INDIRECTE, omit_attributes={vihf.AUTHENTIFICATION_MODE},
                         extra_attributes={vihf.AUTHENTIFICATION_MODE_IG: [vihf.INDIRECTE]})
    assertion = sign_assertion(build_assertion(spec, pki.seal, now), pki.seal)
    principal = wssec.verify(header_of(security_header(assertion, timestamp_for(now))), policy(pki, now))
    assert principal is not None and principal.authentication_mode == vihf.INDIRECTE
    spec.extra_attributes[vihf.AUTHENTIFICATION_MODE_IG] = [vihf.DIRECTE]
    spec.omit_attributes = set()
    assertion = sign_assertion(build_assertion(spec, pki.seal, now), pki.seal)
    with pytest.raises(SecurityFault, match="carries both Authentification_mode and Authentification_Mode"):
        wssec.verify(header_of(security_header(assertion, timestamp_for(now))), policy(pki, now))


# --- over real mutual TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dmp-pki")
    pki.write(folder)
    return folder


def tls(files: Path) -> TlsSettings:
    # optional: a caller without a certificate still reaches the service (an INDIRECTE one needs none)
    return TlsSettings(cert=str(files / "server.pem"), key=str(files / "server.key"),
                       client_ca=str(files / "trust"), client_auth="optional")


def principal_echo(decoded: DecodedRequest, context: RequestContext) -> SoapReply:
    p = context.principal
    out = etree.Element("{urn:example:echo}Who")
    out.text = f"{p.subject_id}|{p.authenticated_by.value}|{p.authentication_mode}" if p else "anonymous"
    return SoapReply(body=out, action="urn:example:echo:EchoResponse")


def context(files: Path, cert: str | None) -> ssl.SSLContext:
    if cert is None:
        return client_ssl_context(str(files / "trust"))
    return client_ssl_context(str(files / "trust"), str(files / f"{cert}.pem"), str(files / f"{cert}.key"))


def post(url: str, body: etree._Element, action: str, security: etree._Element, ctx: ssl.SSLContext) -> etree._Element:
    r = httpx.post(url, content=request(body, action, security), headers={"content-type": "application/soap+xml"},
                   verify=ctx, timeout=30)
    return etree.fromstring(r.content).find(f"{{{NS.SOAP12}}}Body")[0]


def fault_text(body: etree._Element) -> str:
    return "".join(body.itertext())


def test_the_client_certificate_reaches_the_hook_over_mutual_tls(pki: TestPki, files: Path) -> None:
    hook = build_security_hook(SecuritySettings(mode="required", trust_dir=str(files / "trust"), profile="vihf"))
    app = SoapService("/echo", "https://127.0.0.1/echo", {"urn:example:echo:Echo": principal_echo}, security=hook)
    with ServerThread(app, **uvicorn_ssl_kwargs(tls(files))) as server:
        url, when = server.url("/echo", "https"), dt.datetime.now(dt.UTC)
        body = etree.Element("{urn:example:echo}Echo")
        who = post(url, body, "urn:example:echo:Echo", directe(pki.card, when), context(files, "card"))
        assert who.text == "899700000001/MEDECIN TEST|tls-client-certificate|DIRECTE"
        refused = post(url, body, "urn:example:echo:Echo", directe(pki.card, when), context(files, None))
        assert refused.tag == f"{{{NS.SOAP12}}}Fault" and "FailedAuthentication" in fault_text(refused)
        who = post(url, body, "urn:example:echo:Echo", indirecte(pki.seal, when), context(files, None))
        assert who.text == "MEDECIN, TEST|signature|INDIRECTE"


@pytest.fixture(scope="module")
def registry(files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("dmp-registry")
    env = {"XDS_SECURITY": "required", "XDS_TRUST_DIR": str(files / "trust"), "XDS_PROFILE": "dmp",
           "XDS_CONFIG": os.devnull, "XDS_AUDIT_SENDER_TRANSPORT": "off", "XDS_DATA_DIR": str(data),
           "XDS_REGISTRY_FEED_PORT": "0"}
    # the DMP's access rules (docs/dmp-access.md): the patient has an open DMP; the callers author what they send
    reg = Registry(RegistrySettings.load(env), records=MemoryRecords([PatientRecord(DMP_PATIENT)]))
    key = PatientKey.parse(DMP_PATIENT)
    assert key is not None
    with reg.store.write() as tx:
        tx.save_patient(key, DMP_PATIENT, {}, "20260101000000")
    with ServerThread(reg.asgi, **uvicorn_ssl_kwargs(tls(files))) as server:
        yield server.url("/xds/registry", "https")


# The test VIHFs' professional (xuatool's default NameID) and structure, as the submission's author.
CARD_AUTHOR = Author(person="899700000001^TEST^MEDECIN^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                     institutions=("STRUCTURE TEST^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^10B0012345",))


def register(url: str, security: etree._Element, ctx: ssl.SSLContext, signed_submission: bool = True) -> etree._Element:
    submission = dmp_submission(signed=signed_submission, author=CARD_AUTHOR)
    return post(url, submission.xml(), Action.REGISTER.value, security, ctx)


def test_registry_dmp_directe_over_mutual_tls(pki: TestPki, files: Path, registry: str) -> None:
    when = dt.datetime.now(dt.UTC)
    rr = register(registry, directe(pki.card, when), context(files, "card"))
    assert rr.get("status") == ResponseStatus.SUCCESS.value, fault_text(rr)
    refused = register(registry, directe(pki.card, when), context(files, None))
    assert refused.tag == f"{{{NS.SOAP12}}}Fault"
    assert "no verified TLS client certificate" in fault_text(refused)


def test_registry_dmp_indirecte_with_a_seal(pki: TestPki, files: Path, registry: str) -> None:
    when = dt.datetime.now(dt.UTC)
    rr = register(registry, indirecte(pki.seal, when), context(files, None))
    assert rr.get("status") == ResponseStatus.SUCCESS.value, fault_text(rr)
    unsigned = register(registry, indirecte(pki.seal, when, signed=False), context(files, "card"))
    assert unsigned.tag == f"{{{NS.SOAP12}}}Fault" and "an INDIRECTE VIHF is signed" in fault_text(unsigned)
    rogue = register(registry, indirecte(pki.rogue, when), context(files, None))
    assert rogue.tag == f"{{{NS.SOAP12}}}Fault" and "FailedAuthentication" in fault_text(rogue)


def test_registry_dmp_refuses_an_unsigned_submission_with_the_reason(pki: TestPki, files: Path, registry: str) -> None:
    rr = register(registry, indirecte(pki.seal, dt.datetime.now(dt.UTC)), context(files, None), signed_submission=False)
    assert rr.get("status") == ResponseStatus.FAILURE.value
    errors = rr.findall(f".//{{{NS.RS}}}RegistryError")
    assert [e.get("errorCode") for e in errors] == ["XDSRegistryMetadataError"]
    assert "XAdES signature of its SubmissionSet" in errors[0].get("codeContext", "")


def test_the_repository_does_not_forward_an_unsigned_directe_vihf(pki: TestPki, now: dt.datetime) -> None:
    """Only the card on the caller's connection authenticated it; to the registry it would prove nothing."""
    from repository.app import caller_security

    def decoded_with(security: etree._Element) -> DecodedRequest:
        data = request(etree.Element("{urn:example:echo}Echo"), "urn:example:echo:Echo", security)
        return DecodedRequest(soap.read_envelope(xmlsafe.parse_bytes(data)))

    def ctx(principal: Principal | None) -> RequestContext:
        return RequestContext(None, None, "https://127.0.0.1/xds/repository", {}, principal)

    unsigned = decoded_with(directe(pki.card, now))
    by_card = wssec.verify(unsigned.request.header, policy(pki, now), pki.card.certificate)
    assert caller_security(unsigned, ctx(by_card)) is None
    sealed = decoded_with(indirecte(pki.seal, now))
    by_seal = wssec.verify(sealed.request.header, policy(pki, now))
    forwarded = caller_security(sealed, ctx(by_seal))
    assert forwarded is not None and forwarded.tag == f"{{{NS.WSSE}}}Security"
