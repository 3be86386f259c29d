"""`<prefix>/repository` on the registry's port: ITI-41 and ITI-43 of a DMP client reach our repository
(its own process in production; here its app on its own port) through the registry, with the caller's
signed VIHF verified by the repository, the document coming back byte for byte, and an unreachable
repository answered with a SOAP fault."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from harness.builders import DMP_AUTHOR, DMP_CONTENT_TYPE, DMP_DOCUMENT, DMP_SIGNATURE, SubmissionBuilder, new_oid
from harness.wire import Content, provide, retrieve_element, simple_request
from registry.app import Registry
from registry.config import RegistrySettings
from repository.app import Repository
from repository.config import RepositorySettings
from tests.dmp.callers import DOCTOR, STRUCTURE, Client, Vihf
from tests.dmp.messages import PATIENT, cx, key, patient_list
from tests.security import fixtures
from tests.security.server import ServerThread
from xdscore import mtom, soap, vihf
from xdscore.dmpws.vocabulary import DmpAction, DmpNS
from xdscore.model import PatientKey
from xdscore.vocabulary import NS, Action, AssociationType
from xdsservice.tls import TlsSettings, client_ssl_context, uvicorn_ssl_kwargs
from xuatool.pki import TestPki

pki = fixtures.pki
PREFIX = "/si-dmp-server/v2/services"
REPOSITORY_ID = "1.19.6.24.109.42.1"  # the repository's default repositoryUniqueId
PS = f"{{{DmpNS.PATIENTS}}}"


class _LateApp:
    """The registry's app, known once the repository it forwards to listens (each needs the other's port)."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


@dataclass
class Stack:
    base: str  # the DMP's base URL on the registry's port
    files: Path  # the test PKI

    def http(self) -> httpx.Client:
        return httpx.Client(timeout=60, verify=client_ssl_context(str(self.files / "trust")))


