"""DMP announcement job state (registry.announce): one row per logical document hidden from the patient

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 11:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dmp_announcements',
        sa.Column('lid', sa.String(length=64), nullable=False),
        sa.Column('notice_at', sa.String(length=14)),
        sa.Column('announced_at', sa.String(length=14)),
        sa.PrimaryKeyConstraint('lid'),
    )


def downgrade() -> None:
    op.drop_table('dmp_announcements')
