"""metadata lifecycle: one row per (lid, version), so concurrent new versions of an object end with one winner

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Registries before ITI-57 hold version 1 of each object, with lid = id: the index cannot fail on them.
    with op.batch_alter_table('objects', schema=None) as batch_op:
        batch_op.drop_index('ix_objects_lid')
        batch_op.create_index('ux_objects_lid_version', ['lid', 'version'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('objects', schema=None) as batch_op:
        batch_op.drop_index('ux_objects_lid_version')
        batch_op.create_index('ix_objects_lid', ['lid'], unique=False)
