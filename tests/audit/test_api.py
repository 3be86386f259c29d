"""The audit repository's HTTP JSON API, in process (httpx over ASGI)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import httpx
import pytest

from audit.api import create_app
from audit.store import AuditStore
from tests.audit.conftest import PATIENT, doctor
from tests.audit.test_store import AT, ORIGIN, record
from xdscore import audit_events as ae

T = ae.Transaction


@pytest.fixture
async def client(tmp_path):
    store = AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}")
    docs = (ae.DocumentRef("1.2.3.1", "1.2.3"),)
    store.add(
        [
            (record(T.ITI_42, 0), ORIGIN),
            (record(T.ITI_43, 5, principal=doctor("centre_15"), documents=docs), ORIGIN),
            (record(T.ITI_18, 9, patient_ids=("other^^^&1.2&ISO",)), ORIGIN),
        ],
        [(b"junk", "not an RFC 5424 syslog message: no PRI", ORIGIN)],
    )
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as test_client:
        yield test_client
    store.close()


async def test_access_trace_of_a_patient_by_url_encoded_cx(client):
    response = await client.get(f"/patients/{quote(PATIENT, safe='')}/accesses")
    assert response.status_code == 200
    body = response.json()
    assert body["patient_id"] == PATIENT
    first, second = body["accesses"]
    assert first == {
        "id": first["id"],
        "time": "2026-01-15T10:35:00+00:00",
        "transaction": "ITI-43",
        "transaction_name": "Retrieve Document Set",
        "action": "R",
        "outcome": 0,
        "user": {"id": "<810002345678@https://idp.ch-exemple.fr>", "name": "DUPONT Jean",
                 "roles": [{"code": "10", "system": "1.2.250.1.213.1.1.4.5", "text": "Médecin"}]},
        "organisation": {"id": "1.2.250.1.71.4.2.2|110000000", "name": "CH Exemple"},
        "access_mode": "centre_15",
        "purposes_of_use": [{"code": "centre_15", "system": "1.2.250.1.213.1.1.4.248", "text": "centre_15"}],
        "documents": [{"document_unique_id": "1.2.3.1", "repository_unique_id": "1.2.3", "home_community_id": ""}],
        "submission_set": None,
        "query": None,
        "source": {"id": "https://xds.example.org/registry", "address": "xds.example.org"},
        "decision": None,  # DMP: the access decision (EventOutcomeDescription); none in this event
    }
    assert (second["transaction"], second["submission_set"]) == ("ITI-42", "1.2.250.1.999.1.1.42")


async def test_access_trace_with_a_period(client):
    since = quote((AT + dt.timedelta(minutes=1)).isoformat())
    response = await client.get(f"/patients/{quote(PATIENT, safe='')}/accesses?since={since}")
    assert [a["transaction"] for a in response.json()["accesses"]] == ["ITI-43"]
    # an unencoded '+' in the offset arrives as a space and is still understood
    response = await client.get(f"/patients/{quote(PATIENT, safe='')}/accesses?until=2026-01-15T11:31:00+01:00")
    assert [a["transaction"] for a in response.json()["accesses"]] == ["ITI-42"]


async def test_unknown_patient_has_an_empty_trace(client):
    assert (await client.get(f"/patients/{quote('nobody^^^&1.2&ISO', safe='')}/accesses")).json()["accesses"] == []
    assert (await client.get("/patients/nobody/accesses")).status_code == 400  # which domain's nobody?


async def test_search_and_one_event(client):
    events = (await client.get("/events", params={"event_type": "ITI-18"})).json()["events"]
    assert [e["patient_ids"] for e in events] == [["other^^^&1.2&ISO"]]
    by_user = (await client.get("/events", params={"user": "<810002345678@https://idp.ch-exemple.fr>"})).json()["events"]
    assert [e["event_type"] for e in by_user] == ["ITI-43"]
    by_patient = (await client.get("/events", params={"patient": PATIENT, "limit": "1"})).json()["events"]
    assert [e["event_type"] for e in by_patient] == ["ITI-43"]
    one = (await client.get(f"/events/{by_user[0]['id']}")).json()
    assert one["message"].startswith('<?xml version="1.0" encoding="UTF-8"?><AuditMessage>')
    assert (await client.get("/events/999999")).status_code == 404
    assert (await client.get("/events/abc")).status_code == 404


async def test_rejected_and_health(client):
    (rejected,) = (await client.get("/rejected")).json()["rejected"]
    assert (rejected["reason"], rejected["data_base64"]) == ("not an RFC 5424 syslog message: no PRI", "anVuaw==")
    assert (await client.get("/health")).json() == {"status": "ok", "events": 3, "rejected": 1}


@pytest.mark.parametrize("query", ["since=yesterday", "until=2026-13-01", "limit=-1", "offset=x"])
async def test_bad_parameters_are_a_400_with_the_reason(client, query):
    response = await client.get(f"/events?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["error"]
