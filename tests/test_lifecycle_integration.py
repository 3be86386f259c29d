"""The metadata lifecycle over HTTP, registry and repository as real processes, on SQLite and PostgreSQL:
provide a document (ITI-41), make a new version (ITI-57), query it by logicalID ($MetadataLevel 2, ITI-18),
deprecate it (ITI-57 UpdateAvailabilityStatus), remove every registry object of it (ITI-62) and the
document itself (ITI-86), after which neither a query nor a retrieve (ITI-43) finds it."""

from __future__ import annotations

from collections.abc import Iterator
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
    post_simple,
    provide,
    retrieve_element,
    simple_request,
)
from tests.registry.lifecycle import APPROVED, DEPRECATED, new_version, status_change, update_request
from tests.repository.conftest import REPO_ID
from xdscore.ebrim import remove_objects
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, UUID, Action
from xdscore.vocabulary import StoredQueryId as Q

RIM = f"{{{NS.RIM}}}"


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else None
    registry = start_registry(tmp_path / "registry", database_url=url)
    try:
        repository = start_repository(tmp_path / "repository", registry.url)
        try:
            yield registry, repository
        finally:
            repository.stop()
    finally:
        registry.stop()


def call(client: httpx.Client, url: str, body: etree._Element, action: Action) -> Reply:
    ctype, data = simple_request(body, action)
    reply = post_simple(client, url, ctype, data)
    assert reply.status_code == 200, etree.tostring(reply.body)[:400]
    return reply


def query(client: httpx.Client, registry: str, query_id: Q, params: dict, return_type: ReturnType = ReturnType.LEAF_CLASS) -> etree._Element:
    reply = call(client, registry, encode_request(query_id, params, return_type), Action.STORED_QUERY)
    assert reply.body.get("status", "").endswith("Success"), etree.tostring(reply.body)[:600]
    return reply.body


def remove_request(ids: list[str]) -> etree._Element:
    el = etree.Element(remove_objects.REMOVE_OBJECTS_REQUEST, nsmap={"lcm": NS.LCM, "rim": NS.RIM})
    refs = etree.SubElement(el, f"{RIM}ObjectRefList")
    for i in ids:
        etree.SubElement(refs, f"{RIM}ObjectRef", id=i)
    return el


def remove_documents_request(unique_id: str) -> etree._Element:
    el = retrieve_element((REPO_ID, unique_id))
    el.tag = "{urn:ihe:iti:rmd:2017}RemoveDocumentsRequest"
    return el


def test_update_query_deprecate_remove_retrieve(services: tuple[Service, Service]) -> None:
    registry, repository = services
    patient = new_patient_id()
    assert "MSA|AA" in feed_patient(registry.feed_port, patient)
    builder = builder_without_repository_slots(patient)
    doc = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
    unique_id = next(e.value for e in doc.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)
    with httpx.Client(timeout=60) as client:
        assert provide(client, repository.url, builder, {doc.id: Content.of(b"version one")}).status == "Success"
        found = query(client, registry.url, Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [unique_id]})
        entry = found.find(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject")
        lid = entry.get("id")
        slots = {s.get("name"): s.findtext(f"{RIM}ValueList/{RIM}Value") for s in entry.iterfind(f"{RIM}Slot")}

        update = update_request(patient)
        new_version(update, lid, unique_id, title="Corrected", hash=slots["hash"], size=slots["size"],
                    repository_unique_id=REPO_ID)
        reply = call(client, registry.url, update.xml(), Action.UPDATE)
        assert (reply.status, reply.error_codes) == ("Success", []), etree.tostring(reply.body).decode()[-700:]

        versions = query(client, registry.url, Q.GetDocuments, {"$XDSDocumentEntryLogicalID": [lid], "$MetadataLevel": "2"})
        entries = versions.findall(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject")
        assert [(e.get("lid"), e.find(f"{RIM}VersionInfo").get("versionName"), e.get("status").rsplit(":", 1)[1])
                for e in entries] == [(lid, "1", "Deprecated"), (lid, "2", "Approved")]
        latest = entries[1].get("id")

        deprecate = update_request(patient)
        status_change(deprecate, latest, APPROVED, DEPRECATED)
        assert call(client, registry.url, deprecate.xml(), Action.UPDATE).status == "Success"
        find = {"$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": [APPROVED]}
        assert query(client, registry.url, Q.FindDocuments, find).find(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject") is None

        everything = query(client, registry.url, Q.GetAll, {
            "$patientId": patient, "$XDSDocumentEntryStatus": [APPROVED, DEPRECATED],
            "$XDSSubmissionSetStatus": [APPROVED], "$XDSFolderStatus": [APPROVED], "$MetadataLevel": "2",
        }, ReturnType.OBJECT_REF)
        ids = [r.get("id") for r in everything.iter(f"{RIM}ObjectRef")]
        assert len(ids) == 8  # 3 SubmissionSets, 2 DocumentEntry versions, 2 HasMember, 1 UpdateAvailabilityStatus
        reply = call(client, registry.url, remove_request(ids), Action.DELETE)
        assert (reply.status, reply.error_codes) == ("Success", [])
        assert query(client, registry.url, Q.GetDocuments, {"$XDSDocumentEntryLogicalID": [lid], "$MetadataLevel": "2"}
                     ).find(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject") is None

        reply = call(client, repository.url, remove_documents_request(unique_id), Action.REMOVE_DOCUMENTS)
        assert (reply.status, reply.error_codes) == ("Success", [])
        ctype, data = simple_request(retrieve_element((REPO_ID, unique_id)), Action.RETRIEVE)
        gone = post_simple(client, repository.url, ctype, data)
        assert (gone.status, gone.error_codes) == ("Failure", ["XDSDocumentUniqueIdError"])
        reply = call(client, repository.url, remove_documents_request(unique_id), Action.REMOVE_DOCUMENTS)
        assert (reply.status, reply.error_codes) == ("Failure", ["XDSDocumentUniqueIdError"])
