"""initial registry schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:23:00.321201
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('associations',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('association_type', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('submission_set_status', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('uuid')
    )
    with op.batch_alter_table('associations', schema=None) as batch_op:
        batch_op.create_index('ix_associations_source', ['source', 'association_type'], unique=False)
        batch_op.create_index('ix_associations_target', ['target', 'association_type'], unique=False)

    op.create_table('document_authors',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('person', sa.String(length=512), nullable=False)
    )
    with op.batch_alter_table('document_authors', schema=None) as batch_op:
        batch_op.create_index('ix_document_authors_uuid', ['uuid'], unique=False)

    op.create_table('document_codes',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('code_type', sa.String(length=1), nullable=False),
    sa.Column('value', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('uuid', 'code_type', 'value')
    )
    op.create_table('document_reference_ids',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('uuid', 'value')
    )
    op.create_table('documents',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('class_code', sa.String(length=512), nullable=True),
    sa.Column('type_code', sa.String(length=512), nullable=True),
    sa.Column('format_code', sa.String(length=512), nullable=True),
    sa.Column('practice_setting_code', sa.String(length=512), nullable=True),
    sa.Column('healthcare_facility_type_code', sa.String(length=512), nullable=True),
    sa.Column('creation_time', sa.String(length=14), nullable=True),
    sa.Column('service_start_time', sa.String(length=14), nullable=True),
    sa.Column('service_stop_time', sa.String(length=14), nullable=True),
    sa.Column('hash', sa.String(length=40), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('repository_unique_id', sa.String(length=128), nullable=True),
    sa.Column('mime_type', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('uuid')
    )
    op.create_table('folder_codes',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('uuid', 'value')
    )
    op.create_table('folders',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('last_update_time', sa.String(length=14), nullable=True),
    sa.PrimaryKeyConstraint('uuid')
    )
    op.create_table('objects',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=2), nullable=False),
    sa.Column('lid', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('patient', sa.String(length=512), nullable=True),
    sa.Column('unique_id', sa.String(length=256), nullable=True),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.Column('registered_at', sa.String(length=14), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('objects', schema=None) as batch_op:
        batch_op.create_index('ix_objects_lid', ['lid'], unique=False)
        batch_op.create_index('ix_objects_patient', ['patient', 'kind', 'status'], unique=False)
        batch_op.create_index('ix_objects_unique_id', ['unique_id', 'kind'], unique=False)
        batch_op.create_index('ux_objects_fd_unique_id', ['unique_id', 'version'], unique=True, sqlite_where=sa.text("kind = 'FD'"), postgresql_where=sa.text("kind = 'FD'"))
        batch_op.create_index('ux_objects_ss_unique_id', ['unique_id'], unique=True, sqlite_where=sa.text("kind = 'SS'"), postgresql_where=sa.text("kind = 'SS'"))
        batch_op.create_index('ux_objects_uuid', ['uuid'], unique=True)

    op.create_table('patients',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('pid', sa.String(length=256), nullable=False),
    sa.Column('authority', sa.String(length=128), nullable=False),
    sa.Column('cx', sa.String(length=512), nullable=False),
    sa.Column('demographics', sa.Text(), server_default='', nullable=False),
    sa.Column('merged_into', sa.String(length=512), nullable=True),
    sa.Column('updated_at', sa.String(length=14), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index('ux_patients_key', ['pid', 'authority'], unique=True)

    op.create_table('submission_set_authors',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('person', sa.String(length=512), nullable=False)
    )
    with op.batch_alter_table('submission_set_authors', schema=None) as batch_op:
        batch_op.create_index('ix_submission_set_authors_uuid', ['uuid'], unique=False)

    op.create_table('submission_sets',
    sa.Column('uuid', sa.String(length=64), nullable=False),
    sa.Column('source_id', sa.String(length=128), nullable=True),
    sa.Column('submission_time', sa.String(length=14), nullable=True),
    sa.Column('content_type_code', sa.String(length=512), nullable=True),
    sa.PrimaryKeyConstraint('uuid')
    )


def downgrade() -> None:
    op.drop_table('submission_sets')
    with op.batch_alter_table('submission_set_authors', schema=None) as batch_op:
        batch_op.drop_index('ix_submission_set_authors_uuid')

    op.drop_table('submission_set_authors')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index('ux_patients_key')

    op.drop_table('patients')
    with op.batch_alter_table('objects', schema=None) as batch_op:
        batch_op.drop_index('ux_objects_uuid')
        batch_op.drop_index('ux_objects_ss_unique_id', sqlite_where=sa.text("kind = 'SS'"), postgresql_where=sa.text("kind = 'SS'"))
        batch_op.drop_index('ux_objects_fd_unique_id', sqlite_where=sa.text("kind = 'FD'"), postgresql_where=sa.text("kind = 'FD'"))
        batch_op.drop_index('ix_objects_unique_id')
        batch_op.drop_index('ix_objects_patient')
        batch_op.drop_index('ix_objects_lid')

    op.drop_table('objects')
    op.drop_table('folders')
    op.drop_table('folder_codes')
    op.drop_table('documents')
    op.drop_table('document_reference_ids')
    op.drop_table('document_codes')
    with op.batch_alter_table('document_authors', schema=None) as batch_op:
        batch_op.drop_index('ix_document_authors_uuid')

    op.drop_table('document_authors')
    with op.batch_alter_table('associations', schema=None) as batch_op:
        batch_op.drop_index('ix_associations_target')
        batch_op.drop_index('ix_associations_source')

    op.drop_table('associations')
