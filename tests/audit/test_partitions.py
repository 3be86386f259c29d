"""The audit store at scale: monthly partitions of event time on PostgreSQL, retention, the migration that
builds them from an existing store (and back), on SQLite too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from audit import partitions
from audit.migrations import MIGRATIONS
from audit.record import read_message
from audit.store import AuditStore, EventFilter, Origin
from audit.writes import EVENT_COLUMNS, event_values
from tests.audit.conftest import OTHER_PATIENT, PATIENT, doctor, facts
from xdscore import audit_events as ae
from xdscore import syslog
from xdsservice.database import make_engine

T = ae.Transaction
NOW = dt.datetime.now(dt.UTC)
THIS_MONTH = partitions.month_of(NOW)
ORIGIN = Origin("tls", "127.0.0.1:50000", NOW)
_serial = iter(range(1, 10**6))


def record(at: dt.datetime, patient: str = PATIENT, **changes: object):
    (message, *_) = ae.build(facts(T.ITI_18, event_time=at, patient_ids=(patient,), **changes))
    stamp = f"2026-01-15T10:30:00.{next(_serial):06d}Z"
    return read_message(syslog.encode(syslog.atna_message(message, stamp, "h", "xds", "1")))


def months_ago(n: int, day: int = 10) -> dt.datetime:
    month = partitions.add_months(THIS_MONTH, -n)
    return dt.datetime(month.year, month.month, day, 12, tzinfo=dt.UTC)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[AuditStore]:
    store = AuditStore.open(pg_url)
    yield store
    store.close()


def _partition_rows(store: AuditStore) -> dict[str, int]:
    """Rows per partition of audit_event_patient."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT tableoid::regclass::text, count(*) FROM audit_event_patient GROUP BY 1")
        return dict(rows.all())


def test_the_event_tables_are_partitioned_by_month_with_the_months_ahead(pg_store: AuditStore) -> None:
    with pg_store.engine.connect() as conn:
        kinds = dict(conn.exec_driver_sql(
            "SELECT c.relname, p.partstrat FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid").all())
        assert kinds == dict.fromkeys(partitions.TABLES, "r")
        months = partitions.existing(conn)
    assert {partitions.add_months(THIS_MONTH, n) for n in range(-1, 3)} <= months


def test_events_go_to_their_month_and_odd_times_to_the_default_partition(pg_store: AuditStore) -> None:
    pg_store.add([(record(months_ago(0)), ORIGIN), (record(months_ago(5)), ORIGIN),
                  (record(dt.datetime(1999, 1, 1, tzinfo=dt.UTC)), ORIGIN)])
    assert _partition_rows(pg_store) == {
        partitions.partition_name("audit_event_patient", THIS_MONTH): 1,
        # within PAST_MONTHS: the store created that month before writing
        partitions.partition_name("audit_event_patient", partitions.add_months(THIS_MONTH, -5)): 1,
        "audit_event_patient_pdefault": 1,
    }
    assert len(pg_store.accesses(PATIENT)) == 3


def test_a_new_month_takes_the_rows_the_default_partition_held_for_it(pg_store: AuditStore) -> None:
    old = dt.datetime(2019, 3, 4, tzinfo=dt.UTC)
    pg_store.add([(record(old), ORIGIN)])
    assert "audit_event_patient_pdefault" in _partition_rows(pg_store)
    with pg_store.engine.begin() as conn:
        assert partitions.ensure(conn, [dt.date(2019, 3, 1)]) == [dt.date(2019, 3, 1)]
    assert _partition_rows(pg_store) == {"audit_event_patient_p201903": 1}
    (event,) = pg_store.accesses(PATIENT)
    assert event["event_time"] == old and event["patient_ids"] == [PATIENT]


def test_retention_drops_whole_months_and_old_rows_of_the_default_partition(pg_store: AuditStore) -> None:
    # emergency accesses: each event gives the patient a notification, kept in its event's month
    pg_store.add([(record(months_ago(n), principal=doctor("bris_de_glace")), ORIGIN) for n in (0, 2, 4, 6)])
    pg_store.add([(record(dt.datetime(2001, 1, 1, tzinfo=dt.UTC)), ORIGIN)])
    assert {n["event_time"] for n in pg_store.notifications(PATIENT)} == {
        months_ago(n) for n in (0, 2, 4, 6)}
    # keep 3 months back: the months of 4 and 6 months ago end before the cutoff; 2 months ago stays
    dropped = pg_store.drop_before(months_ago(3, day=1))
    assert dropped == [partitions.add_months(THIS_MONTH, -6), partitions.add_months(THIS_MONTH, -4)]
    assert sorted(e["event_time"] for e in pg_store.accesses(PATIENT)) == [months_ago(2), months_ago(0)]
    assert {n["event_time"] for n in pg_store.notifications(PATIENT)} == {months_ago(0), months_ago(2)}
    with pg_store.engine.connect() as conn:
        assert partitions.add_months(THIS_MONTH, -4) not in partitions.existing(conn)
        left = {table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() for table in partitions.TABLES}
        gone = partitions.partition_name("audit_notification", partitions.add_months(THIS_MONTH, -4))
        assert conn.exec_driver_sql("SELECT to_regclass(%(t)s)", {"t": gone}).scalar() is None  # dropped, not emptied
    notes = left.pop("audit_notification")
    assert left == {"audit_event": 2, "audit_event_patient": 2, "audit_event_document": 0}
    assert notes == len(pg_store.notifications(PATIENT)) >= 2


