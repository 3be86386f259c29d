"""DMP: the access decision of each event (EventOutcomeDescription) and the patient's notifications.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("outcome_description", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "audit_notification",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", _ID, sa.ForeignKey("audit_event.id", ondelete="CASCADE"), nullable=False),
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
    op.create_index("ix_audit_notification_patient", "audit_notification", ["patient_id", "id"])


def downgrade() -> None:
    op.drop_table("audit_notification")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("outcome_description")
