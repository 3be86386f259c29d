"""repository_content: the bytes of small documents kept in the store (SHA-1 → bytes), written in the
transaction that reserves their row instead of a blob file with two fsyncs (docs/repository.md
"Small documents in the store"; issue 15)

Downgrade refuses while documents are kept here: the schema before it has nowhere to put their bytes
(write them out as blob files first, or keep this revision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repository_content",
        sa.Column("sha1", sa.String(40), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    kept = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM repository_content")).scalar_one()
    if kept:
        raise RuntimeError(f"{kept} document(s) keep their bytes in repository_content; revision 0002 has no "
                           "place for them: they would be lost (downgrade refused)")
    op.drop_table("repository_content")
