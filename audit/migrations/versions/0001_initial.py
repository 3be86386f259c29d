"""Audit events, their patients and documents, rejected messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
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
    )
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
    op.create_table(
        "audit_rejected",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("peer", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_audit_rejected_received", "audit_rejected", ["received_at"])


def downgrade() -> None:
    op.drop_table("audit_rejected")
    op.drop_table("audit_event_document")
    op.drop_table("audit_event_patient")
    op.drop_table("audit_event")
