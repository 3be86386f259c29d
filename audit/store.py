"""The audit record repository's SQL store (ATNA Audit Record Repository, ITI TF-1 9; DMP access trace).

SQLAlchemy 2 Core on SQLite (WAL) by default or PostgreSQL, opened by `xdsservice.database` (one engine
and durability policy for every store). One row per audit event with the fields the
searches need as indexed columns (event time, requestor, event type) and side tables for the patients and
documents an event names; the AuditMessage XML is kept as received. Messages that could not be read are
kept too, in `audit_rejected`, with the reason. The schema is created and upgraded by the Alembic
migrations in `audit/migrations` (its own version table, so it can share a database with the registry).

A patient is matched on its key (`audit.record.patient_key`: CX.1 and the assigning authority's universal
id), kept beside the id as received, so every form of one patient's CX finds the same trace. A rejection is
kept once per transport and bytes (`digest`): the same message kept in `pending.db` at a stop and resent by
its sender is one rejection, as it is one event. `audit_count` holds the number of events and rejections,
updated in the transaction that changes them, so `/health` reads two rows instead of counting millions.

At scale (PostgreSQL), the event and notification tables are partitioned by month of event time (`audit.partitions`): the
store creates the months it is about to write (and the next ones, at start-up and daily), and
`retention_days` drops whole months once they are older than that; a patient's trace reads one index per
month, newest first. SQLite keeps the same tables unpartitioned and deletes rows for retention.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from audit import notify, partitions
from audit.record import AuditRecord, patient_key
from audit.writes import BatchWriter, utc
from xdsservice.database import make_engine, writing
from xdsservice.dbapi import Dbapi

# Months the store creates partitions for: from PAST_MONTHS before the current month (an event spooled for
# a while) to AHEAD_MONTHS after it (created in advance, so writes never wait on DDL at a month's turn).
# Events outside go to the DEFAULT partition: a sender with a wild clock cannot make the store create tables.
PAST_MONTHS = 12
AHEAD_MONTHS = 2
MAINTAIN_EVERY = 3600.0  # seconds between two checks of the months ahead and of retention

metadata = sa.MetaData()

audit_event = sa.Table(
    "audit_event",
    metadata,
    # PostgreSQL: the key is (id, event_time), as every unique key of a partitioned table holds the partition key.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("transport", sa.String(8), nullable=False),
    sa.Column("peer", sa.String(255), nullable=False),
    sa.Column("peer_certificate", sa.Text()),
    sa.Column("syslog_timestamp", sa.String(40), nullable=False),
    sa.Column("syslog_hostname", sa.String(255), nullable=False),
    sa.Column("syslog_app_name", sa.String(48), nullable=False),
    sa.Column("syslog_procid", sa.String(128), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_name", sa.String(255), nullable=False),
    sa.Column("event_action", sa.String(1), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("event_type_name", sa.String(255), nullable=False),
    sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("outcome", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.String(1024), nullable=False),
    sa.Column("user_name", sa.String(1024), nullable=False),
    sa.Column("user_roles", sa.Text(), nullable=False),  # JSON [{code, system, text}]
    sa.Column("organisation_id", sa.String(1024), nullable=False),
    sa.Column("organisation", sa.String(1024), nullable=False),
    sa.Column("access_mode", sa.String(32), nullable=False),
    sa.Column("purposes", sa.Text(), nullable=False),  # JSON [{code, system, text}]
    sa.Column("source_user_id", sa.String(1024), nullable=False),
    sa.Column("source_address", sa.String(255), nullable=False),
    sa.Column("destination_user_id", sa.String(1024), nullable=False),
    sa.Column("destination_address", sa.String(255), nullable=False),
    sa.Column("audit_source_id", sa.String(255), nullable=False),
    sa.Column("submission_set_id", sa.String(255), nullable=False),
    sa.Column("query_id", sa.String(255), nullable=False),
    sa.Column("message", sa.LargeBinary(), nullable=False),
    sa.Column("outcome_description", sa.Text(), nullable=False, server_default=""),  # DMP: the access decision
    # One message has one EventDateTime: unique by digest, with the partition key.
    sa.UniqueConstraint("digest", "event_time", name="ux_audit_event_digest"),
    sa.Index("ix_audit_event_time", "event_time"),
    sa.Index("ix_audit_event_user", "user_id", "event_time"),
    sa.Index("ix_audit_event_type", "event_type", "event_time"),
)

# The patients and documents an event names, with its event_time: the partition key, and the order of a
# patient's trace, read from one index. No foreign key: written with the event, dropped with its month.
audit_event_patient = sa.Table(
    "audit_event_patient",
    metadata,
    sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("event_time", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("patient_id", sa.String(512), primary_key=True),  # as the message wrote it
    sa.Column("patient_key", sa.String(512), nullable=False, server_default=""),  # audit.record.patient_key
    sa.Index("ix_audit_event_patient_key", "patient_key", "event_time", "event_id"),
)

audit_event_document = sa.Table(
    "audit_event_document",
    metadata,
    sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("event_time", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("document_unique_id", sa.String(255), nullable=False),
    sa.Column("repository_unique_id", sa.String(255), nullable=False),
    sa.Column("home_community_id", sa.String(255), nullable=False),
)

# DMP notifications (audit.notify): derived from the events, in the same transaction. PostgreSQL: partitioned by
# month of event_time with the events (key (id, event_time)), dropped with them.
audit_notification = sa.Table(
    "audit_notification",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    # no foreign key: an event's key is (id, event_time) on PostgreSQL; retention deletes by event_time
    sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("patient_id", sa.String(512), nullable=False),
    sa.Column("patient_key", sa.String(512), nullable=False, server_default=""),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_id", sa.String(1024), nullable=False),
    sa.Column("user_name", sa.String(1024), nullable=False),
    sa.Column("access_mode", sa.String(32), nullable=False),
    sa.Column("transaction", sa.String(64), nullable=False),
    sa.Column("document_unique_id", sa.String(255), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Index("ix_audit_notification_patient_key", "patient_key", "id"),
)

audit_rejected = sa.Table(
    "audit_rejected",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("transport", sa.String(8), nullable=False),
    sa.Column("peer", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Column("digest", sa.String(64)),  # sha256 of transport and bytes: kept once; NULL for an empty frame
    sa.Index("ix_audit_rejected_received", "received_at"),
    sa.Index("ux_audit_rejected_digest", "digest", unique=True),
)

# Rows: ("events", n) and ("rejected", n), kept exact by the transactions that add and drop them.
audit_count = sa.Table(
    "audit_count",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger(), nullable=False),
)


@dataclass(frozen=True)
class Origin:
    """How a message reached the sink."""

    transport: str  # tls | udp
    peer: str  # address:port
    received_at: datetime
    peer_certificate: str | None = None


@dataclass(frozen=True)
class EventFilter:
    """A search: every given criterion must match. Times are inclusive bounds on EventDateTime."""

    patient_id: str | None = None
    user_id: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def _count(conn: sa.Connection, name: str, delta: int) -> None:
    if delta:
        conn.execute(audit_count.update().where(audit_count.c.name == name).values(value=audit_count.c.value + delta))


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


class AuditStore:
    def __init__(self, engine: Engine, channels: Sequence[notify.NotificationChannel] = (), retention_days: int = 0) -> None:
        self.engine = engine
        self.channels = tuple(channels)  # where DMP notifications go once stored (audit.notify)
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {engine.dialect.name}; use SQLite or PostgreSQL")
        self.partitioned = engine.dialect.name == "postgresql"
        self.retention_days = retention_days  # 0: keep every event
        self._months: set[date] = set()  # months known to have partitions
        self._maintained = float("-inf")

    @classmethod
    def open(cls, url: str, migrate: bool = True, channels: Sequence[notify.NotificationChannel] = (),
             retention_days: int = 0) -> AuditStore:
        store = cls(make_engine(url), channels, retention_days)  # no connection yet
        if migrate:
            store.prepare()
        return store

    def prepare(self) -> None:
        """Bring the schema to head and create the months ahead: the first thing a sink does with its
        database (it raises while the database is unreachable; the sink retries, `audit.writer`)."""
        self.migrate()
        self.maintain()

    def ping(self) -> None:
        """Raise unless the database takes a write transaction now (SQLite: its write lock; PostgreSQL: a
        connection): tells "the database" from "this message" when an insert fails."""
        with writing(self.engine) as conn:
            conn.exec_driver_sql("SELECT 1")

    def migrate(self) -> None:
        from audit.migrations import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- partitions and retention ---------------------------------------------------------------------

    def maintain(self, now: datetime | None = None) -> list[date]:
        """Create the months ahead and apply retention; the months dropped. Run at start-up and hourly."""
        now = _utc(now) or datetime.now(UTC)
        self._maintained = time.monotonic()
        current = partitions.month_of(now)
        self._ensure(partitions.add_months(current, n) for n in range(-1, AHEAD_MONTHS + 1))
        if not self.retention_days:
            return []
        return self.drop_before(now - timedelta(days=self.retention_days))

    def drop_before(self, cutoff: datetime) -> list[date]:
        """Retention: forget the events older than `cutoff` (and the notifications and rejected messages).
        PostgreSQL drops the months that end before it (so up to a month more of events is kept), SQLite
        deletes rows; the months dropped."""
        limit = _utc(cutoff)
        assert limit is not None
        with writing(self.engine) as conn:
            if not self.partitioned:  # PostgreSQL: the notifications' months go with the events' (migration 0005)
                conn.execute(audit_notification.delete().where(audit_notification.c.event_time < limit))
            rejected = conn.execute(audit_rejected.delete().where(audit_rejected.c.received_at < limit)).rowcount
            _count(conn, "rejected", -rejected)
            if self.partitioned:
                dropped, events = partitions.drop_before(conn, limit)
                _count(conn, "events", -events)
                self._months -= set(dropped)
                return dropped
            old = sa.select(audit_event.c.id).where(audit_event.c.event_time < limit)
            for table in (audit_event_patient, audit_event_document):
                conn.execute(table.delete().where(table.c.event_id.in_(old)))
            _count(conn, "events", -conn.execute(audit_event.delete().where(audit_event.c.event_time < limit)).rowcount)
        return []

    def _ensure(self, months: Iterable[date]) -> None:
        """Make sure these months have partitions (PostgreSQL), in a transaction of their own."""
        missing = set(months) - self._months
        if not self.partitioned or not missing:
            return
        with writing(self.engine) as conn:
            partitions.ensure(conn, missing)
            self._months = partitions.existing(conn)

    def _months_for(self, times: Iterable[datetime]) -> set[date]:
        """The months of these event times that get partitions (the others go to the DEFAULT partition)."""
        current = partitions.month_of(datetime.now(UTC))
        low, high = partitions.add_months(current, -PAST_MONTHS), partitions.add_months(current, AHEAD_MONTHS)
        if self.retention_days:
            low = max(low, partitions.month_of(datetime.now(UTC) - timedelta(days=self.retention_days)))
        return {m for m in map(partitions.month_of, times) if low <= m <= high}

    # --- writing -------------------------------------------------------------------------------------

    def add(
        self, records: Sequence[tuple[AuditRecord, Origin]], rejected: Sequence[tuple[bytes, str, Origin]] = ()
    ) -> int:
        """Store a batch in one transaction; returns how many events were new (repeats are skipped)."""
        return self.add_counted(records, rejected)[0]

    def add_counted(
        self, records: Sequence[tuple[AuditRecord, Origin]], rejected: Sequence[tuple[bytes, str, Origin]] = ()
    ) -> tuple[int, int]:
        """Store a batch in one transaction; returns how many events and rejections were new (a message
        stored before, as an event or as a rejection over the same transport, is skipped)."""
        unique: dict[str, tuple[AuditRecord, Origin]] = {}
        for record, origin in records:
            unique.setdefault(record.digest, (record, origin))
        if self.partitioned:
            if time.monotonic() - self._maintained > MAINTAIN_EVERY:
                self.maintain()
            self._ensure(self._months_for(r.event_time for r, _ in unique.values()))
        with writing(self.engine) as conn:
            new, kept, notes = BatchWriter(Dbapi(conn)).add(unique, rejected)
        notify.deliver_all(self.channels, notes)  # after the commit: what is delivered is stored
        return new, kept

    # --- reading -------------------------------------------------------------------------------------

    def search(self, criteria: EventFilter) -> list[dict[str, Any]]:
        """Events matching `criteria`, newest first, each with its patients and documents.

        With a patient, the search walks that patient's index (patient_id, event_time, event_id) newest first
        and fetches each event by its key (id, event_time): a trace costs its page of events, however many
        events the sink holds."""
        with self.engine.connect() as conn:
            events = [dict(row._mapping) for row in conn.execute(self.search_query(criteria))]
            self._attach(conn, events)
        return events

    @staticmethod
    def search_query(criteria: EventFilter) -> sa.Select[Any]:
        e = audit_event
        query = sa.select(*[c for c in e.c if c.name != "message"])
        time_column, id_column = e.c.event_time, e.c.id
        if criteria.patient_id is not None and criteria.user_id is None and criteria.event_type is None:
            # The trace: the page of the patient's index first (newest first, LIMIT inside), then each event by
            # its key. Joined before the LIMIT, the planner misjudges a heavy patient's rows (the join's
            # estimate is 1) and joins all their events to sort them: 150 ms for 3,000 events at 10^6.
            p = audit_event_patient.c
            page = sa.select(p.event_id, p.event_time).where(p.patient_key == patient_key(criteria.patient_id))
            if criteria.since is not None:
                page = page.where(p.event_time >= _utc(criteria.since))
            if criteria.until is not None:
                page = page.where(p.event_time <= _utc(criteria.until))
            keys = (page.order_by(p.event_time.desc(), p.event_id.desc()).limit(criteria.limit)
                    .offset(criteria.offset).subquery("page"))
            return (query.select_from(keys.join(e, (e.c.id == keys.c.event_id) & (e.c.event_time == keys.c.event_time)))
                    .order_by(keys.c.event_time.desc(), keys.c.event_id.desc()))
        if criteria.patient_id is not None:
            p = audit_event_patient.c
            query = query.select_from(
                audit_event_patient.join(e, (e.c.id == p.event_id) & (e.c.event_time == p.event_time))
            ).where(p.patient_key == patient_key(criteria.patient_id))
            time_column, id_column = p.event_time, p.event_id
        if criteria.user_id is not None:
            query = query.where(e.c.user_id == criteria.user_id)
        if criteria.event_type is not None:
            query = query.where(e.c.event_type == criteria.event_type)
        if criteria.since is not None:
            query = query.where(time_column >= _utc(criteria.since))
        if criteria.until is not None:
            query = query.where(time_column <= _utc(criteria.until))
        return query.order_by(time_column.desc(), id_column.desc()).limit(criteria.limit).offset(criteria.offset)

    def accesses(self, patient_id: str, since: datetime | None = None, until: datetime | None = None,
                 limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """The access trace of one patient (any form of its CX: `audit.record.patient_key`): every audited
        transaction naming them, newest first."""
        return self.search(EventFilter(patient_id=patient_id, since=since, until=until, limit=limit, offset=offset))

    def notifications(self, patient_id: str | None = None, kind: str | None = None, limit: int = 100,
                      offset: int = 0) -> list[dict[str, Any]]:
        """DMP notifications, newest first."""
        n = audit_notification
        query = sa.select(n)
        if patient_id is not None:
            query = query.where(n.c.patient_key == patient_key(patient_id))
        if kind is not None:
            query = query.where(n.c.kind == kind)
        query = query.order_by(n.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            found = [dict(row._mapping) for row in conn.execute(query)]
        for row in found:
            row["event_time"] = _utc(row["event_time"])
        return found

    def get(self, event_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(audit_event).where(audit_event.c.id == event_id)).first()
            if row is None:
                return None
            event = dict(row._mapping)
            self._attach(conn, [event])
        return event

    def rejected(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        r = audit_rejected
        query = sa.select(r).order_by(r.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """Events and rejections stored: two rows of `audit_count`, whatever the size of the tables."""
        with self.engine.connect() as conn:
            found = dict(conn.execute(sa.select(audit_count.c.name, audit_count.c.value)).all())
        return {"events": int(found.get("events", 0)), "rejected": int(found.get("rejected", 0))}

    def counted(self) -> dict[str, int]:
        """The same, counted over the tables (slow on a large store: for checks and tests)."""
        with self.engine.connect() as conn:
            events = conn.execute(sa.select(sa.func.count()).select_from(audit_event)).scalar_one()
            rejected = conn.execute(sa.select(sa.func.count()).select_from(audit_rejected)).scalar_one()
        return {"events": int(events), "rejected": int(rejected)}

    @staticmethod
    def _attach(conn: sa.Connection, events: list[dict[str, Any]]) -> None:
        by_id = {event["id"]: event for event in events}
        for event in events:
            event["patient_ids"], event["documents"] = [], []
            event["user_roles"] = json.loads(event["user_roles"])
            event["purposes"] = json.loads(event["purposes"])
            for key in ("event_time", "received_at"):
                event[key] = _utc(event[key])
        if not by_id:
            return
        # The event times narrow each lookup to the partitions of these events.
        times = list({event["event_time"] for event in events})
        p, d = audit_event_patient.c, audit_event_document.c
        patients = sa.select(p.event_id, p.patient_id).where(p.event_id.in_(by_id), p.event_time.in_(times))
        for row in conn.execute(patients.order_by(p.event_id, p.patient_id)):
            by_id[row.event_id]["patient_ids"].append(row.patient_id)
        documents = (
            sa.select(audit_event_document)
            .where(d.event_id.in_(by_id), d.event_time.in_(times))
            .order_by(d.event_id, d.position)
        )
        for row in conn.execute(documents):
            by_id[row.event_id]["documents"].append(
                {"document_unique_id": row.document_unique_id, "repository_unique_id": row.repository_unique_id,
                 "home_community_id": row.home_community_id}
            )
