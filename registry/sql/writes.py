"""The registry's writes: the objects of an accepted ITI-42 submission with their index rows, the status
and Folder updates it brings (ITI TF-2a 3.42.4.1.3.4 RPLC deprecation, ITI TF-3 4.2.3.3.10
lastUpdateTime), and the patients the ITI-8 feed creates or updates.

Each function runs inside the caller's transaction (`registry.sql.store.RegistryTx`). An object is stored
as its ebRIM XML (packed, `registry.sql.fragments`) plus the rows of `registry.sql.schema` the stored
queries filter on. Every row carries its object's patient (an association its ends'), and each object's
identifiers go to `registry_ids` (`registry.sql.locate`): on Citus a submission's rows land on its
patient's worker and the identifiers on theirs, in one distributed transaction.
`rows_for` is also the bulk loader's (`bench.load`): a loaded entry is stored exactly as a registered one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql

from registry.sql import fragments, locate, patient_number
from registry.sql import schema as t
from registry.sql.columns import KIND_CODES, code_value, pad_time
from registry.sql.locate import Locator
from registry.store import Changes
from xdscore.ebrim.rim_text import object_bytes
from xdscore.model import Association, DocumentEntry, Folder, PatientKey, RegistryEntry, SubmissionSet
from xdsservice.dbapi import Dbapi

# The columns each insert fills, in the order `rows_for` builds its tuples (tests/registry/sql/
# test_writes.py checks them against the schema, so a new column cannot be forgotten here).
COLUMNS: dict[str, tuple[str, ...]] = {
    "objects": ("uuid", "kind", "lid", "version", "status", "patient", "unique_id", "object_type", "fragment",
                "registered_at"),
    "documents": ("patient", "uuid", "class_code", "type_code", "format_code", "practice_setting_code",
                  "healthcare_facility_type_code", "creation_time", "service_start_time", "service_stop_time", "hash",
                  "size", "repository_unique_id", "mime_type"),
    "document_codes": ("patient", "uuid", "code_type", "value"),
    "document_authors": ("patient", "uuid", "person"),
    "document_reference_ids": ("patient", "uuid", "value"),
    "submission_sets": ("patient", "uuid", "source_id", "submission_time", "content_type_code"),
    "submission_set_authors": ("patient", "uuid", "person"),
    "folders": ("patient", "uuid", "last_update_time"),
    "folder_codes": ("patient", "uuid", "value"),
    "associations": ("patient", "uuid", "association_type", "source", "target", "submission_set_status"),
    "registry_ids": ("ident", "kind", "patient"),
}
# Parents before the side tables that reference them.
ORDER = [table.name for table in t.metadata.sorted_tables if table.name in COLUMNS]
_INSERT_SQL = {name: f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
               for name, cols in COLUMNS.items()}
# A Folder's next version keeps its uniqueId under the same patient: that row is already there.
_INSERT_SQL["registry_ids"] += " ON CONFLICT (ident, kind, patient) DO NOTHING"
_SET_STATUS = "UPDATE objects SET status = ? WHERE patient = ? AND uuid = ?"
_SET_LAST_UPDATE = "UPDATE folders SET last_update_time = ? WHERE patient = ? AND uuid = ?"
# PostgreSQL: each column's type, without its length (a cast to varchar(n) would cut a longer value
# silently; the insert's own assignment refuses it, as the row-by-row inserts did).
_PG_TYPES = {name: tuple(re.sub(r"\(.*\)", "", t.metadata.tables[name].c[col].type.compile(
    dialect=postgresql.dialect())).lower() for col in cols) for name, cols in COLUMNS.items()}
_PG_BINARY = frozenset(name for name, types in _PG_TYPES.items() if "bytea" in types)  # sent as base64
_PG_INSERTS: dict[tuple[str, ...], str] = {}  # one statement per set of tables filled, built once


def apply(conn: Connection, changes: Changes, now: str, locator: Locator | None = None) -> None:
    """Write everything one accepted transaction changes; the caller's transaction makes it atomic.

    Plain DBAPI (`xdsservice.dbapi`): on SQLite and Citus one executemany per table; on PostgreSQL one
    statement for every table (`_pg_insert_all`), in the round trip of the updates."""
    locator = locator or Locator(conn)
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
    owners = _patients(changes.new_objects)
    for obj in changes.new_objects:
        patient = owners.get(obj.entry_uuid) or _association_patient(obj, owners, locator)
        rows_for(obj, patient, now, rows)
        locator.note(obj.entry_uuid, patient)
    where = {u: p for p, ids in locator.entries([*changes.status_updates, *changes.folder_updates]).items() for u in ids}
    db = locator.db
    rows["registry_ids"] = list(dict.fromkeys(rows["registry_ids"]))
    row_by_row = not db.sqlite and is_citus(conn)  # asked before the pipeline, where a query returns no rows yet
    statuses = [(s, where[u], u) for u, s in changes.status_updates.items() if u in where]
    folders = [(w, where[u], u) for u, w in changes.folder_updates.items() if u in where]
    if not db.sqlite and not row_by_row and not statuses and not folders:
        _pg_insert_all(db, rows)  # one statement: a pipeline would only add its own syncs (psycopg's Python)
        return
    with db.pipeline():
        if db.sqlite:
            for name in ORDER:
                _sqlite_insert(db, name, rows[name])
        elif row_by_row:
            for name in ORDER:
                db.executemany(_INSERT_SQL[name], rows[name])
        else:
            _pg_insert_all(db, rows)
        db.executemany(_SET_STATUS, statuses)
        db.executemany(_SET_LAST_UPDATE, folders)


# SQLite: a table's rows in one INSERT ... VALUES (...), (...) rather than an executemany. The sqlite3 module
# lets go of the GIL around each step, one per row with executemany, and under load the writer thread then
# waits for the event loop to give it back: some ten thread switches per registration, each a few µs of
# kernel time. At most this many bound values per statement (SQLite's historic limit).
_SQLITE_MAX_VALUES = 999
_SQLITE_INSERTS: dict[tuple[str, int], str] = {}


def _sqlite_insert(db: Dbapi, name: str, rows: list[tuple[Any, ...]]) -> None:
    per = _SQLITE_MAX_VALUES // len(COLUMNS[name])
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        sql = _SQLITE_INSERTS.get((name, len(chunk)))
        if sql is None:
            row = f"({', '.join('?' * len(COLUMNS[name]))})"
            conflict = " ON CONFLICT (ident, kind, patient) DO NOTHING" if name == "registry_ids" else ""
            sql = f"INSERT INTO {name} ({', '.join(COLUMNS[name])}) VALUES {', '.join([row] * len(chunk))}{conflict}"
            if len(chunk) <= 16:  # the few sizes a registration has; a bulk submission's are built each time
                _SQLITE_INSERTS[(name, len(chunk))] = sql
        db.execute(sql, [value for r in chunk for value in r])


_CITUS: dict[str, bool] = {}  # database URL -> is it a Citus coordinator (asked once per database)


def is_citus(conn: Connection) -> bool:
    """Whether `conn` is to a Citus coordinator. There a submission's rows go as plain INSERT ... VALUES, one
    per row: each names its distribution column, so Citus routes it to one shard without a shard lock. The
    one-statement INSERT ... SELECT of `_pg_insert_all` is not routable (it reads its rows from a function):
    Citus runs it through the coordinator and locks every shard it writes (ShareUpdateExclusiveLock) until
    the transaction ends, so the group committer's two writers ran one at a time and met in opposite shard
    orders (measured at 10^7 entries: 14 registrations/s and distributed deadlocks)."""
    key = conn.engine.url.render_as_string(hide_password=True)
    found = _CITUS.get(key)
    if found is None:
        found = _CITUS[key] = conn.dialect.name == "postgresql" and conn.exec_driver_sql(
            "SELECT 1 FROM pg_extension WHERE extname = 'citus'").first() is not None
    return found


def _pg_insert_all(db: Dbapi, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Every table's rows in one statement: each table's rows go as one JSON array of row arrays (json.dumps,
    C), read back by an INSERT ... SELECT FROM json_array_elements, the inserts chained as the data-modifying
    WITH clauses of one statement. One execute instead of one per row, where psycopg spends some 20 µs of
    Python on each (and as much on each column array of an unnest); the same rows, constraints and errors
    (the tables have no foreign keys to order them by)."""
    tables = tuple(name for name in ORDER if rows[name])
    if not tables:
        return
    sql = _PG_INSERTS.get(tables)
    if sql is None:
        inserts = [_pg_insert(name) for name in tables]
        head = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(inserts[:-1]))
        sql = _PG_INSERTS[tables] = f"WITH {head} {inserts[-1]}" if head else inserts[-1]
    db.execute(sql, [json.dumps([_json_row(row) for row in rows[name]] if name in _PG_BINARY else rows[name],
                                separators=(",", ":")) for name in tables])


