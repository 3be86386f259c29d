"""query-path storage: objects.xml (text) becomes objects.fragment (packed by registry.sql.fragments);
documents.object_type moves to objects.object_type

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 22:00:00
"""
import sqlalchemy as sa
from alembic import op

from registry.sql import fragments

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table('objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fragment', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('object_type', sa.String(length=64), nullable=True))
    op.execute("UPDATE objects SET object_type = (SELECT d.object_type FROM documents d WHERE d.uuid = objects.uuid)"
               " WHERE kind = 'DE'")
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('object_type')
    conn = op.get_bind()
    objects = sa.table('objects', sa.column('seq', sa.BigInteger), sa.column('xml', sa.Text),
                       sa.column('fragment', sa.LargeBinary))
    last = -1
    while True:  # in batches of primary keys, so a large registry is converted in bounded memory
        rows = conn.execute(
            sa.select(objects.c.seq, objects.c.xml).where(objects.c.seq > last).order_by(objects.c.seq).limit(BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            objects.update().where(objects.c.seq == sa.bindparam('b_seq')).values(fragment=sa.bindparam('b_fragment')),
            [{'b_seq': seq, 'b_fragment': fragments.pack(xml.encode('utf-8'))} for seq, xml in rows],
        )
        last = rows[-1].seq
    with op.batch_alter_table('objects', schema=None) as batch_op:
        batch_op.alter_column('fragment', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('xml')


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('object_type', sa.String(length=64), nullable=True))
    op.execute("UPDATE documents SET object_type = (SELECT o.object_type FROM objects o WHERE o.uuid = documents.uuid)")
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.alter_column('object_type', existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table('objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('xml', sa.Text(), nullable=True))
    conn = op.get_bind()
    objects = sa.table('objects', sa.column('seq', sa.BigInteger), sa.column('xml', sa.Text),
                       sa.column('fragment', sa.LargeBinary))
    for seq, packed in conn.execute(sa.select(objects.c.seq, objects.c.fragment)).all():
        conn.execute(objects.update().where(objects.c.seq == seq).values(xml=fragments.unpack(packed).decode('utf-8')))
    with op.batch_alter_table('objects', schema=None) as batch_op:
        batch_op.alter_column('xml', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('fragment')
        batch_op.drop_column('object_type')
