"""distributed by patient: every table keyed by patient, `registry_ids` (identifier → patient); on PostgreSQL
hash partitions by patient, on Citus distributed tables co-located on patient

What changes (registry/sql/schema.py says why): `patient` (str(PatientKey)) on every table but
`registry_ids` and first in every key, associations included (their ends' patient); `patients` keyed by it;
the unique keys that must hold across patients (entryUUID, SubmissionSet and Folder uniqueId) move to
`registry_ids`. The tables are rebuilt: renamed, created in the new layout, filled from the old ones, dropped.
On PostgreSQL each table is `PARTITION BY HASH (patient)` into PARTITIONS partitions (`registry_ids` by
ident); on a Citus coordinator (the `citus` extension is installed in the database, with its workers added:
docs/scale.md) each is a distributed table (`create_distributed_table`, `citus.shard_count` shards), the
patient tables co-located with `objects`. The objects' `seq` keeps its values and its sequence.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PARTITIONS = 16  # hash partitions of each table on a single PostgreSQL (a power of two, like Citus shard counts:
# a table outgrowing them moves to Citus, docs/scale.md, rather than being re-partitioned in place)

_SEQ = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
U, C, T = 64, 512, 14  # lengths: uuid, code, time


def _s(n: int) -> sa.String:
    return sa.String(length=n)


class Layout(NamedTuple):  # not a dataclass: Alembic loads this file outside sys.modules
    """One table in one layout: columns (name, type, nullable), key, indexes (name, columns, unique, where)."""

    name: str
    columns: tuple[tuple[str, sa.types.TypeEngine, bool], ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, tuple[str, ...], bool, str | None], ...] = ()
    by: str | None = 'patient'  # distribution / partition column (None: a plain table)


_PATIENT = ('patient', _s(512), False)
_DOCUMENT_COLUMNS = (
    ('uuid', _s(U), False), ('class_code', _s(C), True), ('type_code', _s(C), True), ('format_code', _s(C), True),
    ('practice_setting_code', _s(C), True), ('healthcare_facility_type_code', _s(C), True),
    ('creation_time', _s(T), True), ('service_start_time', _s(T), True), ('service_stop_time', _s(T), True),
    ('hash', _s(40), True), ('size', sa.BigInteger(), True), ('repository_unique_id', _s(128), True),
    ('mime_type', _s(128), True),
)
_OBJECT_COLUMNS = (
    ('uuid', _s(U), False), ('kind', _s(2), False), ('lid', _s(U), False), ('version', sa.Integer(), False),
    ('status', _s(64), False),
)
_OBJECT_TAIL = (
    ('unique_id', _s(256), True), ('object_type', _s(U), True), ('fragment', sa.LargeBinary(), False),
    ('registered_at', _s(T), False),
)
FD = "kind = 'FD'"

# Revision 0004's layout (0001 + 0002 + 0003 + 0004), for the downgrade.
OLD = (
    Layout('patients', (('id', sa.Integer(), False), ('pid', _s(256), False), ('authority', _s(128), False),
                        ('cx', _s(512), False), ('demographics', sa.Text(), False), ('merged_into', _s(512), True),
                        ('updated_at', _s(T), False)),
           ('id',), (('ux_patients_key', ('pid', 'authority'), True, None),), by=None),
    Layout('objects', (('seq', _SEQ, False), *_OBJECT_COLUMNS, ('patient', _s(512), True), *_OBJECT_TAIL), ('seq',),
           (('ux_objects_uuid', ('uuid',), True, None), ('ix_objects_patient', ('patient', 'kind', 'status'), False, None),
            ('ix_objects_unique_id', ('unique_id', 'kind'), False, None),
            ('ux_objects_lid_version', ('lid', 'version'), True, None),
            ('ux_objects_ss_unique_id', ('unique_id',), True, "kind = 'SS'"),
            ('ux_objects_fd_unique_id', ('unique_id', 'version'), True, FD)), by=None),
    Layout('documents', _DOCUMENT_COLUMNS, ('uuid',), by=None),
    Layout('document_codes', (('uuid', _s(U), False), ('code_type', _s(1), False), ('value', _s(C), False)),
           ('uuid', 'code_type', 'value'), by=None),
    Layout('document_authors', (('uuid', _s(U), False), ('person', _s(C), False)), (),
           (('ix_document_authors_uuid', ('uuid',), False, None),), by=None),
    Layout('document_reference_ids', (('uuid', _s(U), False), ('value', _s(C), False)), ('uuid', 'value'), by=None),
    Layout('submission_sets', (('uuid', _s(U), False), ('source_id', _s(128), True), ('submission_time', _s(T), True),
                               ('content_type_code', _s(C), True)), ('uuid',), by=None),
    Layout('submission_set_authors', (('uuid', _s(U), False), ('person', _s(C), False)), (),
           (('ix_submission_set_authors_uuid', ('uuid',), False, None),), by=None),
    Layout('folders', (('uuid', _s(U), False), ('last_update_time', _s(T), True)), ('uuid',), by=None),
    Layout('folder_codes', (('uuid', _s(U), False), ('value', _s(C), False)), ('uuid', 'value'), by=None),
    Layout('associations', (('uuid', _s(U), False), ('association_type', _s(128), False), ('source', _s(U), False),
                            ('target', _s(U), False), ('submission_set_status', _s(16), True)), ('uuid',),
           (('ix_associations_source', ('source', 'association_type'), False, None),
            ('ix_associations_target', ('target', 'association_type'), False, None)), by=None),
    Layout('dmp_announcements', (('lid', _s(U), False), ('notice_at', _s(T), True), ('announced_at', _s(T), True)),
           ('lid',), by=None),
)


def _with_patient(old: Layout, indexes: tuple[tuple[str, tuple[str, ...], bool, str | None], ...]) -> Layout:
    """A side table of 0004 with `patient` first in its columns and its key."""
    return Layout(old.name, (_PATIENT, *old.columns), ('patient', *old.key) if old.key else (), indexes)


_OLD = {t.name: t for t in OLD}
NEW = (
    Layout('patients', (_PATIENT, ('pid', _s(256), False), ('authority', _s(128), False), ('cx', _s(512), False),
                        ('demographics', sa.Text(), False), ('merged_into', _s(512), True), ('updated_at', _s(T), False)),
           ('patient',), (('ix_patients_merged_into', ('merged_into',), False, None),)),
    Layout('objects', (('seq', _SEQ, False), *_OBJECT_COLUMNS, _PATIENT, *_OBJECT_TAIL), ('patient', 'seq'),
           (('ux_objects_uuid', ('patient', 'uuid'), True, None),
            ('ix_objects_patient', ('patient', 'kind', 'status'), False, None),
            ('ix_objects_unique_id', ('patient', 'unique_id', 'kind'), False, None),
            ('ux_objects_lid_version', ('patient', 'lid', 'version'), True, None),
            ('ux_objects_fd_unique_id', ('patient', 'unique_id', 'version'), True, FD))),
    _with_patient(_OLD['documents'], ()),
    _with_patient(_OLD['document_codes'], ()),
    _with_patient(_OLD['document_authors'], (('ix_document_authors_uuid', ('patient', 'uuid'), False, None),)),
    _with_patient(_OLD['document_reference_ids'], ()),
    _with_patient(_OLD['submission_sets'], ()),
    _with_patient(_OLD['submission_set_authors'], (('ix_submission_set_authors_uuid', ('patient', 'uuid'), False, None),)),
    _with_patient(_OLD['folders'], ()),
    _with_patient(_OLD['folder_codes'], ()),
    _with_patient(_OLD['associations'], (('ix_associations_source', ('patient', 'source', 'association_type'), False, None),
                                         ('ix_associations_target', ('patient', 'target', 'association_type'), False, None))),
    _with_patient(_OLD['dmp_announcements'], ()),
    Layout('registry_ids', (('ident', _s(300), False), ('kind', _s(1), False), _PATIENT), ('ident', 'kind', 'patient'),
           (('ux_registry_ids_single', ('ident', 'kind'), True, "kind IN ('U', 'S')"),), by='ident'),
)


def _mode(conn: sa.Connection) -> str:
    """sqlite, postgresql, or citus (a PostgreSQL database with the citus extension: a coordinator)."""
    if conn.dialect.name != 'postgresql':
        return 'sqlite'
    citus = conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'citus'").first()
    return 'citus' if citus else 'postgresql'


def _rename(conn: sa.Connection, mode: str, table: str, new: str) -> None:
    """Rename a table out of the way; its indexes too (PostgreSQL: index names are per schema), or drop them
    (SQLite: the old table only lives until it is copied)."""
    if mode == 'sqlite':
        for (name,) in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)).all():
            op.drop_index(name, table_name=table)
        op.rename_table(table, new)
        return
    op.rename_table(table, new)
    for (name,) in conn.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE tablename = %s", (new,)).all():
        op.execute(f'ALTER INDEX "{name}" RENAME TO "{name}_{new.rsplit("_", 1)[1]}"')


def _create(conn: sa.Connection, mode: str, layout: Layout) -> None:
    """A table of `layout`: partitioned (PostgreSQL) or distributed (Citus) on `layout.by`, or plain."""
    columns = []
    for name, type_, nullable in layout.columns:
        if name == 'seq' and mode != 'sqlite':  # the sequence of 0001, kept (see upgrade)
            columns.append(sa.Column('seq', sa.BigInteger(), server_default=sa.text("nextval('objects_seq_seq')"),
                                     nullable=False))
        elif name == 'id' and layout.name == 'patients':  # 0001's serial key
            columns.append(sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True))
        else:
            server_default = '' if name == 'demographics' else None
            columns.append(sa.Column(name, type_, nullable=nullable, server_default=server_default))
    key = layout.key
    if mode == 'sqlite' and layout.name == 'objects':
        key = ('seq',)  # the rowid: registration order
    extra = []
    if key and key != ('id',):
        extra.append(sa.PrimaryKeyConstraint(*key))
    kw = {'postgresql_partition_by': f'HASH ({layout.by})'} if mode == 'postgresql' and layout.by else {}
    op.create_table(layout.name, *columns, *extra, **kw)
    if mode == 'postgresql' and layout.by:
        for r in range(PARTITIONS):
            op.execute(f"CREATE TABLE {layout.name}_p{r:02d} PARTITION OF {layout.name}"
                       f" FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {r})")
    if mode == 'citus' and layout.by:
        # the patient tables in one co-location group (a patient's rows of every table on one worker)
        colocate = "'patients'" if layout.by == 'patient' and layout.name != 'patients' else "'none'"
        op.execute(f"SELECT create_distributed_table('{layout.name}', '{layout.by}', colocate_with => {colocate})")
    for name, cols, unique, where in layout.indexes:
        op.create_index(name, layout.name, list(cols), unique=unique,
                        **({'sqlite_where': sa.text(where), 'postgresql_where': sa.text(where)} if where else {}))


def _disown_sequence(conn: sa.Connection, mode: str) -> None:
    """objects.seq's sequence outlives the table being replaced. Citus cannot alter a sequence once it
    distributed it (with the table): that one stays unowned."""
    if mode == 'sqlite':
        return
    if mode == 'citus' and conn.exec_driver_sql(
            "SELECT 1 FROM pg_dist_object WHERE objid = 'objects_seq_seq'::regclass").first():
        return
    op.execute("ALTER SEQUENCE objects_seq_seq OWNED BY NONE")


def _copy(table: str, columns: str, select: str) -> None:
    op.execute(f"INSERT INTO {table} ({columns}) {select}")


_SIDE = ('documents', 'document_codes', 'document_authors', 'document_reference_ids', 'submission_sets',
         'submission_set_authors', 'folders', 'folder_codes', 'associations')


def _names(layout: Layout, skip: tuple[str, ...] = ()) -> list[str]:
    return [c[0] for c in layout.columns if c[0] not in skip]


def upgrade() -> None:
    conn = op.get_bind()
    mode = _mode(conn)
    if mode == 'citus':  # tables created and filled in one transaction: one connection per worker
        op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    for layout in OLD:
        _rename(conn, mode, layout.name, f'{layout.name}_v4')
    # The patient of every object: its own; an association's (0004 left it NULL) that of its source, else of
    # its target (one patient by the rules, TF-2b 3.42.4.1.3.5). A local work table, dropped at the end.
    op.create_table('patient_of_v4', sa.Column('uuid', _s(U), primary_key=True), sa.Column('patient', _s(512), nullable=False))
    op.execute("INSERT INTO patient_of_v4 (uuid, patient) SELECT uuid, patient FROM objects_v4 WHERE patient IS NOT NULL")
    op.execute("INSERT INTO patient_of_v4 (uuid, patient) SELECT a.uuid, COALESCE(s.patient, t.patient, '')"
               " FROM associations_v4 a LEFT JOIN objects_v4 s ON s.uuid = a.source LEFT JOIN objects_v4 t ON t.uuid = a.target"
               " WHERE a.uuid NOT IN (SELECT uuid FROM patient_of_v4)")
    op.execute("INSERT INTO patient_of_v4 (uuid, patient) SELECT uuid, '' FROM objects_v4"
               " WHERE uuid NOT IN (SELECT uuid FROM patient_of_v4)")
    _disown_sequence(conn, mode)  # objects.seq keeps its sequence (registration order goes on)
    for layout in NEW:
        _create(conn, mode, layout)
    if mode == 'postgresql':  # Citus distributed the sequence with the table: it stays unowned there
        op.execute("ALTER SEQUENCE objects_seq_seq OWNED BY objects.seq")
    new = {t.name: t for t in NEW}
    _copy('patients', ', '.join(_names(new['patients'])),
          "SELECT pid || '^^^&' || authority || '&ISO', pid, authority, cx, demographics, merged_into, updated_at"
          " FROM patients_v4")
    objects = _names(new['objects'])
    _copy('objects', ', '.join(objects), "SELECT " + ', '.join('p.patient' if c == 'patient' else f'o.{c}' for c in objects)
          + " FROM objects_v4 o JOIN patient_of_v4 p ON p.uuid = o.uuid")
    for table in _SIDE:
        names = _names(new[table], ('patient',))
        _copy(table, ', '.join(['patient', *names]), f"SELECT p.patient, {', '.join('x.' + c for c in names)}"
              f" FROM {table}_v4 x JOIN patient_of_v4 p ON p.uuid = x.uuid")
    _copy('dmp_announcements', 'patient, lid, notice_at, announced_at',
          "SELECT COALESCE((SELECT p.patient FROM objects_v4 o JOIN patient_of_v4 p ON p.uuid = o.uuid"
          " WHERE o.lid = x.lid LIMIT 1), ''), x.lid, x.notice_at, x.announced_at FROM dmp_announcements_v4 x")
    ids = 'ident, kind, patient'
    _copy('registry_ids', ids, "SELECT o.uuid, 'U', p.patient FROM objects_v4 o JOIN patient_of_v4 p ON p.uuid = o.uuid")
    _copy('registry_ids', ids, "SELECT DISTINCT o.lid, 'L', p.patient FROM objects_v4 o JOIN patient_of_v4 p"
          " ON p.uuid = o.uuid WHERE o.lid <> o.uuid")
    _copy('registry_ids', ids, "SELECT DISTINCT o.unique_id, CASE o.kind WHEN 'DE' THEN 'D' WHEN 'SS' THEN 'S' ELSE 'F' END,"
          " p.patient FROM objects_v4 o JOIN patient_of_v4 p ON p.uuid = o.uuid"
          " WHERE o.unique_id IS NOT NULL AND o.kind IN ('DE', 'SS', 'FD')")
    op.drop_table('patient_of_v4')
    for layout in reversed(OLD):
        op.drop_table(f'{layout.name}_v4')


def downgrade() -> None:
    conn = op.get_bind()
    mode = _mode(conn)
    for layout in NEW:
        _rename(conn, mode, layout.name, f'{layout.name}_v5')
    _disown_sequence(conn, mode)
    for layout in OLD:
        _create(conn, mode, layout)
    if mode == 'postgresql':
        op.execute("ALTER SEQUENCE objects_seq_seq OWNED BY objects.seq")
    old = {t.name: t for t in OLD}
    _copy('patients', 'pid, authority, cx, demographics, merged_into, updated_at',
          "SELECT pid, authority, cx, demographics, merged_into, updated_at FROM patients_v5")
    objects = _names(old['objects'])
    _copy('objects', ', '.join(objects), "SELECT " + ', '.join(
        "CASE WHEN kind = 'AS' OR patient = '' THEN NULL ELSE patient END" if c == 'patient' else c for c in objects)
        + " FROM objects_v5")
    for table in (*_SIDE, 'dmp_announcements'):
        names = ', '.join(_names(old[table]))
        _copy(table, names, f"SELECT {names} FROM {table}_v5")
    for layout in reversed(NEW):
        op.drop_table(f'{layout.name}_v5')