def _pg_insert(name: str) -> str:
    values = ", ".join(f"decode(r->>{i}, 'base64')" if typ == "bytea" else f"(r->>{i})::{typ}"
                       for i, typ in enumerate(_PG_TYPES[name]))
    conflict = " ON CONFLICT (ident, kind, patient) DO NOTHING" if name == "registry_ids" else ""
    return f"INSERT INTO {name} ({', '.join(COLUMNS[name])}) SELECT {values} FROM json_array_elements(?::json) AS r{conflict}"


def _json_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(base64.b64encode(v).decode("ascii") if isinstance(v, bytes) else v for v in row)


def _patients(objects: Iterable[RegistryEntry]) -> dict[str, int]:
    """entryUUID → patient number of the objects that name their patient (all but associations)."""
    out = {}
    for obj in objects:
        key = PatientKey.parse(getattr(obj, "patient_id", None) or "")
        if key is not None:
            out[obj.entry_uuid] = patient_number.of(key)
    return out


def _association_patient(obj: RegistryEntry, owners: dict[str, int], locator: Locator) -> int:
    """An association's patient: that of an end in the submission, else of a registered end (its ends are
    one patient's, TF-2b 3.42.4.1.3.5); NONE for an object naming none (stored, found by id only)."""
    if not isinstance(obj, Association):
        return patient_number.NONE
    for end in (obj.source_uuid, obj.target_uuid):
        if end in owners:
            return owners[end]
    for patient in locator.entries([obj.source_uuid, obj.target_uuid]):
        return patient
    return patient_number.NONE