@pytest.fixture(scope="module")
def stack(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The registry (HTTPS) and the repository, which reaches it over mutual TLS as the access rules ask
    (it forwards its caller's identity: docs/dmp-access.md)."""
    data = tmp_path_factory.mktemp("dmp-repository-path")
    files = pki.write(data / "pki").parent
    common = {"XDS_SECURITY": "optional", "XDS_TRUST_DIR": str(files / "trust"), "XDS_PROFILE": "dmp",
              "XDS_CONFIG": os.devnull, "XDS_AUDIT_SENDER_TRANSPORT": "off", "XDS_DATA_DIR": str(data),
              "XDS_REGISTRY_FEED_PORT": "0"}
    tls = TlsSettings(cert=str(files / "server.pem"), key=str(files / "server.key"), client_ca=str(files / "trust"),
                      client_auth="optional")
    late = _LateApp()
    with ServerThread(late, **uvicorn_ssl_kwargs(tls)) as registry_server:
        repository = Repository(RepositorySettings.load({
            **common, "XDS_REPOSITORY_REGISTRY_URL": registry_server.url("/xds/registry", "https"),
            "XDS_REPOSITORY_REGISTRY_TLS_CA": str(files / "trust" / "ca.pem"),
            "XDS_REPOSITORY_REGISTRY_TLS_CERT": str(files / "client.pem"),
            "XDS_REPOSITORY_REGISTRY_TLS_KEY": str(files / "client.key")}))
        with ServerThread(repository.asgi) as repository_server:
            env = {**common, "XDS_DMP_REPOSITORY_URL": repository_server.url("/xds/repository")}
            registry = Registry(RegistrySettings.load(env))
            patient = PatientKey.parse(cx(PATIENT))
            assert patient is not None
            with registry.store.write() as tx:
                tx.save_patient(patient, cx(PATIENT), {}, "20260101000000")
            late.target = registry.asgi
            yield Stack(registry_server.url(PREFIX, "https"), files)
        repository.registry.close()
        repository.store.close()


def _submission() -> tuple[SubmissionBuilder, str]:
    """The DMP's TD2.1 metadata (tests.builders) without what the repository computes: hash, size, repository id."""
    builder = SubmissionBuilder(cx(PATIENT)).with_submission_set(
        content_type_code=DMP_CONTENT_TYPE, authors=(DMP_AUTHOR,), source_id="1.2.250.1.999.1.1.7898")
    unique_id = new_oid()
    computed: dict[str, object] = {"hash": None, "size": None, "repository_unique_id": None}
    builder.add_document("Document01", **{**DMP_DOCUMENT, **computed, "unique_id": unique_id})
    builder.add_document("Signature01", **{**DMP_SIGNATURE, **computed})
    builder.link("Signature01", builder.ss_id, "Original", AssociationType.SIGNS)
    return builder, unique_id


def test_iti41_and_iti43_through_the_dmp_base_url(stack: Stack, pki: TestPki) -> None:
    base = stack.base
    document, signature = b"<ClinicalDocument>compte rendu</ClinicalDocument>", b"<Signature/>"
    builder, unique_id = _submission()
    seal = Vihf(mode=vihf.INDIRECTE, patient=cx(PATIENT))
    api = f"{base.rsplit(PREFIX, 1)[0]}/dmp/api/patients/{urllib.parse.quote(key(PATIENT), safe='')}"
    with stack.http() as client:
        assert client.post(f"{api}/open").status_code == 200
        # TD2.1 by the structure (its seal): an author's institution, no authorisation needed to feed
        reply = provide(client, f"{base}/repository", builder,
                        {"Document01": Content.of(document), "Signature01": Content.of(signature)}, security=seal.header(pki))
        assert reply.status == "Success", reply
        # TD3.2 by an authorised doctor (the access rules: consultation needs an authorisation; not INDIRECTE)
        assert client.put(f"{api}/authorised/ps/{DOCTOR}").status_code == 200
        doctor = Vihf(patient=cx(PATIENT), signed=True)
        content_type, data = simple_request(retrieve_element((REPOSITORY_ID, unique_id)), Action.RETRIEVE, doctor.header(pki))
        answer = client.post(f"{base}/repository", content=data, headers={"content-type": content_type})
        assert answer.status_code == 200
        message = mtom.decode_message(answer.content, mtom.ContentType.parse(answer.headers["content-type"]))
        assert [a.data for a in message.attachments.values()] == [document], message.root.decode()[-900:]
        # TD0.4 LASTDOC reads the registry's document dates: the structure's DMPs that got a document since then
        assert client.put(f"{api}/authorised/structure/{STRUCTURE}").status_code == 200
    dmp_client = Client(pki, base, stack.files)

    def listed(since: str) -> list[tuple[str, str]]:
        answer = dmp_client.post("patientsSpecific", patient_list(since, "LASTDOC"), DmpAction.PATIENT_LIST.value,
                                 Vihf(mode=vihf.INDIRECTE, patient=""))
        return [(row.findtext(f"{PS}patientIdentifier/{PS}nationalId"), row.findtext(f"{PS}lastAddDate") or "")
                for row in answer.iter(f"{PS}patientlistData")]

    [(listed_patient, added)] = listed("20000101")
    assert listed_patient == PATIENT and len(added) == 14
    assert listed("29990101") == []


def test_an_unreachable_repository_is_a_soap_fault(tmp_path: Path) -> None:
    env = {"XDS_SECURITY": "off", "XDS_PROFILE": "dmp", "XDS_CONFIG": os.devnull, "XDS_AUDIT_SENDER_TRANSPORT": "off",
           "XDS_DATA_DIR": str(tmp_path), "XDS_REGISTRY_FEED_PORT": "0",
           "XDS_DMP_REPOSITORY_URL": "http://127.0.0.1:9/xds/repository"}
    registry = Registry(RegistrySettings.load(env))
    with ServerThread(registry.asgi) as server:
        content_type, data = simple_request(retrieve_element((REPOSITORY_ID, "1.2.3")), Action.RETRIEVE)
        answer = httpx.post(server.url(f"{PREFIX}/repository"), content=data, headers={"content-type": content_type})
    assert answer.status_code == 502 and NS.SOAP12.encode() in answer.content
    fault = soap.read_fault(etree.fromstring(answer.content))
    assert fault is not None and "cannot be reached" in fault.reason and fault.code == "soap:Receiver"
