"""Monthly time partitions of the audit sink's events on PostgreSQL (ATNA Audit Record Repository, ITI TF-1 9;
the DMP access trace, which a national sink keeps for years: 10^8 events and more).

The event tables (`audit_event`, `audit_event_patient`, `audit_event_document`) and the DMP notifications
they gave (`audit_notification`, since migration 0005) are partitioned by range of `event_time`, one
partition per calendar month (UTC), named `<table>_pYYYYMM`, plus a DEFAULT partition `<table>_pdefault`
for times outside the months created (a sender's clock far off, an event spooled for months). So:
- a patient's trace reads, in each month, one small index (patient, time), newest first, and a `since` /
  `until` period skips the months outside it (partition pruning);
- retention drops whole months of all four tables, with no DELETE over millions of rows and no vacuum debt.

`ensure(conn, months)` creates the months missing (moving into a new month any rows its DEFAULT partition
took for it, else PostgreSQL would refuse the new partition); `drop_before(conn, cutoff)` drops the months
that end before the cutoff and deletes the older rows of the DEFAULT partitions (and says how many events
went, for the store's `audit_count`: one count(*) per month dropped, a month after it ended). Both run under an advisory
lock, so several sinks on one database do not race. SQLite keeps the same tables unpartitioned
(`audit.store` deletes rows there).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import Connection

from xdsservice.database import advisory_lock

TABLES = ("audit_event", "audit_event_patient", "audit_event_document", "audit_notification")
LOCK = "audit_event partitions"
_MONTH = re.compile(r"^audit_event_p(\d{4})(\d{2})$")
_PARTITION = re.compile(r"^audit_(event|event_patient|event_document|notification)_p(\d{6}|default)$")


def month_of(moment: dt.datetime) -> dt.date:
    """The first day of the UTC month holding `moment`."""
    utc = moment.astimezone(dt.UTC) if moment.tzinfo else moment
    return dt.date(utc.year, utc.month, 1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _bound(month: dt.date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"  # a date we computed: safe as a DDL literal


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month:%Y%m}"


def is_partition(name: str) -> bool:
    """True for the partitions' own tables (schema comparisons leave them out: they are not in the metadata)."""
    return _PARTITION.match(name) is not None


def existing(conn: Connection) -> set[dt.date]:
    """The months that have partitions."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'audit_event'::regclass"
    )
    out = set()
    for (name,) in rows:
        m = _MONTH.match(name)
        if m:
            out.add(dt.date(int(m.group(1)), int(m.group(2)), 1))
    return out


def create_parents_defaults(conn: Connection, tables: Iterable[str] = TABLES) -> None:
    """The DEFAULT partition of each table (its parent must exist)."""
    for table in tables:
        conn.exec_driver_sql(f"CREATE TABLE {table}_pdefault PARTITION OF {table} DEFAULT")


def create_month(conn: Connection, table: str, month: dt.date) -> None:
    low, high = _bound(month), _bound(add_months(month, 1))
    conn.exec_driver_sql(f"CREATE TABLE {partition_name(table, month)} PARTITION OF {table} FOR VALUES FROM ({low}) TO ({high})")


def ensure(conn: Connection, months: Iterable[dt.date], tables: Iterable[str] = TABLES) -> list[dt.date]:
    """Create the partitions of `months` that are missing (in `tables`, all by default); the months created."""
    wanted = set(months)
    if not wanted:
        return []
    advisory_lock(conn, LOCK)
    created = sorted(wanted - existing(conn))
    for month in created:
        low, high = _bound(month), _bound(add_months(month, 1))
        for table in tables:
            name = partition_name(table, month)
            held = conn.exec_driver_sql(
                f"SELECT EXISTS (SELECT 1 FROM {table}_pdefault WHERE event_time >= {low} AND event_time < {high})"
            ).scalar()
            if not held:
                create_month(conn, table, month)
                continue
            # The DEFAULT partition holds rows of this month: move them to the new table, then attach it.
            create_detached(conn, table, month)
            conn.exec_driver_sql(
                f"WITH moved AS (DELETE FROM {table}_pdefault WHERE event_time >= {low} AND event_time < {high}"
                f" RETURNING *) INSERT INTO {name} SELECT * FROM moved"
            )
            attach(conn, table, month)
    return created


def create_detached(conn: Connection, table: str, month: dt.date) -> str:
    """The month's table, not yet a partition and without indexes: filled, then `attach`ed (the DEFAULT
    partition's rows of a new month; a bulk load, which builds each index once over the month's rows)."""
    name = partition_name(table, month)
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    return name


def index_detached(conn: Connection, table: str, month: dt.date) -> None:
    """Build on a detached month the parent's indexes and its primary and unique keys, so `attach` only
    attaches them; months on separate connections build at the same time (ATTACH, which would build them,
    runs one at a time per parent)."""
    name = partition_name(table, month)
    for (definition,) in conn.exec_driver_sql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(t)s::regclass AND contype IN ('p', 'u')",
        {"t": table},
    ):
        conn.exec_driver_sql(f"ALTER TABLE {name} ADD {definition}")
    for (definition,) in conn.exec_driver_sql(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %(t)s::regclass"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        {"t": table},
    ):
        # "CREATE INDEX ix ON ONLY public.audit_event USING btree (...)": the same index on the month's table
        conn.exec_driver_sql(re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+", rf"CREATE \1INDEX ON {name}", definition))


def attach(conn: Connection, table: str, month: dt.date) -> None:
    """Make a detached month a partition (its rows checked against the month's bounds; the indexes
    `index_detached` built are attached, the others built)."""
    low, high = _bound(month), _bound(add_months(month, 1))
    conn.exec_driver_sql(
        f"ALTER TABLE {table} ATTACH PARTITION {partition_name(table, month)} FOR VALUES FROM ({low}) TO ({high})")


def drop_before(conn: Connection, cutoff: dt.datetime) -> tuple[list[dt.date], int]:
    """Drop the months that end at or before `cutoff`, delete older rows of the DEFAULT partitions; the months
    dropped and the number of events gone. The months' events are counted before the first DROP (a DROP
    locks the parent tables until the commit: writers wait, not for the counts). Children first: an event
    and its patient, document and notification rows go together."""
    advisory_lock(conn, LOCK)
    limit = cutoff.astimezone(dt.UTC)
    dropped = sorted(m for m in existing(conn) if dt.datetime.combine(add_months(m, 1), dt.time(), dt.UTC) <= limit)
    events = sum(int(conn.exec_driver_sql(f"SELECT count(*) FROM {partition_name(TABLES[0], month)}").scalar() or 0)
                 for month in dropped)
    for month in dropped:
        for table in reversed(TABLES):
            conn.exec_driver_sql(f"DROP TABLE {partition_name(table, month)}")
    for table in reversed(TABLES):
        deleted = conn.exec_driver_sql(f"DELETE FROM {table}_pdefault WHERE event_time < %(cutoff)s", {"cutoff": limit})
        if table == TABLES[0]:
            events += deleted.rowcount
    return dropped, events