def rows_for(obj: RegistryEntry, patient: Any, now: str, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Append the rows that store `obj` for `patient` (its number; the bulk loader's templates pass a token)
    to `rows` (table → tuples in COLUMNS order)."""
    rim = obj.rim
    uid = obj.entry_uuid
    lid = rim.lid or uid
    unique_id = getattr(obj, "unique_id", None)
    kind = KIND_CODES[obj.kind]
    rows["objects"].append((
        uid,
        kind,
        lid,
        int(rim.version_name or 1),
        rim.status or "",
        patient,
        unique_id,
        (obj.object_type or "") if isinstance(obj, DocumentEntry) else None,
        # stored without status: it changes (deprecation), and is put back on the way out
        fragments.pack(object_bytes(rim, with_status=False)),
        now,
    ))
    rows["registry_ids"] += locate.rows_for(uid, kind, patient, lid, unique_id)
    if isinstance(obj, DocumentEntry):
        rows["documents"].append((
            patient,
            uid,
            code_value(obj.class_code),
            code_value(obj.type_code),
            code_value(obj.format_code),
            code_value(obj.practice_setting_code),
            code_value(obj.healthcare_facility_type_code),
            pad_time(obj.creation_time),
            pad_time(obj.service_start_time),
            pad_time(obj.service_stop_time),
            obj.hash.lower() if obj.hash else None,
            int(obj.size) if obj.size and obj.size.isdigit() else None,
            obj.repository_unique_id,
            obj.mime_type,
        ))
        codes = {("E", code_value(c)) for c in obj.event_codes} | {("C", code_value(c)) for c in obj.confidentiality_codes}
        rows["document_codes"] += [(patient, uid, k, v) for k, v in sorted(codes)]
        rows["document_authors"] += [(patient, uid, a.person) for a in obj.authors if a.person]
        rows["document_reference_ids"] += [(patient, uid, v) for v in dict.fromkeys(obj.reference_ids)]
    elif isinstance(obj, SubmissionSet):
        rows["submission_sets"].append((patient, uid, obj.source_id, pad_time(obj.submission_time),
                                        code_value(obj.content_type_code)))
        rows["submission_set_authors"] += [(patient, uid, a.person) for a in obj.authors if a.person]
    elif isinstance(obj, Folder):
        rows["folders"].append((patient, uid, obj.last_update_time))
        rows["folder_codes"] += [(patient, uid, v) for v in dict.fromkeys(code_value(c) for c in obj.codes)]
    elif isinstance(obj, Association):
        rows["associations"].append((patient, uid, obj.association_type, obj.source_uuid, obj.target_uuid,
                                     obj.submission_set_status))


def save_patient(conn: Connection, key: PatientKey, cx: str, demographics: dict[str, str], now: str,
                 number: Callable[[str], int] = patient_number.number) -> bool:
    """ITI-8 A01/A04/A05/A08: create or update a patient (a merged one is live again); True when created.

    Where a patient first enters the registry: a number another patient holds is refused
    (`PatientNumberCollision`, registry.sql.patient_number), before anything is written. Two colliding
    patients fed at once both pass this check, and the primary key refuses the second."""
    p = t.patients.c
    text, value = str(key), number(str(key))
    holder = conn.execute(select(p.key_text).where(p.patient == value)).scalar()
    if value == patient_number.NONE or (holder is not None and holder != text):
        raise patient_number.PatientNumberCollision(text, holder or "", value)
    values = {"cx": cx, "demographics": json.dumps(demographics, sort_keys=True), "updated_at": now}
    if holder is not None:
        conn.execute(update(t.patients).where(p.patient == value).values(merged_into=None, **values))
        return False
    conn.execute(insert(t.patients).values(patient=value, key_text=text, pid=key.id, authority=key.authority, **values))
    return True
