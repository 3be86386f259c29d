"""The audit sink's bulk loader (bench.audit_load, bench.audit_events): its rows are the sink's own, and a load
ends as a store the sink reads (months attached with their indexes, counts and sequences set)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import psycopg
import sqlalchemy as sa

from audit import partitions
from audit.record import read_message
from audit.store import AuditStore, Origin
from bench import audit_events as ev
from bench import audit_load

NOW = dt.datetime.now(dt.UTC)
PERSON = {"NAMEID": "81000000042", "SUBJECT": "MARTIN Jean", "ORGID": "1.2.250.1.71.4.2.2|100000005",
          "ORG": "Etablissement 5", "IP": "10.5.0.12"}
COMMON = {"PID": audit_load.pid(42), "HOST": "dmp-node-1", "PROC": "2101", "PORT": "45123"}


def _rows(conn: sa.Connection, table: str, order: str) -> list[dict[str, Any]]:
    """Rows without their ids (the loader picks its own), in a stable order."""
    out = []
    for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {order}"):
        values = dict(row._mapping)
        for key in ("id", "event_id"):
            values.pop(key, None)
        out.append(values)
    return out


def _snapshot(store: AuditStore) -> dict[str, list[dict[str, Any]]]:
    with store.engine.connect() as conn:
        return {
            "audit_event": _rows(conn, "audit_event", "event_time, digest"),
            "audit_event_patient": _rows(conn, "audit_event_patient", "event_time, patient_key"),
            "audit_event_document": _rows(conn, "audit_event_document", "event_time, position"),
            "audit_notification": _rows(conn, "audit_notification", "event_time, kind"),
        }


def test_the_loader_writes_the_rows_the_sink_stores_for_the_same_messages(pg_url: str) -> None:
    kinds = ev.kinds()
    events = [  # one patient, one professional: a submission, a consultation, an emergency retrieve, a feed
        (("ITI-41", 0, "normal", 0), {"SS": "1.2.250.1.213.1.1.9.3.7"}),
        (("ITI-42", 0, "normal", 0), {"SS": "1.2.250.1.213.1.1.9.3.7"}),
        (("ITI-18", 0, "normal", 0), {"QUERY": base64.b64encode(ev.query_request(f"{COMMON['PID']}^^^&{ev.AUTHORITY}&ISO")).decode()}),
        (("ITI-43", 0, "bris_de_glace", 2), {"DOC0": "1.2.250.1.213.1.1.9.2.42.1", "DOC1": "1.2.250.1.213.1.1.9.2.42.2"}),
        (("ITI-8", -1, "", 0), {"IP": "10.0.0.8", "CTL": base64.b64encode(b"MSG000000000001").decode()}),
    ]
    rows = ev.Rows({}, {}, {}, {})
    received = []
    for n, (key, extra) in enumerate(events):
        moment = NOW - dt.timedelta(hours=5 - n, microseconds=NOW.microsecond % 1000)
        values = {**COMMON, **(PERSON if key[1] >= 0 else {}), **extra}
        frame = ev.render(kinds[key], 100 + n, moment, values, rows, first_access=n == 0)
        received.append((read_message(frame), Origin("tls", f"{values['IP']}:{values['PORT']}", ev.received_time(moment))))
    store = AuditStore.open(pg_url)
    try:
        assert store.add(received) == len(events)  # the sink itself
        stored = _snapshot(store)
        assert len(stored["audit_notification"]) == 2  # first access, emergency access
        with store.engine.begin() as conn:
            for table in stored:
                conn.exec_driver_sql(f"DELETE FROM {table}")
        with psycopg.connect(audit_load.psycopg_url(pg_url)) as conn:  # the loader's rows, as it copies them
            for table, columns, lines in (
                ("audit_event", ev.EVENT_COLUMNS, [line for month in rows.events.values() for line in month]),
                ("audit_event_patient", ev.PATIENT_COLUMNS, [line for month in rows.patients.values() for line in month]),
                ("audit_event_document", ev.DOCUMENT_COLUMNS, [line for month in rows.documents.values() for line in month]),
                ("audit_notification", ev.NOTIFICATION_COLUMNS, [line for month in rows.notifications.values() for line in month]),
            ):
                audit_load._copy(conn, table, columns, lines)
        loaded = _snapshot(store)
        for table in stored:
            assert loaded[table] == stored[table], table
    finally:
        store.close()


def test_a_load_leaves_a_store_the_sink_reads(pg_url: str) -> None:
    loaded = audit_load.load(pg_url, 3000, 2, jobs=1, progress=False)
    assert loaded.events == 3000 and loaded.heavy[0][1] > 10
    store = AuditStore.open(pg_url)
    try:
        assert store.counts()["events"] == store.counted()["events"] == 3000
        months = partitions.existing(store.engine.connect())
        assert set(loaded.when.months) <= months  # attached again
        patient, count = loaded.heavy[0]
        trace = store.accesses(f"{patient}^^^&{ev.AUTHORITY}&ISO", limit=1000)
        assert len(trace) == count
        assert [e["event_time"] for e in trace] == sorted((e["event_time"] for e in trace), reverse=True)
        with store.engine.connect() as conn:
            # each loaded month has the indexes a month the sink creates has, the keys included
            def indexes(table: str) -> list[str]:
                return sorted(r[0].split(" USING ")[1] for r in conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = %(t)s", {"t": table}))
            for table in partitions.TABLES:
                made = partitions.partition_name(table, partitions.add_months(partitions.month_of(NOW), 2))
                assert indexes(partitions.partition_name(table, loaded.when.months[0])) == indexes(made), table
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_event_pdefault").scalar() == 0
        # the sink stores a new event after the loaded ones: the sequences were moved past them
        kinds = ev.kinds()
        frame = ev.render(kinds[("ITI-18", 0, "normal", 0)], 0, NOW, {**COMMON, **PERSON, "QUERY": ""},
                          ev.Rows({}, {}, {}, {}), False)
        assert store.add([(read_message(frame), Origin("tls", "10.0.0.1:1", NOW))]) == 1
    finally:
        store.close()


def test_events_per_patient_are_long_tailed_and_sum_to_n() -> None:
    counts = audit_load.plan(200_000, 1)
    assert sum(counts) == 200_000
    assert 0.6 * 140_000 < len(counts) < 1.4 * 140_000  # about 0.7 N patients
    active = sorted(k for k in counts if k)
    assert active[len(active) // 2] <= 2 and active[-1] >= 500
