"""The audit store on SQLite and PostgreSQL: migrations, de-duplication, the access trace, searches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from audit import partitions
from audit.migrations import VERSION_TABLE
from audit.record import read_message
from audit.store import AuditStore, EventFilter, Origin, audit_event, metadata
from audit.writes import EVENT_COLUMNS, event_values
from tests.audit.conftest import OTHER_PATIENT, PATIENT, doctor, facts
from xdscore import audit_events as ae
from xdscore import syslog

T = ae.Transaction
AT = dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)
ORIGIN = Origin("tls", "127.0.0.1:50000", AT, "CN=xds-registry node")
_serial = iter(range(1, 10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[AuditStore]:
    url = f"sqlite:///{tmp_path / 'audit.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = AuditStore.open(url)
    yield opened
    opened.close()


def record(transaction: ae.Transaction, minutes: int = 0, **changes: object):
    """One stored-form record; each call gets its own syslog timestamp, hence its own digest."""
    when = AT + dt.timedelta(minutes=minutes)
    changes.setdefault("event_time", when)
    (message, *_) = ae.build(facts(transaction, **changes))
    stamp = f"2026-01-15T10:30:00.{next(_serial):06d}Z"
    return read_message(syslog.encode(syslog.atna_message(message, stamp, "h", "xds", "1")))


def test_migrations_build_exactly_the_declared_schema(store):
    with store.engine.connect() as conn:
        # the monthly partitions (PostgreSQL) are the store's, not tables of the metadata
        skip = {"include_name": lambda name, kind, _parent: kind != "table" or not partitions.is_partition(name)}
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, **skip})
        assert compare_metadata(context, metadata) == []


def test_migrate_twice_is_harmless(store):
    store.migrate()
    assert store.counts() == {"events": 0, "rejected": 0}


def test_same_message_is_stored_once(store):
    first = record(T.ITI_42)
    assert store.add([(first, ORIGIN), (first, ORIGIN)]) == 1
    assert store.add([(first, ORIGIN)]) == 0
    assert store.counts()["events"] == 1


def test_access_trace_of_a_patient(store):
    docs = (ae.DocumentRef("1.2.3.1", "1.2.3"), ae.DocumentRef("1.2.3.2", "1.2.3"))
    store.add([
        (record(T.ITI_42, 0), ORIGIN),
        (record(T.ITI_18, 5, principal=doctor()), ORIGIN),
        (record(T.ITI_43, 6, principal=doctor("bris_de_glace"), documents=docs), ORIGIN),
        (record(T.ITI_18, 7, patient_ids=(OTHER_PATIENT,)), ORIGIN),
    ])
    trace = store.accesses(PATIENT)
    assert [e["event_type"] for e in trace] == ["ITI-43", "ITI-18", "ITI-42"]  # newest first
    retrieve = trace[0]
    assert retrieve["event_time"] == AT + dt.timedelta(minutes=6)
    assert (retrieve["user_name"], retrieve["organisation"], retrieve["access_mode"]) == (
        "DUPONT Jean", "CH Exemple", "bris_de_glace",
    )
    assert retrieve["user_roles"] == [{"code": "10", "system": "1.2.250.1.213.1.1.4.5", "text": "Médecin"}]
    assert [d["document_unique_id"] for d in retrieve["documents"]] == ["1.2.3.1", "1.2.3.2"]
    assert retrieve["patient_ids"] == [PATIENT]
    assert (retrieve["transport"], retrieve["peer_certificate"]) == ("tls", "CN=xds-registry node")
    assert [e["event_type"] for e in store.accesses(OTHER_PATIENT)] == ["ITI-18"]
    assert store.accesses("nobody^^^&1.2&ISO") == []


def test_access_trace_by_period(store):
    store.add([(record(T.ITI_18, m), ORIGIN) for m in (0, 10, 20, 30)])
    found = store.accesses(PATIENT, since=AT + dt.timedelta(minutes=10), until=AT + dt.timedelta(minutes=20))
    assert [e["event_time"] for e in found] == [AT + dt.timedelta(minutes=20), AT + dt.timedelta(minutes=10)]
    paris = dt.timezone(dt.timedelta(hours=1))
    since_local = (AT + dt.timedelta(minutes=25)).astimezone(paris)
    assert len(store.accesses(PATIENT, since=since_local)) == 1


def test_the_plain_sql_write_path_binds_times_as_the_reads_expect(store):
    """audit.writes binds times itself (SQLite: SQLAlchemy's text form); a row SQLAlchemy writes with the same
    times must hold the very same values, or period bounds and retention would compare unlike texts."""
    kept = record(T.ITI_42, event_time=AT)  # a whole second: SQLAlchemy still writes its microseconds
    store.add([(kept, ORIGIN)])
    row = dict(zip(EVENT_COLUMNS, event_values(kept, ORIGIN), strict=True)) | {"digest": "0" * 64}
    with store.engine.begin() as conn:
        conn.execute(audit_event.insert().values(row))
        assert len(conn.exec_driver_sql("SELECT DISTINCT event_time, received_at FROM audit_event").all()) == 1
    found = store.accesses(PATIENT, since=AT, until=AT)
    assert [(e["event_time"], e["received_at"]) for e in found] == [(AT, AT)]


def test_search_by_user_and_event_type(store):
    store.add([
        (record(T.ITI_18, 1, principal=doctor()), ORIGIN),
        (record(T.ITI_43, 2, principal=doctor()), ORIGIN),
        (record(T.ITI_43, 3), ORIGIN),
    ])
    user = "<810002345678@https://idp.ch-exemple.fr>"
    assert [e["event_type"] for e in store.search(EventFilter(user_id=user))] == ["ITI-43", "ITI-18"]
    assert len(store.search(EventFilter(event_type="ITI-43"))) == 2
    assert len(store.search(EventFilter(user_id=user, event_type="ITI-43"))) == 1
    assert len(store.search(EventFilter(limit=2))) == 2
    assert [e["event_type"] for e in store.search(EventFilter(limit=2, offset=2))] == ["ITI-18"]


def test_get_returns_the_message_as_received(store):
    kept = record(T.ITI_57)
    store.add([(kept, ORIGIN)])
    (summary,) = store.search(EventFilter())
    assert "message" not in summary
    full = store.get(summary["id"])
    assert full["message"] == kept.message and full["event_action"] == "U"
    assert store.get(summary["id"] + 1000) is None


def test_rejected_messages_are_kept_with_the_reason(store):
    store.add([], [(b"\x00junk", "bad syslog frame: no octet-count length prefix", ORIGIN)])
    (rejected,) = store.rejected()
    assert (rejected["data"], rejected["reason"], rejected["peer"]) == (
        b"\x00junk", "bad syslog frame: no octet-count length prefix", "127.0.0.1:50000",
    )
    assert store.counts() == {"events": 0, "rejected": 1}
