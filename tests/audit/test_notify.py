"""DMP notifications derived by the audit sink (audit.notify): a professional's first access, every emergency
access, a document made visible (and the notice at two weeks); stored, listed by the API, delivered."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from audit.api import create_app
from audit.notify import FileChannel
from audit.store import AuditStore
from tests.audit.conftest import OTHER_PATIENT, PATIENT, doctor
from tests.audit.test_store import ORIGIN, record
from xdscore import audit_events as ae

T = ae.Transaction


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}", channels=[FileChannel(tmp_path / "notify.jsonl")])
    yield s
    s.close()


def kinds(store: AuditStore, patient: str = PATIENT) -> list[str]:
    return sorted(n["kind"] for n in store.notifications(patient))


def test_first_access_once_per_professional_and_patient(store: AuditStore) -> None:
    store.add([(record(T.ITI_18, 1, principal=doctor()), ORIGIN)])
    assert kinds(store) == ["first_access"]
    store.add([(record(T.ITI_43, 2, principal=doctor()), ORIGIN), (record(T.ITI_18, 3, principal=doctor()), ORIGIN)])
    assert kinds(store) == ["first_access"]
    store.add([(record(T.ITI_18, 4, principal=doctor(), patient_ids=(OTHER_PATIENT,)), ORIGIN)])
    assert kinds(store, OTHER_PATIENT) == ["first_access"]
    other = dataclasses.replace(doctor(), name_id="810009999999")
    store.add([(record(T.ITI_18, 5, principal=other), ORIGIN)])
    assert kinds(store) == ["first_access", "first_access"]


def test_refused_anonymous_and_own_accesses_notify_nobody(store: AuditStore) -> None:
    store.add([(record(T.ITI_18, 1, principal=doctor(), outcome=ae.EventOutcome.SERIOUS_FAILURE), ORIGIN)])
    store.add([(record(T.ITI_18, 2), ORIGIN)])  # no VIHF: no DMP access
    patient = dataclasses.replace(doctor(), name_id=PATIENT.split("^")[0])
    store.add([(record(T.ITI_43, 3, principal=patient), ORIGIN)])
    assert kinds(store) == []
    store.add([(record(T.ITI_18, 4, principal=doctor()), ORIGIN)])  # after a refusal, the first real access
    assert kinds(store) == ["first_access"]


def test_every_emergency_access_is_notified(store: AuditStore, tmp_path: Path) -> None:
    for minutes, mode in ((1, "bris_de_glace"), (2, "bris_de_glace"), (3, "centre_15")):
        store.add([(record(T.ITI_43, minutes, principal=doctor(mode)), ORIGIN)])
    assert kinds(store) == ["emergency_access"] * 3 + ["first_access"]
    delivered = [json.loads(line) for line in (tmp_path / "notify.jsonl").read_text().splitlines()]
    assert [d["kind"] for d in delivered] == ["emergency_access", "first_access", "emergency_access", "emergency_access"]
    assert "emergency mode (centre_15)" in delivered[-1]["text"] and delivered[-1]["patient_id"] == PATIENT


def test_announcement_events_become_notifications(store: AuditStore) -> None:
    docs = (ae.DocumentRef("1.2.250.1.999.2.7", "1.2.250.1.999.3"),)
    store.add([(record(T.DMP_ANNOUNCEMENT_NOTICE, 1, documents=docs), ORIGIN),
               (record(T.DMP_ANNOUNCED, 2, documents=docs), ORIGIN)])
    found = store.notifications(PATIENT)
    assert [(n["kind"], n["document_unique_id"]) for n in found] == [
        ("document_visible", "1.2.250.1.999.2.7"), ("announcement_notice", "1.2.250.1.999.2.7")]


def test_a_failing_channel_never_loses_the_stored_notification(tmp_path: Path) -> None:
    class Broken:
        def deliver(self, notification: object) -> None:
            raise OSError("mail server down")

    s = AuditStore.open(f"sqlite:///{tmp_path / 'a.db'}", channels=[Broken()])
    try:
        assert s.add([(record(T.ITI_18, 1, principal=doctor("bris_de_glace")), ORIGIN)]) == 1
        assert kinds(s) == ["emergency_access", "first_access"]
    finally:
        s.close()


async def test_the_api_lists_a_patients_notifications(store: AuditStore) -> None:
    store.add([(record(T.ITI_43, 1, principal=doctor("centre_15")), ORIGIN)])
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
        body = (await client.get(f"/patients/{quote(PATIENT, safe='')}/notifications")).json()
        every = (await client.get("/notifications?kind=first_access")).json()
    first, second = body["notifications"]
    assert (first["kind"], first["access_mode"], first["user"]["id"]) == ("first_access", "centre_15",
                                                                            second["user"]["id"])
    assert second["kind"] == "emergency_access" and second["transaction"] == "ITI-43"
    assert [n["kind"] for n in every["notifications"]] == ["first_access"]
