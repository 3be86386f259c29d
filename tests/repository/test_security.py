"""The repository with WS-Security `required` in front of a registry that requires it too (same trust
folder, same audience), and mutual TLS between them. Real processes, real signatures, real HTTP.

- a valid assertion: ITI-41 succeeds, which the registry only allows because the repository's ITI-42
  carries the caller's wsse:Security header; ITI-43 with a valid assertion returns the bytes unchanged;
- every refused assertion gets its wsse fault from the repository, and nothing is stored: no blob, no
  spool file, no row in the repository's store, nothing in the registry;
- a repository that verified nothing forwards nothing, and the registry's refusal comes back as
  XDSRegistryError with nothing kept;
- mutual TLS: the repository presents its client certificate to the registry and trusts its CA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lxml import etree

from harness.builders import new_patient_id
from harness.services import Service, feed_patient, start_registry, start_repository
from harness.wire import (
    Content,
    Reply,
    builder_without_repository_slots,
    mtom_request,
    parse_reply,
    pnr_element,
    post_simple,
    provide,
    retrieve_element,
    simple_request,
)
from repository.app import Repository
from repository.registry_client import RegistryClient
from repository.store import DocumentStore
from tests.repository.conftest import REPO_ID, repository_settings
from xdscore import soap
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, UUID, Action, ErrorCode, ResponseStatus, Status
from xdscore.vocabulary import StoredQueryId as Q
from xuatool import pki as pki_module
from xuatool.header import add_security_to_bytes, security_header, timestamp_for
from xuatool.variants import VARIANTS, VariantContext, expected_fault, make

AUDIENCE = "urn:pyxds:test-xds"
REFUSED = [
    "expired", "notyetvalid", "unsigned", "untrusted", "expiredcertificate", "tampered", "unknownaudience",
    "secondrole", "invalidauthnstatement", "expiredtimestamp",
]
SPILLED = 1024 * 1024 + 4096  # above the default spill threshold: the document goes through a spool file


@dataclass(frozen=True)
class Pki:
    generated: pki_module.TestPki
    trust: Path  # the CA folder both services trust (XDS_TRUST_DIR, client CA)
    folder: Path  # server.pem/key, client.pem/key

    def context(self) -> VariantContext:
        return VariantContext(self.generated, dt.datetime.now(dt.UTC), profile="xua", audience=AUDIENCE)

    def security(self, variant: str = "valid") -> etree._Element:
        return make(variant, self.context())

    def tls_client(self, with_certificate: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.trust / "ca.pem"))
        if with_certificate:
            ctx.load_cert_chain(str(self.folder / "client.pem"), str(self.folder / "client.key"))
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    generated = pki_module.generate()
    return Pki(generated, generated.write(folder), folder)


def _security_env(pki: Pki) -> dict[str, str]:
    return {"XDS_SECURITY": "required", "XDS_TRUST_DIR": str(pki.trust), "XDS_SECURITY_AUDIENCE": AUDIENCE, "XDS_PROFILE": "ihe"}


@dataclass
class Pair:
    registry: Service
    repository: Service
    verify: ssl.SSLContext | bool = True  # how a client reaches them

    @property
    def registry_url(self) -> str:
        return self.registry.url.replace("http://", "https://") if self.verify is not True else self.registry.url

    @property
    def repository_url(self) -> str:
        return self.repository.url.replace("http://", "https://") if self.verify is not True else self.repository.url

    @property
    def repository_root(self) -> Path:
        return self.repository.data_dir / "repository"


@pytest.fixture(scope="module")
def secured(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    registry = start_registry(tmp_path_factory.mktemp("registry"), env=_security_env(pki))
    try:
        repository = start_repository(tmp_path_factory.mktemp("repository"), registry.url, env=_security_env(pki))
    except Exception:
        registry.stop()
        raise
    yield Pair(registry, repository)
    repository.stop()
    registry.stop()


# ------------------------------------------------------------------------------------------------
# What the services hold


def registry_documents(pair: Pair, pki: Pki, patient: str) -> int:
    """How many approved DocumentEntries the registry holds for `patient` (ITI-18 with a valid assertion)."""
    query = encode_request(
        Q.FindDocuments,
        {"$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": [Status.APPROVED.value]},
        ReturnType.OBJECT_REF,
    )
    envelope = etree.tostring(soap.request_envelope(query, Action.STORED_QUERY.value), xml_declaration=True, encoding="UTF-8")
    r = httpx.post(
        pair.registry_url,
        content=add_security_to_bytes(envelope, pki.security()),
        headers={"content-type": "application/soap+xml"},
        verify=pki.tls_client() if pair.verify is not True else True,
        timeout=30,
    )
    body = etree.fromstring(r.content).find(f"{{{NS.SOAP12}}}Body")
    assert body is not None and body[0].get("status") == ResponseStatus.SUCCESS.value, r.content[:600]
    return len(body[0].find(f"{{{NS.RIM}}}RegistryObjectList"))


def blob_files(root: Path) -> set[str]:
    return {p.name for p in (root / "blobs").glob("*/*")}


def assert_nothing_stored(pair: Pair, pki: Pki, patient: str, uid: str, sha1: str, blobs_before: set[str]) -> None:
    root = pair.repository_root
    assert blob_files(root) == blobs_before and not (root / "blobs" / sha1[:2] / sha1).exists()
    deadline = time.monotonic() + 5  # spool files go once the reply is sent (DecodedRequest.on_close)
    while list((root / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((root / "tmp").iterdir()) == []
    store = DocumentStore(f"sqlite:///{root / 'repository.db'}")
    try:
        assert [d for d in store.all() if d.unique_id == uid] == []  # neither stored nor pending
    finally:
        store.close()
    assert registry_documents(pair, pki, patient) == 0


@dataclass
class Submission:
    patient: str
    uid: str
    content: Content
    builder: object
    entry_id: str


def new_submission(pair: Pair, size: int = 2048) -> Submission:
    patient = new_patient_id()
    assert "MSA|AA" in feed_patient(pair.registry.feed_port, patient)
    builder = builder_without_repository_slots(patient)
    entry = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
    uid = next(e.value for e in entry.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)
    content = Content.generated(size, seed=int(hashlib.sha1(uid.encode()).hexdigest()[:8], 16))
    return Submission(patient, uid, content, builder, entry.id)


def send(pair: Pair, sub: Submission, security: etree._Element | None) -> Reply:
    with httpx.Client(timeout=60, verify=pair.verify) as client:
        return provide(client, pair.repository_url, sub.builder, {sub.entry_id: sub.content}, security=security)  # type: ignore[arg-type]


def fetch(pair: Pair, uid: str, security: etree._Element | None) -> Reply:
    content_type, data = simple_request(retrieve_element((REPO_ID, uid)), Action.RETRIEVE, security)
    with httpx.Client(timeout=60, verify=pair.verify) as client:
        return post_simple(client, pair.repository_url, content_type, data)


def fault_of(reply: Reply) -> soap.ParsedFault:
    fault = soap.read_fault(reply.envelope)
    assert fault is not None, etree.tostring(reply.body)[:400]
    return fault


def wsse_subcode(reply: Reply) -> str:
    """The fault's Subcode as a resolved QName's local part, after checking it is in the wsse namespace."""
    value = reply.envelope.find(f".//{{{NS.SOAP12}}}Subcode/{{{NS.SOAP12}}}Value")
    assert value is not None and value.text, etree.tostring(reply.body)[:400]
    prefix, _, local = value.text.strip().rpartition(":")
    assert value.nsmap.get(prefix or None) == NS.WSSE, value.text
    return local


# ------------------------------------------------------------------------------------------------
# Both services in `required` mode


def test_valid_assertion_provides_registers_and_retrieves(secured: Pair, pki: Pki) -> None:
    sub = new_submission(secured, SPILLED)
    reply = send(secured, sub, pki.security())
    assert (reply.status_code, reply.status, reply.error_codes) == (200, "Success", [])
    assert registry_documents(secured, pki, sub.patient) == 1  # the registry took the forwarded assertion
    got = fetch(secured, sub.uid, pki.security())
    assert got.status == "Success"
    (mime, data) = got.documents()[sub.uid]
    assert mime == "text/plain" and hashlib.sha1(data).hexdigest() == sub.content.sha1 and data == sub.content.read()


def test_no_assertion_is_refused_and_stores_nothing(secured: Pair, pki: Pki) -> None:
    sub = new_submission(secured, SPILLED)
    before = blob_files(secured.repository_root)
    reply = send(secured, sub, None)
    fault = fault_of(reply)
    assert reply.status_code == 400 and fault.code.endswith(":Sender") and wsse_subcode(reply) == "InvalidSecurity"
    assert_nothing_stored(secured, pki, sub.patient, sub.uid, sub.content.sha1, before)


@pytest.mark.parametrize("variant", REFUSED)
def test_refused_assertion_gets_its_fault_and_stores_nothing(secured: Pair, pki: Pki, variant: str) -> None:
    assert variant in VARIANTS
    expected = expected_fault(variant)
    assert expected is not None
    sub = new_submission(secured, SPILLED)
    before = blob_files(secured.repository_root)
    reply = send(secured, sub, pki.security(variant))
    fault = fault_of(reply)
    assert reply.status_code == 400 and fault.code.endswith(":Sender") and fault.reason
    assert wsse_subcode(reply) == expected.value, (fault, expected)
    assert_nothing_stored(secured, pki, sub.patient, sub.uid, sub.content.sha1, before)


@pytest.mark.parametrize("variant", [None, "tampered", "unknownaudience"])
def test_retrieve_refuses_bad_assertions(secured: Pair, pki: Pki, variant: str | None) -> None:
    sub = new_submission(secured)
    assert send(secured, sub, pki.security()).status == "Success"
    reply = fetch(secured, sub.uid, pki.security(variant) if variant else None)
    expected = expected_fault(variant) if variant else None
    assert reply.status_code == 400 and fault_of(reply).code.endswith(":Sender")
    assert wsse_subcode(reply) == (expected.value if expected else "InvalidSecurity")
    assert reply.attachments == {}


async def provide_in_process(repository: Repository, sub: Submission, security: etree._Element | None) -> Reply:
    body, parts = pnr_element(sub.builder, {sub.entry_id: sub.content})  # type: ignore[arg-type]
    encoded = mtom_request(body, parts, Action.PROVIDE_AND_REGISTER, security)
    transport = httpx.ASGITransport(app=repository.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://repository.test", timeout=60) as client:
        r = await client.post("/xds/repository", content=b"".join(encoded.chunks), headers={"content-type": encoded.content_type})
    return parse_reply(r.status_code, r.headers["content-type"], r.content)


def _unverified_header(kind: str, pki: Pki) -> etree._Element | None:
    if kind == "timestamp-only":
        return security_header(None, timestamp_for())
    if kind == "valid-not-must-understand":  # a service in `off` mode may ignore it (SOAP 1.2 §5.2.3)
        security = pki.security()
        del security.attrib[f"{{{NS.SOAP12}}}mustUnderstand"]
        return security
    return None


@pytest.mark.parametrize(
    "mode,header",
    [("optional", "none"), ("optional", "timestamp-only"), ("off", "valid-not-must-understand")],
)
async def test_nothing_verified_nothing_forwarded(
    secured: Pair, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, header: str
) -> None:
    """Only a header whose assertion the repository verified goes on to the registry. Here it verified
    nothing (an anonymous call in `optional` mode; any call in `off` mode, even one carrying a valid
    assertion), so the registry (`required`) refuses the ITI-42, and the repository answers
    XDSRegistryError and keeps nothing."""
    monkeypatch.setenv("XDS_TRUST_DIR", str(pki.trust))
    monkeypatch.setenv("XDS_SECURITY_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("XDS_REPOSITORY_SECURITY", mode)
    repository = Repository(repository_settings(tmp_path, secured.registry.url))
    try:
        sub = new_submission(secured, SPILLED)
        reply = await provide_in_process(repository, sub, _unverified_header(header, pki))
        assert (reply.status, reply.error_codes) == ("Failure", [ErrorCode.XDSRegistryError.value])
        assert repository.store.all() == [] and blob_files(tmp_path / "repository") == set()
        assert list(repository.blobs.tmp_dir.iterdir()) == []
        assert registry_documents(secured, pki, sub.patient) == 0
    finally:
        repository.registry.close()
        repository.store.close()


# ------------------------------------------------------------------------------------------------
# Mutual TLS between repository and registry (and TLS towards the repository's own clients)


@pytest.fixture(scope="module")
def over_tls(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    folder, trust = pki.folder, pki.trust
    server = {"TLS_CERT": str(folder / "server.pem"), "TLS_KEY": str(folder / "server.key")}
    registry = start_registry(tmp_path_factory.mktemp("tls-registry"), env={
        **_security_env(pki),
        **{f"XDS_REGISTRY_{k}": v for k, v in server.items()},
        "XDS_REGISTRY_TLS_CLIENT_CA": str(trust), "XDS_REGISTRY_TLS_CLIENT_AUTH": "required",
    })
    try:
        repository = start_repository(tmp_path_factory.mktemp("tls-repository"), registry.url.replace("http://", "https://"), env={
            **_security_env(pki),
            **{f"XDS_REPOSITORY_{k}": v for k, v in server.items()},
            "XDS_REPOSITORY_REGISTRY_TLS_CA": str(trust / "ca.pem"),
            "XDS_REPOSITORY_REGISTRY_TLS_CERT": str(folder / "client.pem"),
            "XDS_REPOSITORY_REGISTRY_TLS_KEY": str(folder / "client.key"),
        })
    except Exception:
        registry.stop()
        raise
    yield Pair(registry, repository, verify=pki.tls_client())
    repository.stop()
    registry.stop()


def test_mutual_tls_between_repository_and_registry(over_tls: Pair, pki: Pki) -> None:
    r = httpx.get(over_tls.repository_url + "?wsdl", verify=pki.tls_client(with_certificate=False))
    assert r.status_code == 200 and over_tls.repository_url.encode() in r.content  # the WSDL names the https endpoint
    sub = new_submission(over_tls, SPILLED)
    reply = send(over_tls, sub, pki.security())
    assert (reply.status, reply.error_codes) == ("Success", [])
    assert registry_documents(over_tls, pki, sub.patient) == 1
    assert fetch(over_tls, sub.uid, pki.security()).documents()[sub.uid][1] == sub.content.read()


async def test_registry_refusing_our_certificate(over_tls: Pair, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without its client certificate the repository cannot register: XDSRegistryNotAvailable, nothing in
    the registry, nothing served. Under TLS 1.3 the refusal only shows as a closed connection after the
    request was written, which cannot be told from a registry that died while answering, so the row
    stays pending for `cleanup` (docs/repository.md) and ITI-43 does not serve it."""
    for name, value in _security_env(pki).items():
        monkeypatch.setenv(name, value)
    settings = repository_settings(tmp_path, over_tls.registry_url, registry_tls_ca=str(pki.trust / "ca.pem"))
    repository = Repository(settings)
    try:
        sub = new_submission(over_tls, SPILLED)
        reply = await provide_in_process(repository, sub, pki.security())
        assert (reply.status, reply.error_codes) == ("Failure", [ErrorCode.XDSRegistryNotAvailable.value])
        assert registry_documents(over_tls, pki, sub.patient) == 0
        assert repository.store.get(sub.uid) is None
        assert all(d.state == "pending" for d in repository.store.all())
    finally:
        repository.registry.close()
        repository.store.close()


def test_registry_tls_settings(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="registry_tls_cert"):
        RegistryClient.from_settings(repository_settings(tmp_path, "https://x", registry_tls_key=str(pki.folder / "client.key")))
    with pytest.raises(FileNotFoundError):  # a wrong path stops the start, it is not found at the first ITI-42
        RegistryClient.from_settings(repository_settings(tmp_path, "https://x", registry_tls_cert=str(tmp_path / "none.pem")))
    RegistryClient.from_settings(repository_settings(
        tmp_path, "https://x", registry_tls_ca=str(pki.trust), registry_tls_cert=str(pki.folder / "client.pem"),
        registry_tls_key=str(pki.folder / "client.key"),
    )).close()
