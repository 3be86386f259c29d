"""The audit trail end to end: real registry, real repository, real audit sink, real TLS syslog.

Each transaction leaves its message in the sink with the right codes and participants, and the patient's
access trace answers who did what: registry transactions (ITI-8, ITI-42, ITI-18), the repository's ITI-41
(with the registry's ITI-42 behind it) and ITI-43 (documents returned and not), the metadata lifecycle
(ITI-57, ITI-92, ITI-62 on the registry, ITI-86 on the repository), and, with a signed
assertion, the professional who did it; with the sink stopped, 100 registrations are spooled and, once the
sink is back, all 100 arrive and none twice.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from harness.builders import new_patient_id, single_document
from harness.services import (
    Service,
    audit_sender_env,
    feed_patient,
    start_audit_sink,
    start_registry,
    start_repository,
)
from harness.wire import (
    Content,
    Reply,
    builder_without_repository_slots,
    post_simple,
    provide,
    retrieve_element,
    simple_request,
)
from tests.audit import poison
from xdscore import soap
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, UUID, Action, ResponseStatus, Status
from xdscore.vocabulary import StoredQueryId as Q
from xdsservice.audit_sender import DEV_CERT_NAME
from xuatool import pki as pki_module
from xuatool.variants import VariantContext, signed_security

REPOSITORY_UNIQUE_ID = "1.19.6.24.109.42.1"  # the repository's default
AUDIENCE = "urn:pyxds:test-audit"
SOURCE_ROLE, DESTINATION_ROLE = "110153", "110152"


def post(url: str, body: etree._Element, action: str) -> etree._Element:
    env = etree.tostring(soap.request_envelope(body, action), xml_declaration=True, encoding="UTF-8")
    r = httpx.post(url, content=env, headers={"Content-Type": "application/soap+xml"}, timeout=30)
    return etree.fromstring(r.content).find(f"{{{NS.SOAP12}}}Body")[0]


def accesses(sink: Service, patient: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{sink.url}/patients/{urllib.parse.quote(patient, safe='')}/accesses", params={"limit": "1000"})
    r.raise_for_status()
    body = r.json()
    return body["accesses"] if isinstance(body, dict) else body


def wait_for(sink: Service, patient: str, predicate, timeout: float = 30) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    events: list[dict[str, Any]] = []
    while time.time() < deadline:
        events = accesses(sink, patient)
        if predicate(events):
            return events
        time.sleep(0.3)
    raise AssertionError(f"audit events did not arrive in time; have {[e.get('transaction') for e in events]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[Service, Service, Service, Path]]:  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("audited")
    sink = start_audit_sink(data)
    registry = start_registry(data, env=audit_sender_env(sink))
    repository = start_repository(data, registry.url, env=audit_sender_env(sink))
    yield sink, registry, repository, data
    for s in (repository, registry, sink):
        s.stop()


def test_registry_transactions_are_audited(stack) -> None:  # type: ignore[no-untyped-def]
    sink, registry, _, _ = stack
    pid = new_patient_id()
    feed_patient(registry.feed_port, pid, control_id="CTRL-AUDIT-1")
    rr = post(registry.url, single_document(pid).xml(), Action.REGISTER.value)
    assert rr.get("status") == ResponseStatus.SUCCESS.value
    q = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": pid,
                                         "$XDSDocumentEntryStatus": [Status.APPROVED.value]}, ReturnType.OBJECT_REF)
    post(registry.url, q, Action.STORED_QUERY.value)
    events = wait_for(sink, pid, lambda ev: {"ITI-8", "ITI-42", "ITI-18"} <= {e["transaction"] for e in ev})
    by_tx = {e["transaction"]: e for e in events}
    assert by_tx["ITI-42"]["action"] == "C" and by_tx["ITI-42"]["outcome"] == 0
    assert by_tx["ITI-42"]["submission_set"]
    assert by_tx["ITI-18"]["action"] == "E" and by_tx["ITI-18"]["query"]
    assert by_tx["ITI-8"]["action"] == "C"
    message = etree.fromstring(httpx.get(f"{sink.url}/events/{by_tx['ITI-42']['id']}").json()["message"].encode())
    roles = {
        p.get("UserID"): p.find("RoleIDCode").get("csd-code")
        for p in message.iter("ActiveParticipant") if p.find("RoleIDCode") is not None
    }
    assert roles[registry.url] == "110152"  # we are the Destination, the client the Source
    assert "110153" in roles.values()
    assert message.find("EventIdentification/EventTypeCode").get("csd-code") == "ITI-42"


def test_refused_submission_is_audited_as_a_failure(stack) -> None:  # type: ignore[no-untyped-def]
    sink, registry, _, _ = stack
    pid = new_patient_id()  # never fed: XDSUnknownPatientId
    rr = post(registry.url, single_document(pid).xml(), Action.REGISTER.value)
    assert rr.get("status") == ResponseStatus.FAILURE.value
    events = wait_for(sink, pid, lambda ev: any(e["transaction"] == "ITI-42" for e in ev))
    assert [e["outcome"] for e in events if e["transaction"] == "ITI-42"] == [8]


# ------------------------------------------------------------------------------------------------
# The repository (ITI-41 and ITI-43), and with it the registry's ITI-42


def message_of(sink: Service, event: dict[str, Any]) -> etree._Element:
    return etree.fromstring(httpx.get(f"{sink.url}/events/{event['id']}").json()["message"].encode())


def by_role(message: etree._Element) -> dict[str, etree._Element]:
    """RoleIDCode → ActiveParticipant (the source and the destination)."""
    return {r.get("csd-code"): p for p in message.iter("ActiveParticipant") for r in p.findall("RoleIDCode")
            if r.get("csd-code") in (SOURCE_ROLE, DESTINATION_ROLE)}


def submit(repository: Service, patient: str, security: etree._Element | None = None) -> tuple[str, str]:
    """ITI-41 of one document through the repository: (its uniqueId, the submission set uniqueId)."""
    builder = builder_without_repository_slots(patient)
    entry = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
    uid = next(e.value for e in entry.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)
    with httpx.Client(timeout=60) as client:
        reply = provide(client, repository.url, builder, {entry.id: Content.of(b"compte rendu " + uid.encode())},
                        security=security)
    assert (reply.status, reply.error_codes) == ("Success", [])
    return uid, builder.submission().submission_set.unique_id  # type: ignore[union-attr]


def fetch(repository: Service, *uids: str, security: etree._Element | None = None) -> Reply:
    content_type, data = simple_request(
        retrieve_element(*((REPOSITORY_UNIQUE_ID, u, "urn:oid:1.2.250.1.213.1.4.99") for u in uids)),
        Action.RETRIEVE, security)
    with httpx.Client(timeout=60) as client:
        return post_simple(client, repository.url, content_type, data)


def test_repository_provide_is_audited_by_repository_and_registry(stack) -> None:  # type: ignore[no-untyped-def]
    sink, registry, repository, _ = stack
    pid = new_patient_id()
    feed_patient(registry.feed_port, pid)
    _, ss_uid = submit(repository, pid)
    events = wait_for(sink, pid, lambda ev: {"ITI-41", "ITI-42"} <= {e["transaction"] for e in ev})
    by_tx = {e["transaction"]: e for e in events}
    for tx in ("ITI-41", "ITI-42"):
        assert (by_tx[tx]["action"], by_tx[tx]["outcome"], by_tx[tx]["submission_set"]) == ("C", 0, ss_uid)
    iti41 = message_of(sink, by_tx["ITI-41"])
    assert iti41.find("EventIdentification/EventID").get("csd-code") == "110107"  # Import
    assert iti41.find("AuditSourceIdentification").get("AuditSourceID").startswith("pyxds-xds-repository@")
    ends = by_role(iti41)
    assert ends[DESTINATION_ROLE].get("UserID") == repository.url  # the document source sent, we received
    assert ends[SOURCE_ROLE].get("NetworkAccessPointID") == "127.0.0.1"
    # the registry's ITI-42 has the repository as its client
    iti42 = message_of(sink, by_tx["ITI-42"])
    assert by_role(iti42)[DESTINATION_ROLE].get("UserID") == registry.url
    assert iti42.find("AuditSourceIdentification").get("AuditSourceID").startswith("pyxds-xds-registry@")


def test_repository_refused_provide_is_audited_as_a_failure(stack) -> None:  # type: ignore[no-untyped-def]
    sink, _, repository, _ = stack
    pid = new_patient_id()  # never fed: the registry refuses, the repository passes its answer on
    builder = builder_without_repository_slots(pid)
    entry = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
    with httpx.Client(timeout=60) as client:
        reply = provide(client, repository.url, builder, {entry.id: Content.of(b"refused")})
    assert reply.status == "Failure"
    events = wait_for(sink, pid, lambda ev: {"ITI-41", "ITI-42"} <= {e["transaction"] for e in ev})
    assert sorted((e["transaction"], e["outcome"]) for e in events) == [("ITI-41", 8), ("ITI-42", 8)]


def test_retrieve_of_a_known_and_an_unknown_document_is_in_the_patient_trace(stack) -> None:  # type: ignore[no-untyped-def]
    sink, registry, repository, _ = stack
    pid = new_patient_id()
    feed_patient(registry.feed_port, pid)
    uid, _ = submit(repository, pid)
    missing = f"{uid}.404"
    reply = fetch(repository, uid, missing)
    assert reply.status == "PartialSuccess" and list(reply.documents()) == [uid]
    events = wait_for(sink, pid, lambda ev: sum(e["transaction"] == "ITI-43" for e in ev) >= 2)
    reads = sorted((e for e in events if e["transaction"] == "ITI-43"), key=lambda e: e["outcome"])
    assert [(e["action"], e["outcome"], [d["document_unique_id"] for d in e["documents"]]) for e in reads] == [
        ("R", 0, [uid]), ("R", 8, [missing])]
    for event in reads:
        [doc] = event["documents"]
        assert (doc["repository_unique_id"], doc["home_community_id"]) == (REPOSITORY_UNIQUE_ID, "urn:oid:1.2.250.1.213.1.4.99")
        assert event["source"]["id"] == repository.url  # the repository sends the data
        message = message_of(sink, event)
        assert message.find("EventIdentification/EventID").get("csd-code") == "110106"  # Export
        ends = by_role(message)
        assert ends[SOURCE_ROLE].get("UserID") == repository.url and ends[SOURCE_ROLE].get("AlternativeUserID")
        assert ends[SOURCE_ROLE].get("NetworkAccessPointID") == "127.0.0.1"
        assert ends[DESTINATION_ROLE].get("NetworkAccessPointID") == "127.0.0.1"  # the consumer
        assert ends[DESTINATION_ROLE].get("UserIsRequestor") == "true"  # no assertion: the system asked
    assert len(accesses(sink, pid)) == len(events)  # nothing else arrived: one message per outcome


def test_metadata_lifecycle_is_in_the_patient_trace(stack) -> None:  # type: ignore[no-untyped-def]
    from tests.registry.lifecycle import APPROVED, DEPRECATED, new_version, status_change, update_request
    from tests.test_lifecycle_integration import remove_documents_request, remove_request

    sink, registry, repository, _ = stack
    pid = new_patient_id()
    feed_patient(registry.feed_port, pid)
    uid, _ = submit(repository, pid)
    found = post(registry.url, encode_request(Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [uid]}), Action.STORED_QUERY.value)
    entry = found.find(f"{{{NS.RIM}}}RegistryObjectList/{{{NS.RIM}}}ExtrinsicObject")
    slots = {sl.get("name"): sl.findtext(f"{{{NS.RIM}}}ValueList/{{{NS.RIM}}}Value") for sl in entry.iterfind(f"{{{NS.RIM}}}Slot")}
    restricted = update_request(pid)
    new_version(restricted, entry.get("id"), uid, hash=slots["hash"], size=slots["size"], repository_unique_id=REPOSITORY_UNIQUE_ID)
    assert post(registry.url, restricted.xml(), Action.RESTRICTED_UPDATE.value).get("status") == ResponseStatus.SUCCESS.value
    latest = post(registry.url, encode_request(Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [uid]}), Action.STORED_QUERY.value
                  ).find(f"{{{NS.RIM}}}RegistryObjectList/{{{NS.RIM}}}ExtrinsicObject").get("id")
    deprecate = update_request(pid)
    status_change(deprecate, latest, APPROVED, DEPRECATED)
    assert post(registry.url, deprecate.xml(), Action.UPDATE.value).get("status") == ResponseStatus.SUCCESS.value
    everything = post(registry.url, encode_request(Q.GetAll, {
        "$patientId": pid, "$XDSDocumentEntryStatus": [APPROVED, DEPRECATED], "$XDSSubmissionSetStatus": [APPROVED],
        "$XDSFolderStatus": [APPROVED], "$MetadataLevel": "2"}, ReturnType.OBJECT_REF), Action.STORED_QUERY.value)
    ids = [r.get("id") for r in everything.iter(f"{{{NS.RIM}}}ObjectRef")]
    assert post(registry.url, remove_request(ids), Action.DELETE.value).get("status") == ResponseStatus.SUCCESS.value
    assert post(repository.url, remove_documents_request(uid), Action.REMOVE_DOCUMENTS.value).get("status") == \
        ResponseStatus.SUCCESS.value
    wanted = {"ITI-57", "ITI-92", "ITI-62", "ITI-86"}
    events = wait_for(sink, pid, lambda ev: wanted <= {e["transaction"] for e in ev})
    by_tx = {e["transaction"]: e for e in events if e["transaction"] in wanted}
    assert {t: (e["action"], e["outcome"]) for t, e in by_tx.items()} == {
        "ITI-57": ("U", 0), "ITI-92": ("U", 0), "ITI-62": ("D", 0), "ITI-86": ("D", 0)}
    removed = message_of(sink, by_tx["ITI-62"])
    assert sorted(o.get("ParticipantObjectID") for o in removed.iter("ParticipantObjectIdentification")
                  if o.get("ParticipantObjectTypeCodeRole") == "3") == sorted(ids)
    assert [d["document_unique_id"] for d in by_tx["ITI-86"]["documents"]] == [uid]


@pytest.fixture(scope="module")
def signed_stack(stack, tmp_path_factory) -> Iterator[tuple[Service, Service, pki_module.TestPki]]:  # type: ignore[no-untyped-def]
    """Registry and repository verifying XUA/VIHF assertions (optional mode), auditing to the module's sink."""
    sink, sink_data = stack[0], stack[3]
    data = tmp_path_factory.mktemp("signed")
    generated = pki_module.generate()
    # their own data folders: the sink's development certificate is named, not found beside them
    env = {**audit_sender_env(sink), "XDS_AUDIT_SENDER_TLS_CA": str(sink_data / "audit" / "tls" / DEV_CERT_NAME),
           "XDS_SECURITY": "optional", "XDS_TRUST_DIR": str(generated.write(data / "pki")),
           "XDS_SECURITY_AUDIENCE": AUDIENCE, "XDS_SECURITY_PROFILE": "vihf"}
    registry = start_registry(data / "registry", env=env)
    try:
        repository = start_repository(data / "repository", registry.url, env=env)
    except Exception:
        registry.stop()
        raise
    yield registry, repository, generated
    repository.stop()
    registry.stop()


