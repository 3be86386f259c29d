"""The audit trail end to end: real registry, real repository, real audit sink, real TLS syslog.

Each transaction leaves its message in the sink with the right codes and participants, and the patient's
access trace answers who did what; with the sink stopped, 100 registrations are spooled and, once the sink
is back, all 100 arrive and none twice.
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from lxml import etree

from tests.builders import new_patient_id, single_document
from tests.services import (
    Service,
    audit_sender_env,
    feed_patient,
    start_audit_sink,
    start_registry,
    start_repository,
)
from xdscore import soap
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, Action, ResponseStatus, Status
from xdscore.vocabulary import StoredQueryId as Q


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

