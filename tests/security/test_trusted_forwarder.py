"""DMP DIRECTE through the repository: the repository passes the card it verified on to the registry
(xdscore.forwarded), and the registry believes it only from a trusted forwarder, recognised by its TLS client
certificate (`trusted_forwarders`, mutual TLS).

The pure verifier first, then the whole path over real mutual TLS: a DIRECTE ITI-41 (unsigned VIHF, the card
as the caller's TLS client certificate) to a repository that registers over mutual TLS with its own client
certificate; stored and registered when the registry trusts that certificate, refused when it does not.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from harness.builders import DMP_PATIENT, DMP_PS, dmp_submission
from harness.wire import Content, Reply, parse_reply, pnr_element, retrieve_element
from registry.app import Registry
from registry.config import RegistrySettings
from repository.app import Repository, caller_security
from repository.config import RepositorySettings
from tests.dmp_records import MemoryRecords
from tests.security import fixtures
from tests.security.server import ServerThread
from tests.security.test_dmp_callers import directe, header_of, indirecte, policy
from xdscore import forwarded, soap, vihf, wssec, xmlsafe, xua
from xdscore.access.record import Authorisation, PatientRecord
from xdscore.model import PatientKey
from xdscore.principal import AuthenticatedBy, Principal
from xdscore.vocabulary import NS, Action
from xdscore.wsse_faults import SecurityFault, WsseFault
from xdsservice.access import trusted_system
from xdsservice.config import SettingsError
from xdsservice.security import SecurityConfigError, load_forwarders
from xdsservice.soapapp import DecodedRequest, RequestContext
from xdsservice.tls import TlsSettings, client_ssl_context, uvicorn_ssl_kwargs
from xuatool.assertion import AssertionSpec, build_assertion
from xuatool.header import request, security_header, timestamp_for
from xuatool.pki import TestPki, issue

pki, now = fixtures.pki, fixtures.now
AUTHOR = DMP_PS.split("^")[0]  # the IdNat_PS of dmp_submission's author and legalAuthenticator
RS = f"{{{NS.RS}}}"


def forwarding(pki: TestPki, when: dt.datetime) -> wssec.Policy:
    """The registry's policy: the repository's TLS client certificate (the test PKI's `client`) is trusted."""
    return replace(policy(pki, when), trusted_forwarders=frozenset({forwarded.fingerprint(pki.client.certificate)}))


def forwarded_header(pki: TestPki, when: dt.datetime, card: object | None = None) -> etree._Element | None:
    security = forwarded.with_card(directe(pki.card, when), (card or pki.card).certificate)  # type: ignore[attr-defined]
    return header_of(security)


# --- the pure verifier ------------------------------------------------------------------------------------


def test_a_trusted_forwarder_passes_the_card(pki: TestPki, now: dt.datetime) -> None:
    principal = wssec.verify(forwarded_header(pki, now), forwarding(pki, now), pki.client.certificate)
    assert isinstance(principal, Principal)
    assert principal.authenticated_by is AuthenticatedBy.FORWARDED_TLS_CLIENT_CERTIFICATE
    assert principal.signer is not None and principal.signer.subject == pki.card.certificate.subject.rfc4514_string()
    assert principal.forwarded_by is not None
    assert principal.forwarded_by.subject == pki.client.certificate.subject.rfc4514_string()
    assert principal.subject_id == "899700000001/MEDECIN TEST" and principal.name_id == "899700000001"


def _two_tokens(pki: TestPki, when: dt.datetime) -> etree._Element | None:
    security = forwarded.with_card(directe(pki.card, when), pki.card.certificate)
    security.insert(0, etree.fromstring(etree.tostring(security[0])))
    return header_of(security)


def _garbage_token(pki: TestPki, when: dt.datetime) -> etree._Element | None:
    security = forwarded.with_card(directe(pki.card, when), pki.card.certificate)
    security[0].text = base64.b64encode(b"not a certificate").decode()
    return header_of(security)


@pytest.mark.parametrize(
    "name,kind,reason",
    [
        ("no card from the forwarder", WsseFault.FAILED_AUTHENTICATION,
         "passed an unsigned DIRECTE VIHF without the card it verified"),
        ("a card from a connection that is no forwarder", WsseFault.FAILED_AUTHENTICATION,
         "is not the subject of the signing certificate"),
        ("an untrusted card", WsseFault.FAILED_AUTHENTICATION, "the forwarded card"),
        ("the seal as the card", WsseFault.FAILED_AUTHENTICATION, "is not the subject of the signing certificate"),
        ("two cards", WsseFault.INVALID_SECURITY, "2 X.509 BinarySecurityTokens"),
        ("a token that is no certificate", WsseFault.INVALID_SECURITY_TOKEN, "is not a readable certificate"),
        ("an unsigned INDIRECTE VIHF", WsseFault.INVALID_SECURITY_TOKEN, "the SAML assertion is not signed"),
    ],
)
def test_what_a_forwarder_cannot_do(pki: TestPki, now: dt.datetime, name: str, kind: WsseFault, reason: str) -> None:
    client = pki.client.certificate
    header = {
        "no card from the forwarder": lambda: header_of(directe(pki.card, now)),
        "a card from a connection that is no forwarder": lambda: forwarded_header(pki, now),
        "an untrusted card": lambda: forwarded_header(pki, now, pki.rogue),
        "the seal as the card": lambda: forwarded_header(pki, now, pki.seal),
        "two cards": lambda: _two_tokens(pki, now),
        "a token that is no certificate": lambda: _garbage_token(pki, now),
        "an unsigned INDIRECTE VIHF": lambda: header_of(forwarded.with_card(indirecte(pki.seal, now, signed=False),
                                                                            pki.card.certificate)),
    }[name]()
    pol = policy(pki, now) if name == "a card from a connection that is no forwarder" else forwarding(pki, now)
    with pytest.raises(SecurityFault) as info:
        wssec.verify(header, pol, client)
    assert info.value.kind is kind and reason in info.value.reason, info.value.reason


def test_the_card_s_own_connection_still_works_beside_a_forwarder(pki: TestPki, now: dt.datetime) -> None:
    """A registry that trusts a forwarder still takes DIRECTE callers on their own card connection."""
    principal = wssec.verify(header_of(directe(pki.card, now)), forwarding(pki, now), pki.card.certificate)
    assert principal is not None and principal.authenticated_by is AuthenticatedBy.TLS_CLIENT_CERTIFICATE
    assert principal.forwarded_by is None


def test_a_trusted_forwarder_may_call_without_an_assertion(pki: TestPki, now: dt.datetime) -> None:
    """Its pinned certificate authenticates it (the repository's own ITI-18); nobody else's does."""
    pol = forwarding(pki, now)
    assert pol.require_assertion and wssec.verify(None, pol, pki.client.certificate) is None
    for other in (pki.card.certificate, None):
        with pytest.raises(SecurityFault, match="requires a signed SAML assertion"):
            wssec.verify(None, pol, other)


def test_the_access_layer_believes_only_a_trusted_forwarder(pki: TestPki) -> None:
    """xdsservice.access.trusted_system: the OnBehalfOf block and the unfiltered system calls of the DMP access
    layer come from a pinned forwarder, not from any verified client certificate (a card verifies too)."""
    prints = frozenset({forwarded.fingerprint(pki.client.certificate)})

    def ctx(pem: bytes | None) -> SimpleNamespace:
        return SimpleNamespace(tls_peer={"client_cert_chain": [pem.decode()]} if pem else None)

    assert trusted_system(ctx(pki.client.cert_pem()), prints)
    assert not trusted_system(ctx(pki.card.cert_pem()), prints)
    assert not trusted_system(ctx(None), prints)


def test_forwarder_files_are_checked_at_start(tmp_path: Path, pki: TestPki) -> None:
    (tmp_path / "two.pem").write_bytes(pki.client.cert_pem() + pki.seal.cert_pem())
    assert load_forwarders(f"{tmp_path / 'two.pem'}, ") == {forwarded.fingerprint(pki.client.certificate),
                                                            forwarded.fingerprint(pki.seal.certificate)}
    (tmp_path / "bad.pem").write_text("not a certificate")
    for name, reason in (("missing.pem", "missing.pem: No such file"), ("bad.pem", "is not a PEM certificate file")):
        with pytest.raises(SecurityConfigError, match=reason):
            load_forwarders(str(tmp_path / name))


def test_the_repository_forwards_the_card_it_verified(pki: TestPki, now: dt.datetime) -> None:
    """caller_security: the caller's header with the card as the one X.509 token (a token the caller put
    there is replaced); a signed VIHF goes on unchanged."""
    def decoded_with(security: etree._Element) -> DecodedRequest:
        data = request(etree.Element("{urn:example:echo}Echo"), "urn:example:echo:Echo", security)
        return DecodedRequest(soap.read_envelope(xmlsafe.parse_bytes(data)))

    def ctx(principal: Principal | None, card_pem: str | None = None) -> RequestContext:
        tls = {"client_cert_chain": [card_pem]} if card_pem else None
        return RequestContext(None, None, "https://127.0.0.1/xds/repository", {}, principal, tls_peer=tls)

    sneaky = forwarded.with_card(directe(pki.card, now), pki.rogue.certificate)  # the caller's own token
    unsigned = decoded_with(sneaky)
    by_card = wssec.verify(unsigned.request.header, policy(pki, now), pki.card.certificate)
    out = caller_security(unsigned, ctx(by_card, pki.card.cert_pem().decode()))
    assert out is not None and forwarded.read_card(out) == pki.card.certificate
    assert len(out.findall(forwarded.BINARY_TOKEN)) == 1
    sealed = decoded_with(indirecte(pki.seal, now))
    by_seal = wssec.verify(sealed.request.header, policy(pki, now))
    out = caller_security(sealed, ctx(by_seal))
    assert out is not None and forwarded.read_card(out) is None
    assert caller_security(sealed, ctx(None)) is None  # nothing verified, nothing forwarded


def test_trusted_forwarders_need_mutual_tls(files: Path) -> None:
    env = {"XDS_CONFIG": os.devnull, "XDS_TRUST_DIR": str(files / "trust"), "XDS_PROFILE": "dmp",
           "XDS_REGISTRY_SECURITY_TRUSTED_FORWARDERS": str(files / "client.pem")}
    with pytest.raises(SettingsError, match="does not ask for client certificates"):
        RegistrySettings.load(env)
    assert RegistrySettings.load(env | tls_env(files, "registry", "optional")).security.trusted_forwarders


# --- the whole path over real mutual TLS -------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("forwarder-pki")
    pki.write(folder)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another-repository")])
    other = issue(name, pki.ca, start, start + dt.timedelta(days=30), tls_client=True)  # a TLS client, no forwarder
    (folder / "other.pem").write_bytes(other.cert_pem())
    (folder / "other.key").write_bytes(other.key_pem())
    return folder


def tls(files: Path, client_auth: str) -> TlsSettings:
    return TlsSettings(cert=str(files / "server.pem"), key=str(files / "server.key"), client_ca=str(files / "trust"),
                       client_auth=client_auth)


def tls_env(files: Path, service: str, client_auth: str) -> dict[str, str]:
    prefix = f"XDS_{service.upper()}_TLS_"
    return {f"{prefix}CERT": str(files / "server.pem"), f"{prefix}KEY": str(files / "server.key"),
            f"{prefix}CLIENT_CA": str(files / "trust"), f"{prefix}CLIENT_AUTH": client_auth}


@pytest.fixture(scope="module")
def services(files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One registry (dmp, WS-Security required, trusting the `client` certificate as a forwarder) and two
    repositories registering with it over mutual TLS: one with `client`, one with `other`."""
    data = tmp_path_factory.mktemp("forwarder")
    common = {"XDS_CONFIG": os.devnull, "XDS_TRUST_DIR": str(files / "trust"), "XDS_PROFILE": "dmp",
              "XDS_AUDIT_SENDER_TRANSPORT": "off", "XDS_DATA_DIR": str(data)}
    registry = Registry(RegistrySettings.load(
        common | tls_env(files, "registry", "required") | {
            "XDS_REGISTRY_FEED_PORT": "0", "XDS_REGISTRY_SECURITY_TRUSTED_FORWARDERS": str(files / "client.pem")}),
        records=MemoryRecords([PatientRecord(DMP_PATIENT, authorised=(Authorisation(AUTHOR),))]))
    key = PatientKey.parse(DMP_PATIENT)
    assert key is not None
    with registry.store.write() as tx:
        tx.save_patient(key, DMP_PATIENT, {}, "20260101000000")
    with ServerThread(registry.asgi, **uvicorn_ssl_kwargs(tls(files, "required"))) as reg_server:
        urls = {"registry": reg_server.url("/xds/registry", "https")}
        repositories = []
        for name, cert in (("trusted", "client"), ("other", "other")):
            settings = RepositorySettings.load(common | tls_env(files, "repository", "optional") | {
                "XDS_REPOSITORY_REGISTRY_URL": urls["registry"], "XDS_REPOSITORY_REGISTRY_TLS_CA": str(files / "trust"),
                "XDS_REPOSITORY_REGISTRY_TLS_CERT": str(files / f"{cert}.pem"),
                "XDS_REPOSITORY_REGISTRY_TLS_KEY": str(files / f"{cert}.key"),
                "XDS_REPOSITORY_DATA_DIR": str(data / f"repository-{name}")})
            repositories.append((name, Repository(settings)))
        with ServerThread(repositories[0][1].asgi, **uvicorn_ssl_kwargs(tls(files, "optional"))) as trusted, \
                ServerThread(repositories[1][1].asgi, **uvicorn_ssl_kwargs(tls(files, "optional"))) as other:
            urls["trusted"] = trusted.url("/xds/repository", "https")
            urls["other"] = other.url("/xds/repository", "https")
            yield urls


def context(files: Path, cert: str | None) -> ssl.SSLContext:
    if cert is None:
        return client_ssl_context(str(files / "trust"))
    return client_ssl_context(str(files / "trust"), str(files / f"{cert}.pem"), str(files / f"{cert}.key"))


def send(url: str, body: etree._Element, action: Action, security: etree._Element, ctx: ssl.SSLContext) -> Reply:
    r = httpx.post(url, content=request(body, action.value, security),
                   headers={"content-type": f'application/soap+xml; action="{action.value}"'}, verify=ctx, timeout=60)
    return parse_reply(r.status_code, r.headers.get("content-type", ""), r.content)


def author_directe(pki: TestPki) -> etree._Element:
    """The unsigned DIRECTE VIHF of the submission's author (the DMP feeds only from an author, rule 4), who is
    authorised on the patient's record (a DIRECTE professional reads with an authorisation, rule 2)."""
    spec = AssertionSpec(authentication_mode=vihf.DIRECTE, issuer=pki.card.certificate.subject.rfc4514_string(),
                         omit_attributes={xua.SUBJECT_ID}, resource_id=DMP_PATIENT, vihf_version="3.0", name_id=AUTHOR)
    when = dt.datetime.now(dt.UTC)
    return security_header(build_assertion(spec, None, when), timestamp_for(when))


def provide(url: str, files: Path, pki: TestPki) -> tuple[Reply, str]:
    """A DIRECTE ITI-41 (unsigned VIHF, the card on the connection) of the DMP's TD2.1 shape."""
    builder = dmp_submission()
    body, _ = pnr_element(builder, {"Document01": Content.of(b"hello"), "Signature01": Content.of(b"hello")}, inline=True)
    uid = builder.submission().document_entries[0].unique_id or ""
    return send(url, body, Action.PROVIDE_AND_REGISTER, author_directe(pki), context(files, "card")), uid


def retrieve(url: str, files: Path, pki: TestPki, uid: str) -> Reply:
    return send(url, retrieve_element(("1.19.6.24.109.42.1", uid)), Action.RETRIEVE, author_directe(pki),
                context(files, "card"))


def test_directe_through_a_trusted_repository_is_stored_and_registered(pki: TestPki, files: Path,
                                                                       services: dict[str, str]) -> None:
    reply, uid = provide(services["trusted"], files, pki)
    assert reply.status == "Success", etree.tostring(reply.body)
    back = retrieve(services["trusted"], files, pki, uid)
    assert back.documents() == {uid: ("text/xml", b"hello")}, etree.tostring(back.body)


def test_directe_through_an_untrusted_repository_is_refused(pki: TestPki, files: Path, services: dict[str, str]) -> None:
    reply, uid = provide(services["other"], files, pki)
    assert reply.status == "Failure" and reply.error_codes == ["XDSRegistryError"], etree.tostring(reply.body)
    context = next(reply.registry_response.iter(f"{RS}RegistryError")).get("codeContext", "")
    assert "FailedAuthentication" in context, context
    # nothing registered (asked through the trusted repository) and nothing served by the untrusted one
    back = retrieve(services["trusted"], files, pki, uid)
    assert back.documents() == {} and back.error_codes == ["XDSDocumentUniqueIdError"], etree.tostring(back.body)
    assert retrieve(services["other"], files, pki, uid).documents() == {}
