"""Issue 18, on SQLite and PostgreSQL: the trace and the notifications match patients, not strings (CX.1 + the
authority's universal id, `audit.record.patient_key`); a rejection is kept once; the counts `/health` reads are
kept by the store's transactions (never a count over the tables), and the migration that brings all three."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from audit.api import create_app
from audit.migrations import MIGRATIONS
from audit.pending import PendingFile
from audit.record import patient_key
from audit.store import AuditStore, Origin
from audit.writer import Item, Writer
from audit.writes import EVENT_COLUMNS, event_values
from tests.audit import poison
from tests.audit.conftest import doctor
from tests.audit.test_store import AT, ORIGIN, record
from xdscore import audit_events as ae
from xdsservice.database import make_engine

T = ae.Transaction
NIR, INS, INS_TEST = "279035121518989", "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.10"
FORMS = (f"{NIR}^^^&{INS}&ISO", f"{NIR}^^^&{INS}&ISO^NH", f"{NIR}^^^INS-NIR&{INS}&ISO^NH")
OTHER_DOMAIN = f"{NIR}^^^&{INS_TEST}&ISO^NH"  # the same number under another authority: another patient


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[AuditStore]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'audit.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = AuditStore.open(url)
    yield opened
    opened.close()


def test_patient_key_is_cx1_and_the_authoritys_universal_id():
    assert {patient_key(f) for f in FORMS} == {f"{NIR}^^^&{INS}&ISO"}
    assert patient_key(OTHER_DOMAIN) == f"{NIR}^^^&{INS_TEST}&ISO"
    assert patient_key("123^^^HOSP^PI") == "123^^^&HOSP&ISO"  # no universal id: the namespace names the domain
    assert patient_key(NIR) == NIR  # no authority: kept as given, matched only as given


def test_every_form_of_a_patients_cx_finds_the_same_trace(store):
    store.add([(record(T.ITI_18, n, patient_ids=(form,)), ORIGIN) for n, form in enumerate(FORMS)]
              + [(record(T.ITI_18, 9, patient_ids=(OTHER_DOMAIN,)), ORIGIN),
                 (record(T.ITI_18, 10, patient_ids=FORMS[:2]), ORIGIN)])  # one event naming two forms of one patient
    for form in FORMS:
        trace = store.accesses(form)
        assert [e["event_time"] for e in trace] == [AT + dt.timedelta(minutes=m) for m in (10, 2, 1, 0)], form
        assert trace[-1]["patient_ids"] == [FORMS[0]]  # shown as the sender wrote it
    assert [e["event_time"] for e in store.accesses(f"{NIR}^^^&{INS_TEST}&ISO")] == [AT + dt.timedelta(minutes=9)]
    assert store.accesses(NIR) == []


def test_first_access_is_notified_once_whatever_the_cx_form(store):
    for n, form in enumerate(FORMS):
        store.add([(record(T.ITI_43, n, principal=doctor(), patient_ids=(form,)), ORIGIN)])
    for form in FORMS:
        notes = store.notifications(form)
        assert [n["kind"] for n in notes] == ["first_access"], form
        assert notes[0]["patient_id"] == FORMS[0]


def test_a_rejection_is_kept_once_per_transport_and_bytes(store):
    junk = b"<13>1 not an audit message"
    assert store.add_counted([], [(junk, "no AuditMessage", ORIGIN)]) == (0, 1)
    assert store.add_counted([], [(junk, "no AuditMessage", ORIGIN)] * 2) == (0, 0)  # the same, resent
    udp = Origin("udp", "127.0.0.1:5514", AT)
    assert store.add_counted([], [(junk, "no AuditMessage", udp)]) == (0, 1)  # another transport: another receipt
    frames = [(b"", "connection closed inside a frame (12 bytes)", ORIGIN)] * 2  # no bytes: nothing to compare
    assert store.add_counted([], frames) == (0, 2)
    assert store.counts() == store.counted() == {"events": 0, "rejected": 4}


def test_the_counts_are_kept_exact_through_adds_repeats_and_retention(store):
    kept = record(T.ITI_42)
    store.add([(kept, ORIGIN), (record(T.ITI_18, 1), ORIGIN)], [(b"x", "bad", ORIGIN)])
    store.add([(kept, ORIGIN)], [(b"x", "bad", ORIGIN)])
    assert store.counts() == store.counted() == {"events": 2, "rejected": 1}
    later = AT + dt.timedelta(days=70)
    store.add([(record(T.ITI_18, 0, event_time=later), ORIGIN)],
              [(b"y", "bad", Origin("tls", "127.0.0.1:1", later))])
    store.drop_before(AT + dt.timedelta(days=45))  # PostgreSQL: drops January's month; SQLite: deletes rows
    assert store.counts() == store.counted() == {"events": 1, "rejected": 1}


async def test_health_reads_the_kept_counts_and_never_counts_the_tables(tmp_path):
    store = AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}")
    store.add([(record(T.ITI_18, n), ORIGIN) for n in range(3)], [(b"junk", "bad", ORIGIN)])
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
        body = (await client.get("/health")).json()
    store.close()
    assert (body["status"], body["events"], body["rejected"]) == ("ok", 3, 1)
    assert statements and not any("count(" in s.lower() for s in statements), statements


async def test_the_api_takes_the_forms_a_dmp_caller_holds(tmp_path):
    store = AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}")
    store.add([(record(T.ITI_43, 1, principal=doctor(), patient_ids=(FORMS[1],)), ORIGIN),
               (record(T.ITI_18, 2, patient_ids=(OTHER_DOMAIN,)), ORIGIN)])
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
        async def trace(path: str, **params: str) -> list[int]:
            r = await client.get(path, params=params)
            assert r.status_code == 200, r.text
            return [a["id"] for a in r.json()["accesses"]]

        expected = await trace(f"/patients/{quote(FORMS[0], safe='')}/accesses")
        assert len(expected) == 1
        assert await trace(f"/patients/{quote(FORMS[2], safe='')}/accesses") == expected
        assert await trace(f"/patients/{NIR}/accesses", authority=INS) == expected
        assert await trace(f"/patients/{quote('urn:oid:' + INS + '|' + NIR, safe='')}/accesses") == expected
        assert await trace(f"/patients/{NIR}/accesses", authority=INS_TEST) != expected
        events = (await client.get("/events", params={"patient": NIR, "authority": INS})).json()["events"]
        assert [e["id"] for e in events] == expected
        notes = (await client.get(f"/patients/{NIR}/notifications", params={"authority": INS})).json()
        assert [n["kind"] for n in notes["notifications"]] == ["first_access"]
        bare = await client.get(f"/patients/{NIR}/accesses")  # which domain's patient? refused, not guessed
        assert bare.status_code == 400 and "authority" in bare.json()["error"]
        assert (await client.get(f"/patients/{NIR}/accesses", params={"authority": "x'; --"})).status_code == 400
    store.close()


async def test_a_rejection_both_in_pending_and_resent_is_recorded_once(tmp_path):
    """A stop kept a poison message in pending.db; its TLS sender resends it after the restart."""
    store = AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}")
    pending = PendingFile(tmp_path / "pending.db")
    bad = poison.all_messages()["outcome 20 digits"]
    origin = Origin("tls", "127.0.0.1:40000", AT)
    pending.put([(bad, origin, None)])
    writer = Writer(store, 1 << 20, pending=pending, prepared=False)
    writer.start()
    try:
        writer.queue.put_nowait(Item(bad, Origin("tls", "127.0.0.1:40001", AT)))
        deadline = asyncio.get_running_loop().time() + 10
        while writer.backlog or writer.state != "idle":
            assert asyncio.get_running_loop().time() < deadline, writer.status()
            await asyncio.sleep(0.02)
        assert store.counts() == store.counted() == {"events": 0, "rejected": 1}
        assert pending.count() == 0
    finally:
        await writer.stop(1)
        pending.close()
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_fills_the_keys_and_the_counts(backend: str, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'audit.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    MIGRATIONS.upgrade(engine, "0003")
    old = sa.MetaData()
    old.reflect(engine)
    store = AuditStore(engine)
    with engine.begin() as conn:
        for n, form in enumerate(FORMS):
            row = dict(zip(EVENT_COLUMNS, event_values(record(T.ITI_18, n, patient_ids=(form,)), ORIGIN), strict=True))
            conn.execute(old.tables["audit_event"].insert().values(id=n + 1, **row))
            conn.execute(old.tables["audit_event_patient"].insert().values(
                event_id=n + 1, event_time=row["event_time"], patient_id=form))
        conn.execute(old.tables["audit_notification"].insert().values(
            event_id=1, patient_id=FORMS[1], kind="first_access", event_time=AT, user_id="u", user_name="U",
            access_mode="normal", transaction="ITI-18", document_unique_id="", text="t"))
        conn.execute(old.tables["audit_rejected"].insert().values(
            received_at=AT, transport="udp", peer="p", reason="r", data=b"junk"))
    MIGRATIONS.upgrade(engine)
    assert len(store.accesses(FORMS[2])) == 3
    assert [n["kind"] for n in store.notifications(FORMS[0])] == ["first_access"]
    assert store.counts() == {"events": 3, "rejected": 1}
    store.add([(record(T.ITI_18, 5, patient_ids=(FORMS[0],)), ORIGIN)])
    assert store.counts() == store.counted() == {"events": 4, "rejected": 1}
    MIGRATIONS.downgrade(engine, "0003")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_event_patient").scalar() == 4
    MIGRATIONS.upgrade(engine)
    assert len(store.accesses(FORMS[1])) == 4 and store.counts() == {"events": 4, "rejected": 1}
    engine.dispose()
