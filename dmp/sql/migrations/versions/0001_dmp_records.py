"""DMP records: dmp_records, dmp_actors, dmp_history

Revision ID: dmp0001
Revises:
Create Date: 2026-12-01 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'dmp0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dmp_records',
        sa.Column('patient', sa.String(length=512), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('opposes_bris_de_glace', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('opposes_centre_15', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('hidden_from_everyone', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('masked_visible_in_emergency', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('mes_attached', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('internet_account', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('person', sa.Text(), server_default='{}', nullable=False),
        sa.Column('ins_c', sa.String(length=64), server_default='', nullable=False),
        sa.Column('created_at', sa.String(length=14), nullable=False),
        sa.Column('updated_at', sa.String(length=14), nullable=False),
        sa.Column('closed_at', sa.String(length=14), server_default='', nullable=False),
        sa.Column('closure_reason', sa.String(length=64), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('patient'),
    )
    op.create_table(
        'dmp_actors',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('patient', sa.String(length=512), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('actor_id', sa.String(length=64), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('first_name', sa.String(length=256), server_default='', nullable=False),
        sa.Column('last_name', sa.String(length=256), server_default='', nullable=False),
        sa.Column('specialities', sa.Text(), server_default='[]', nullable=False),
        sa.Column('structure_id', sa.String(length=64), server_default='', nullable=False),
        sa.Column('authorised_at', sa.String(length=14), server_default='', nullable=False),
        sa.Column('medecin_traitant', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('last_action_at', sa.String(length=14), server_default='', nullable=False),
        sa.Column('last_access_at', sa.String(length=14), server_default='', nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ux_dmp_actors_patient', 'dmp_actors', ['patient', 'kind', 'actor_id'], unique=True)
    op.create_index('ix_dmp_actors_actor', 'dmp_actors', ['kind', 'actor_id'])
    op.create_index('ix_dmp_actors_structure', 'dmp_actors', ['structure_id'])
    op.create_table(
        'dmp_history',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('patient', sa.String(length=512), nullable=False),
        sa.Column('at', sa.String(length=14), nullable=False),
        sa.Column('change', sa.String(length=32), nullable=False),
        sa.Column('who', sa.String(length=64), nullable=False),
        sa.Column('who_name', sa.String(length=256), server_default='', nullable=False),
        sa.Column('via', sa.String(length=32), server_default='', nullable=False),
        sa.Column('detail', sa.Text(), server_default='{}', nullable=False),
        sa.PrimaryKeyConstraint('seq'),
    )
    op.create_index('ix_dmp_history_patient', 'dmp_history', ['patient', 'seq'])


def downgrade() -> None:
    op.drop_index('ix_dmp_history_patient', table_name='dmp_history')
    op.drop_table('dmp_history')
    op.drop_index('ix_dmp_actors_structure', table_name='dmp_actors')
    op.drop_index('ix_dmp_actors_actor', table_name='dmp_actors')
    op.drop_index('ux_dmp_actors_patient', table_name='dmp_actors')
    op.drop_table('dmp_actors')
    op.drop_table('dmp_records')
