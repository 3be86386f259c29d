"""repository_document.patient_id: the DocumentEntry's patient, named by the ITI-43 audit message
(ITI TF-2b 3.43.6.1.2); "" for documents stored before

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


def upgrade() -> None:
    op.add_column("repository_document", sa.Column("patient_id", sa.String(256), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("repository_document") as batch:
        batch.drop_column("patient_id")