def test_human_requestor_is_in_the_patient_trace(stack, signed_stack) -> None:  # type: ignore[no-untyped-def]
    sink = stack[0]
    registry, repository, generated = signed_stack
    pid = new_patient_id()
    feed_patient(registry.feed_port, pid)

    def assertion() -> etree._Element:  # a VIHF assertion of a doctor (role 10), about this patient
        ctx = VariantContext(generated, dt.datetime.now(dt.UTC), profile="vihf", audience=AUDIENCE)
        return signed_security(ctx, ctx.spec(resource_id=pid))

    uid, _ = submit(repository, pid, assertion())
    assert fetch(repository, uid, security=assertion()).status == "Success"
    events = wait_for(sink, pid, lambda ev: {"ITI-41", "ITI-42", "ITI-43"} <= {e["transaction"] for e in ev})
    for event in (e for e in events if e["transaction"] in ("ITI-41", "ITI-42", "ITI-43")):
        user = event["user"]
        assert user["id"].startswith("<899700000001@") and user["name"] == "MEDECIN, TEST", event
        assert "10" in {r["code"] for r in user["roles"]}, event
        assert event["access_mode"] == "normal"
    [read] = [e for e in events if e["transaction"] == "ITI-43"]
    assert (read["outcome"], [d["document_unique_id"] for d in read["documents"]]) == (0, [uid])
    message = message_of(sink, read)
    [human] = [p for p in message.iter("ActiveParticipant") if p.get("UserIsRequestor") == "true"]
    assert human.get("UserID") == read["user"]["id"] and human.find("RoleIDCode").get("csd-code") == "10"
    assert by_role(message)[SOURCE_ROLE].get("UserID") == repository.url


