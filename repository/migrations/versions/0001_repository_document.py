"""repository_document as the first release made it: uniqueId → blob hash, size, mimeType, state

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repository_document",
        sa.Column("unique_id", sa.String(256), primary_key=True),
        sa.Column("sha1", sa.String(40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_repository_document_sha1", "repository_document", ["sha1"])
    op.create_index("ix_repository_document_state", "repository_document", ["state"])


def downgrade() -> None:
    op.drop_table("repository_document")
