"""DMP notifications partitioned by month of event time on PostgreSQL, like the events (`audit.partitions`).

Retention dropped the events' months but deleted the notifications row by row, over a table with no index on
event_time: a scan of every notification at each retention (bench.audit_scale measured it growing with the
store, not with the month dropped). `audit_notification` is now partitioned by range of event_time too (its
key becomes (id, event_time)), one partition per month beside the events' (and a DEFAULT one), dropped with
them. SQLite keeps the plain table (retention deletes rows there). The table is rebuilt (renamed, created
anew, copied, dropped), its ids and sequence kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audit import partitions

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "audit_notification"
_COLUMNS = ("id", "event_id", "patient_id", "patient_key", "kind", "event_time", "user_id", "user_name", "access_mode",
            "transaction", "document_unique_id", "text")


def _columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.BigInteger(), server_default=sa.text("nextval('audit_notification_id_seq')"), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
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
    ]


def _set_aside(conn: sa.Connection, suffix: str) -> str:
    """Rename the table, its key and its index out of the way of the new table's names."""
    old = f"{TABLE}_{suffix}"
    op.rename_table(TABLE, old)
    key = conn.exec_driver_sql(
        f"SELECT conname FROM pg_constraint WHERE conrelid = '{old}'::regclass AND contype = 'p'").scalar_one()
    op.execute(f'ALTER TABLE {old} RENAME CONSTRAINT "{key}" TO "{old}_pkey"')
    op.execute(f"ALTER INDEX ix_audit_notification_patient_key RENAME TO ix_audit_notification_patient_key_{suffix}")
    return old


def _fill(old: str) -> None:
    op.execute("ALTER SEQUENCE audit_notification_id_seq OWNED BY audit_notification.id")  # else dropped with the old
    names = ", ".join(f'"{c}"' for c in _COLUMNS)  # "transaction" is a keyword
    op.execute(f"INSERT INTO {TABLE} ({names}) SELECT {names} FROM {old}")
    op.drop_table(old)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    old = _set_aside(conn, "v4")
    op.create_table(TABLE, *_columns(), sa.PrimaryKeyConstraint("id", "event_time"),
                    postgresql_partition_by="RANGE (event_time)")
    op.create_index("ix_audit_notification_patient_key", TABLE, ["patient_key", "id"])
    partitions.create_parents_defaults(conn, (TABLE,))
    for month in sorted(partitions.existing(conn)):  # the events' months
        partitions.create_month(conn, TABLE, month)
    _fill(old)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    old = _set_aside(conn, "v5")
    columns = _columns()
    columns[0] = sa.Column("id", sa.BigInteger(), server_default=sa.text("nextval('audit_notification_id_seq')"),
                           primary_key=True)
    op.create_table(TABLE, *columns)
    op.create_index("ix_audit_notification_patient_key", TABLE, ["patient_key", "id"])
    _fill(old)  # drops the partitioned table with its months