def test_poison_in_the_sink_does_not_stop_the_registrys_trail(stack) -> None:  # type: ignore[no-untyped-def]
    """Issue 18: the corpus of poison messages reaches the sink (UDP and TLS) while the registry audits
    50 ITI-18 of one patient through its acknowledged sender: the patient's trace lists all 50."""
    sink, registry, _, data = stack
    pid = new_patient_id()
    feed_patient(registry.feed_port, pid)
    cases = poison.all_messages(start=7000)
    poison.send_udp(sink.ports["udp"], list(cases.values()))
    poison.send_tls(sink.ports["tls"], data / "audit" / "tls" / DEV_CERT_NAME, list(poison.all_messages(start=8000).values()))
    q = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": pid,
                                         "$XDSDocumentEntryStatus": [Status.APPROVED.value]}, ReturnType.OBJECT_REF)
    for _ in range(50):
        assert post(registry.url, q, Action.STORED_QUERY.value).get("status") == ResponseStatus.SUCCESS.value
    events = wait_for(sink, pid, lambda ev: sum(e["transaction"] == "ITI-18" for e in ev) >= 50, timeout=60)
    assert sum(e["transaction"] == "ITI-18" for e in events) == 50
    health = httpx.get(f"{sink.url}/health").json()
    assert health["status"] == "ok" and health["rejected"] >= 2 * len(cases)
    reasons = httpx.get(f"{sink.url}/rejected", params={"limit": "1000"}).json()["rejected"]
    assert sum("EventOutcomeIndicator" in r["reason"] for r in reasons) >= 2 * 6


def test_sink_down_then_up_loses_nothing_and_duplicates_nothing(stack) -> None:  # type: ignore[no-untyped-def]
    sink, registry, _, data = stack
    pid = new_patient_id()
    feed_patient(registry.feed_port, pid)
    wait_for(sink, pid, lambda ev: len(ev) == 1)
    sink.stop()
    for _ in range(100):
        rr = post(registry.url, single_document(pid).xml(), Action.REGISTER.value)
        assert rr.get("status") == ResponseStatus.SUCCESS.value  # no transaction waits on the sink
    restarted = start_audit_sink(data, **{f"{k}_port": v for k, v in sink.ports.items()})
    try:
        events = wait_for(restarted, pid, lambda ev: sum(e["transaction"] == "ITI-42" for e in ev) >= 100, timeout=90)
        time.sleep(2)  # anything duplicated would have arrived by now
        events = accesses(restarted, pid)
        assert sum(e["transaction"] == "ITI-42" for e in events) == 100
        submission_sets = [e["submission_set"] for e in events if e["transaction"] == "ITI-42"]
        assert len(set(map(str, submission_sets))) == 100
    finally:
        restarted.stop()

