"""Patients matched as patients, rejections kept once, counts kept (issue 18).

- `audit_event_patient.patient_key` and `audit_notification.patient_key`: CX.1 and the assigning authority's
  universal id (`audit.record.patient_key`), filled from the ids stored; the trace and the notifications are
  read by it (new indexes replace those on the id as written). On PostgreSQL the column and the index are
  added to the partitioned table, which gives them to every month.
- `audit_rejected.digest` (unique; the rows already there keep none): the same bytes over the same
  transport are one rejection.
- `audit_count`: the events and the rejections, counted once here, then kept by the store's transactions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audit.record import patient_key

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _fill_keys(conn: sa.Connection, table: str) -> None:
    """patient_key of every row, one UPDATE per distinct patient id whose key differs from it."""
    ids = conn.execute(sa.text(f"SELECT DISTINCT patient_id FROM {table}")).scalars().all()
    changes = [{"key": patient_key(p), "id": p} for p in ids]
    if changes:
        conn.execute(sa.text(f"UPDATE {table} SET patient_key = :key WHERE patient_id = :id"), changes)


def upgrade() -> None:
    conn = op.get_bind()
    for table in ("audit_event_patient", "audit_notification"):
        op.add_column(table, sa.Column("patient_key", sa.String(512), nullable=False, server_default=""))
        _fill_keys(conn, table)
    op.drop_index("ix_audit_event_patient", table_name="audit_event_patient")
    op.create_index("ix_audit_event_patient_key", "audit_event_patient", ["patient_key", "event_time", "event_id"])
    op.drop_index("ix_audit_notification_patient", table_name="audit_notification")
    op.create_index("ix_audit_notification_patient_key", "audit_notification", ["patient_key", "id"])
    op.add_column("audit_rejected", sa.Column("digest", sa.String(64)))
    op.create_index("ux_audit_rejected_digest", "audit_rejected", ["digest"], unique=True)
    op.create_table(
        "audit_count",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO audit_count (name, value) SELECT 'events', count(*) FROM audit_event")
    op.execute("INSERT INTO audit_count (name, value) SELECT 'rejected', count(*) FROM audit_rejected")


def downgrade() -> None:
    op.drop_table("audit_count")
    op.drop_index("ux_audit_rejected_digest", table_name="audit_rejected")
    with op.batch_alter_table("audit_rejected") as batch:
        batch.drop_column("digest")
    op.drop_index("ix_audit_notification_patient_key", table_name="audit_notification")
    op.create_index("ix_audit_notification_patient", "audit_notification", ["patient_id", "id"])
    op.drop_index("ix_audit_event_patient_key", table_name="audit_event_patient")
    op.create_index("ix_audit_event_patient", "audit_event_patient", ["patient_id", "event_time", "event_id"])
    for table in ("audit_notification", "audit_event_patient"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("patient_key")