def test_retention_days_is_applied_by_maintain(pg_url: str) -> None:
    store = AuditStore.open(pg_url)
    try:
        store.add([(record(months_ago(n)), ORIGIN) for n in (0, 3)])
        store.retention_days = 40
        assert store.maintain() == [partitions.add_months(THIS_MONTH, -3)]
        # an event older than the retention period gets no month of its own, and goes at the next maintain
        store.add([(record(months_ago(4)), ORIGIN)])
        assert "audit_event_patient_pdefault" in _partition_rows(store)
        assert store.maintain() == []
        assert [e["event_time"] for e in store.accesses(PATIENT)] == [months_ago(0)]
    finally:
        store.close()


def test_retention_on_sqlite_deletes_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        store.add([(record(months_ago(n), p), ORIGIN) for n in (0, 4) for p in (PATIENT, OTHER_PATIENT)])
        assert store.drop_before(months_ago(3)) == []
        assert [e["event_time"] for e in store.accesses(PATIENT)] == [months_ago(0)]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_event_patient").scalar() == 2
    finally:
        store.close()


def test_a_patients_trace_reads_its_index_in_the_months_asked(pg_store: AuditStore) -> None:
    """The trace walks (patient_key, event_time) in each month's partition; a period prunes the other months."""
    pg_store.add([(record(months_ago(n)), ORIGIN) for n in (0, 1)])
    since = dt.datetime(THIS_MONTH.year, THIS_MONTH.month, 1, tzinfo=dt.UTC)
    query = AuditStore.search_query(EventFilter(patient_id=PATIENT, since=since))
    sql = str(query.compile(pg_store.engine, compile_kwargs={"literal_binds": True}))
    with pg_store.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: show the plan a large store gets
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
    this, last = (partitions.partition_name("audit_event_patient", m) for m in (THIS_MONTH, partitions.add_months(THIS_MONTH, -1)))
    assert f"Scan Backward using {this}_patient_key_event_time_event_id_idx on {this}" in plan, plan
    assert last not in plan  # pruned
    assert "Seq Scan on audit_event_patient" not in plan and "->  Sort" not in plan  # newest first, from the index


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_keeps_existing_events_and_goes_back(backend: str, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'audit.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    MIGRATIONS.upgrade(engine, "0002")
    store = AuditStore(engine)
    v1 = sa.MetaData()
    v1.reflect(engine)  # 0002's layout: no event_time on the side tables; typed columns, as its store wrote them
    with engine.begin() as conn:
        for i, at in enumerate((months_ago(0), months_ago(30))):
            row = dict(zip(EVENT_COLUMNS, event_values(record(at), ORIGIN), strict=True))
            event_id = conn.execute(v1.tables["audit_event"].insert().values(row)).inserted_primary_key[0]
            conn.execute(v1.tables["audit_event_patient"].insert().values(event_id=event_id, patient_id=PATIENT))
            conn.execute(v1.tables["audit_event_document"].insert().values(
                event_id=event_id, position=0, document_unique_id=f"1.2.3.{i}", repository_unique_id="1.2.3",
                home_community_id=""))
        conn.execute(v1.tables["audit_notification"].insert().values(
            event_id=1, patient_id=PATIENT, kind="first_access", event_time=months_ago(0), user_id="u", user_name="U",
            access_mode="normal", transaction="ITI-18", document_unique_id="", text="t"))
    MIGRATIONS.upgrade(engine)
    trace = store.accesses(PATIENT)
    assert [e["event_time"] for e in trace] == [months_ago(0), months_ago(30)]
    assert [e["id"] for e in trace] == [1, 2]
    assert [d["document_unique_id"] for e in trace for d in e["documents"]] == ["1.2.3.0", "1.2.3.1"]
    store.add([(record(months_ago(1)), ORIGIN)])
    assert sorted(e["id"] for e in store.accesses(PATIENT)) == [1, 2, 3]  # the id sequence carried on
    assert [(n["event_id"], n["kind"]) for n in store.notifications(PATIENT)] == [(1, "first_access")]
    if backend == "postgresql":  # the notifications are in their month's partition (0005)
        with engine.connect() as conn:
            where = conn.exec_driver_sql("SELECT tableoid::regclass::text FROM audit_notification").scalar()
        assert where == partitions.partition_name("audit_notification", THIS_MONTH)
    MIGRATIONS.downgrade(engine, "0002")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_event").scalar() == 3
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_event_patient").scalar() == 3
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_notification").scalar() == 1
    MIGRATIONS.upgrade(engine)
    assert len(store.accesses(PATIENT)) == 3
    engine.dispose()


def test_the_trace_reads_a_page_of_the_patients_index_before_the_events(pg_store: AuditStore) -> None:
    """The LIMIT is taken on the patient's index, then only that page of events is fetched: joined first, a
    heavy patient's trace joined all their events and sorted them (the planner's join estimate is 1 row;
    150 ms for 3,000 events at 10^6, bench.audit_scale)."""
    pg_store.add([(record(months_ago(n, day)), ORIGIN) for n in (0, 1) for day in (2, 3, 4)])
    query = AuditStore.search_query(EventFilter(patient_id=PATIENT, limit=4))
    sql = str(query.compile(pg_store.engine, compile_kwargs={"literal_binds": True}))
    with pg_store.engine.connect() as conn:
        plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)]
        found = [e["event_time"] for e in pg_store.accesses(PATIENT, limit=4, offset=1)]
    assert not plan[0].lstrip().startswith("Limit"), "\n".join(plan)  # the LIMIT is under the join
    limit = next(line for line in plan if line.lstrip().startswith("->  Limit"))
    assert "rows=4 " in limit, "\n".join(plan)
    assert not any("Sort" in line and "Sort Key" not in line for line in plan), "\n".join(plan)
    assert found == [months_ago(n, day) for n, day in ((0, 3), (0, 2), (1, 4), (1, 3))]
