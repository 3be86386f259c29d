"""patient number: `patient` becomes a 64-bit number in every table (the text key moves to `patients.key_text`)

What changes (registry/sql/patient_number.py says why): the `patient` column of every table, the partition /
distribution key and the first column of every key and index, was str(PatientKey) (about 43 characters); it
becomes BIGINT, the first 8 bytes of SHA-256 of that text as a signed big-endian integer ('' is 0).
`patients` keeps the text in `key_text`; `merged_into` stays text. Neither PostgreSQL (a partition key) nor
Citus (a distribution column) can change the type of that column in place, so the tables are rebuilt as 0005
rebuilt them (its `_rename` / `_create`: renamed, created in the new layout, filled, dropped; on Citus
distributed again). The numbers of stored rows are computed in SQL on PostgreSQL and Citus, by the same
function registered on the SQLite connection. The downgrade takes the text back from `patients`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 22:00:00
"""

from __future__ import annotations

import hashlib
import importlib

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

v5 = importlib.import_module('registry.sql.migrations.versions.0005_by_patient')

# The function of registry/sql/patient_number.py, frozen here as this revision computes it.
_PG_NUMBER = ("(CASE WHEN {0} = '' THEN 0 ELSE"
              " ('x' || substr(encode(sha256(convert_to({0}, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint END)")


def _number(text: str | None) -> int:
    if not text:
        return 0
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], 'big', signed=True)


def _numbered(layout: v5.Layout) -> v5.Layout:
    columns = tuple(('patient', sa.BigInteger(), False) if c[0] == 'patient' else c for c in layout.columns)
    if layout.name == 'patients':
        columns = (columns[0], ('key_text', sa.String(length=512), False), *columns[1:])
    return v5.Layout(layout.name, columns, layout.key, layout.indexes, layout.by)


OLD = v5.NEW
NEW = tuple(_numbered(layout) for layout in OLD)


def _rebuild(conn: sa.Connection, mode: str, layouts: tuple[v5.Layout, ...], suffix: str) -> None:
    if mode == 'citus':  # tables created and filled in one transaction: one connection per worker
        op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    for layout in layouts:
        v5._rename(conn, mode, layout.name, f'{layout.name}_{suffix}')
        if mode == 'postgresql':  # the hash partitions, whose names the new tables' take again
            for r in range(v5.PARTITIONS):
                op.execute(f"ALTER TABLE {layout.name}_p{r:02d} RENAME TO {layout.name}_{suffix}_p{r:02d}")
    v5._disown_sequence(conn, mode)  # objects.seq keeps its sequence (registration order goes on)


def _created(conn: sa.Connection, mode: str, layouts: tuple[v5.Layout, ...]) -> None:
    for layout in layouts:
        v5._create(conn, mode, layout)
    if mode == 'postgresql':  # Citus distributed the sequence with the table: it stays unowned there
        op.execute("ALTER SEQUENCE objects_seq_seq OWNED BY objects.seq")


def upgrade() -> None:
    conn = op.get_bind()
    mode = v5._mode(conn)
    _rebuild(conn, mode, OLD, 'v5')
    _created(conn, mode, NEW)
    if mode == 'sqlite':
        conn.connection.driver_connection.create_function('patient_number', 1, _number, deterministic=True)
        number = 'patient_number({0})'
    else:
        number = _PG_NUMBER
    for layout in NEW:
        names = [c[0] for c in layout.columns]
        values = [number.format('patient') if c == 'patient' else 'patient' if c == 'key_text' else c for c in names]
        op.execute(f"INSERT INTO {layout.name} ({', '.join(names)}) SELECT {', '.join(values)} FROM {layout.name}_v5")
    for layout in reversed(OLD):
        op.drop_table(f'{layout.name}_v5')


def downgrade() -> None:
    conn = op.get_bind()
    mode = v5._mode(conn)
    _rebuild(conn, mode, NEW, 'v6')
    _created(conn, mode, OLD)
    op.execute("INSERT INTO patients (patient, pid, authority, cx, demographics, merged_into, updated_at)"
               " SELECT key_text, pid, authority, cx, demographics, merged_into, updated_at FROM patients_v6")
    for layout in OLD[1:]:
        names = [c[0] for c in layout.columns]
        values = ["COALESCE(p.key_text, '')" if c == 'patient' else f'x.{c}' for c in names]
        # registry_ids is distributed by ident on Citus: its join with the patients goes through the
        # coordinator (a materialized CTE), the others' stay on each worker
        patients = ('(SELECT patient, key_text FROM p_v6)' if layout.by != 'patient' else 'patients_v6')
        with_ = 'WITH p_v6 AS MATERIALIZED (SELECT patient, key_text FROM patients_v6) ' if layout.by != 'patient' else ''
        op.execute(f"INSERT INTO {layout.name} ({', '.join(names)}) {with_}SELECT {', '.join(values)}"
                   f" FROM {layout.name}_v6 x LEFT JOIN {patients} p ON p.patient = x.patient")
    for layout in reversed(NEW):
        op.drop_table(f'{layout.name}_v6')
