"""Events at scale: the event tables partitioned by month of event_time on PostgreSQL (`audit.partitions`).

The patient and document rows carry their event's event_time (the partition key of all three tables, and
the order of a patient's trace, read from one index (patient_id, event_time, event_id)); a message is unique
by (digest, event_time), as a unique key of a partitioned table must hold the key (one message has one
EventDateTime: the same rule). No foreign keys: an event and its rows are written in one transaction and
dropped together, a month at a time; `audit_notification` loses its foreign key too (an event's key is now
(id, event_time)). SQLite gets the same tables, unpartitioned.
The tables are rebuilt (renamed, created anew, copied, dropped), ids and sequences kept.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from audit import partitions

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TABLES = ("audit_event", "audit_event_patient", "audit_event_document")  # partitioned here (0005 adds notifications)
_EVENT_COLUMNS = (
    "id", "digest", "received_at", "transport", "peer", "peer_certificate", "syslog_timestamp", "syslog_hostname",
    "syslog_app_name", "syslog_procid", "event_id", "event_name", "event_action", "event_type", "event_type_name",
    "event_time", "outcome", "user_id", "user_name", "user_roles", "organisation_id", "organisation", "access_mode",
    "purposes", "source_user_id", "source_address", "destination_user_id", "destination_address", "audit_source_id",
    "submission_set_id", "query_id", "message", "outcome_description",
)
_DOCUMENT_COLUMNS = ("position", "document_unique_id", "repository_unique_id", "home_community_id")
_NOTIFICATION_COLUMNS = ("id", "event_id", "patient_id", "kind", "event_time", "user_id", "user_name", "access_mode",
                         "transaction", "document_unique_id", "text")


def _event_columns(postgresql: bool) -> list[sa.Column]:
    ident = (sa.Column("id", sa.BigInteger(), server_default=sa.text("nextval('audit_event_id_seq')"), nullable=False)
             if postgresql else sa.Column("id", _ID, primary_key=True, autoincrement=True))
    return [
        ident,
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
        sa.Column("user_roles", sa.Text(), nullable=False),
        sa.Column("organisation_id", sa.String(1024), nullable=False),
        sa.Column("organisation", sa.String(1024), nullable=False),
        sa.Column("access_mode", sa.String(32), nullable=False),
        sa.Column("purposes", sa.Text(), nullable=False),
        sa.Column("source_user_id", sa.String(1024), nullable=False),
        sa.Column("source_address", sa.String(255), nullable=False),
        sa.Column("destination_user_id", sa.String(1024), nullable=False),
        sa.Column("destination_address", sa.String(255), nullable=False),
        sa.Column("audit_source_id", sa.String(255), nullable=False),
        sa.Column("submission_set_id", sa.String(255), nullable=False),
        sa.Column("query_id", sa.String(255), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("outcome_description", sa.Text(), nullable=False, server_default=""),
    ]


def _notification_table(pg: bool, foreign_key: bool) -> None:
    """audit_notification as 0002 made it (`foreign_key`) or without the key; the id sequence kept."""
    event = sa.ForeignKey("audit_event.id", ondelete="CASCADE") if foreign_key else None
    ident = (sa.Column("id", sa.BigInteger(), server_default=sa.text("nextval('audit_notification_id_seq')"),
                       primary_key=True) if pg else sa.Column("id", _ID, primary_key=True, autoincrement=True))
    op.create_table(
        "audit_notification",
        ident,
        sa.Column("event_id", _ID, *([event] if event is not None else []), nullable=False),
        sa.Column("patient_id", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(1024), nullable=False),
        sa.Column("user_name", sa.String(1024), nullable=False),
        sa.Column("access_mode", sa.String(32), nullable=False),
        sa.Column("transaction", sa.String(64), nullable=False),
        sa.Column("document_unique_id", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    if pg:
        op.execute("ALTER SEQUENCE audit_notification_id_seq OWNED BY audit_notification.id")
    op.create_index("ix_audit_notification_patient", "audit_notification", ["patient_id", "id"])


def _copy_notifications(suffix: str) -> None:
    names = ", ".join(f'"{c}"' for c in _NOTIFICATION_COLUMNS)  # "transaction" is a keyword
    op.execute(f"INSERT INTO audit_notification ({names}) SELECT {names} FROM audit_notification_{suffix}")


def _rename(conn: sa.Connection, table: str, new: str) -> None:
    """Rename a table and, on PostgreSQL, its indexes (index names are per schema, the new tables reuse them)."""
    if conn.dialect.name == "postgresql":
        op.rename_table(table, new)
        names = conn.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE tablename = %s", (new,)).scalars().all()
        for name in names:
            op.execute(f'ALTER INDEX "{name}" RENAME TO "{name}_{new.rsplit("_", 1)[1]}"')
        return
    for (name,) in conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
    ).all():
        op.drop_index(name, table_name=table)
    op.rename_table(table, new)


def _months(conn: sa.Connection, table: str) -> set[dt.date]:
    """The months of the events of `table`, and the months around now (the sink creates the next ones)."""
    now = partitions.month_of(dt.datetime.now(dt.UTC))
    months = {partitions.add_months(now, n) for n in range(-1, 3)}
    for (moment,) in conn.execute(sa.text(f"SELECT DISTINCT date_trunc('month', event_time AT TIME ZONE 'UTC') FROM {table}")):
        months.add(dt.date(moment.year, moment.month, 1))
    return months


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    for table in (*_TABLES, "audit_notification"):
        _rename(conn, table, f"{table}_v1")
    partitioned = {"postgresql_partition_by": "RANGE (event_time)"} if pg else {}
    op.create_table(
        "audit_event", *_event_columns(pg),
        *([sa.PrimaryKeyConstraint("id", "event_time")] if pg else []),
        sa.UniqueConstraint("digest", "event_time", name="ux_audit_event_digest"),
        **partitioned,
    )
    if pg:
        op.execute("ALTER SEQUENCE audit_event_id_seq OWNED BY audit_event.id")
    op.create_index("ix_audit_event_time", "audit_event", ["event_time"])
    op.create_index("ix_audit_event_user", "audit_event", ["user_id", "event_time"])
    op.create_index("ix_audit_event_type", "audit_event", ["event_type", "event_time"])
    op.create_table(
        "audit_event_patient",
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("patient_id", sa.String(512), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "event_time", "patient_id"),
        **partitioned,
    )
    op.create_index("ix_audit_event_patient", "audit_event_patient", ["patient_id", "event_time", "event_id"])
    op.create_table(
        "audit_event_document",
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("document_unique_id", sa.String(255), nullable=False),
        sa.Column("repository_unique_id", sa.String(255), nullable=False),
        sa.Column("home_community_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "event_time", "position"),
        **partitioned,
    )
    if pg:
        partitions.create_parents_defaults(conn, _TABLES)
        partitions.ensure(conn, _months(conn, "audit_event_v1"), _TABLES)
    columns = ", ".join(_EVENT_COLUMNS)
    op.execute(f"INSERT INTO audit_event ({columns}) SELECT {columns} FROM audit_event_v1")
    op.execute("INSERT INTO audit_event_patient (event_id, event_time, patient_id)"
               " SELECT p.event_id, e.event_time, p.patient_id FROM audit_event_patient_v1 p"
               " JOIN audit_event_v1 e ON e.id = p.event_id")
    documents = ", ".join(_DOCUMENT_COLUMNS)
    op.execute(f"INSERT INTO audit_event_document (event_id, event_time, {documents})"
               f" SELECT d.event_id, e.event_time, {', '.join('d.' + c for c in _DOCUMENT_COLUMNS)}"
               " FROM audit_event_document_v1 d JOIN audit_event_v1 e ON e.id = d.event_id")
    _notification_table(pg, foreign_key=False)
    _copy_notifications("v1")
    for table in ("audit_notification", *reversed(_TABLES)):  # those that reference audit_event first
        op.drop_table(f"{table}_v1")


def downgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    for table in (*_TABLES, "audit_notification"):
        _rename(conn, table, f"{table}_v2")
    columns = _event_columns(pg)
    if pg:  # 0002's layout: a plain table, id its primary key, digest unique
        columns[0] = sa.Column("id", sa.BigInteger(), server_default=sa.text("nextval('audit_event_id_seq')"),
                               primary_key=True)
    columns[1] = sa.Column("digest", sa.String(64), nullable=False, unique=True)
    op.create_table("audit_event", *columns)
    if pg:
        op.execute("ALTER SEQUENCE audit_event_id_seq OWNED BY audit_event.id")
    op.create_index("ix_audit_event_time", "audit_event", ["event_time"])
    op.create_index("ix_audit_event_user", "audit_event", ["user_id", "event_time"])
    op.create_index("ix_audit_event_type", "audit_event", ["event_type", "event_time"])
    op.create_table(
        "audit_event_patient",
        sa.Column("event_id", _ID, sa.ForeignKey("audit_event.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("patient_id", sa.String(512), primary_key=True),
    )
    op.create_index("ix_audit_event_patient", "audit_event_patient", ["patient_id", "event_id"])
    op.create_table(
        "audit_event_document",
        sa.Column("event_id", _ID, sa.ForeignKey("audit_event.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("document_unique_id", sa.String(255), nullable=False),
        sa.Column("repository_unique_id", sa.String(255), nullable=False),
        sa.Column("home_community_id", sa.String(255), nullable=False),
    )
    names = ", ".join(_EVENT_COLUMNS)
    op.execute(f"INSERT INTO audit_event ({names}) SELECT {names} FROM audit_event_v2")
    op.execute("INSERT INTO audit_event_patient (event_id, patient_id) SELECT event_id, patient_id FROM audit_event_patient_v2")
    documents = ", ".join(("event_id", *_DOCUMENT_COLUMNS))
    op.execute(f"INSERT INTO audit_event_document ({documents}) SELECT {documents} FROM audit_event_document_v2")
    _notification_table(pg, foreign_key=True)
    _copy_notifications("v2")
    for table in ("audit_notification", *reversed(_TABLES)):
        op.drop_table(f"{table}_v2")
