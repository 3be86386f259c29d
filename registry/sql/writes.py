"""The registry's writes: the objects of an accepted ITI-42 submission with their index rows, the status
and Folder updates it brings (ITI TF-2a 3.42.4.1.3.4 RPLC deprecation, ITI TF-3 4.2.3.3.10
lastUpdateTime), and the patients the ITI-8 feed creates or updates.

Each function runs inside the caller's transaction (`registry.sql.store.RegistryTx`). An object is stored
as its ebRIM XML (packed, `registry.sql.fragments`) plus the rows of `registry.sql.schema` the stored
queries filter on.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from lxml import etree
from sqlalchemy import Connection, insert, update

from registry.sql import fragments
from registry.sql import schema as t
from registry.sql.columns import KIND_CODES, code_value, pad_time
from registry.store import Changes
from xdscore.ebrim import rim as rim_codec
from xdscore.model import Association, DocumentEntry, Folder, PatientKey, RegistryEntry, SubmissionSet
from xdsservice.dbapi import Dbapi

# The columns each insert fills, in the order `_rows_for` builds its tuples (tests/registry/sql/
# test_writes.py checks them against the schema, so a new column cannot be forgotten here).
COLUMNS: dict[str, tuple[str, ...]] = {
    "objects": ("uuid", "kind", "lid", "version", "status", "patient", "unique_id", "object_type", "fragment",
                "registered_at"),
    "documents": ("uuid", "class_code", "type_code", "format_code", "practice_setting_code",
                  "healthcare_facility_type_code", "creation_time", "service_start_time", "service_stop_time", "hash",
                  "size", "repository_unique_id", "mime_type"),
    "document_codes": ("uuid", "code_type", "value"),
    "document_authors": ("uuid", "person"),
    "document_reference_ids": ("uuid", "value"),
    "submission_sets": ("uuid", "source_id", "submission_time", "content_type_code"),
    "submission_set_authors": ("uuid", "person"),
    "folders": ("uuid", "last_update_time"),
    "folder_codes": ("uuid", "value"),
    "associations": ("uuid", "association_type", "source", "target", "submission_set_status"),
}
# Parents before the side tables that reference them.
_ORDER = [table.name for table in t.metadata.sorted_tables if table.name in COLUMNS]
_INSERT_SQL = {name: f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
               for name, cols in COLUMNS.items()}
_SET_STATUS = "UPDATE objects SET status = ? WHERE uuid = ?"
_SET_LAST_UPDATE = "UPDATE folders SET last_update_time = ? WHERE uuid = ?"


def apply(conn: Connection, changes: Changes, now: str) -> None:
    """Write everything one accepted transaction changes; the caller's transaction makes it atomic.

    Plain DBAPI (`registry.sql.dbapi`): one executemany per table, in one round trip on PostgreSQL."""
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
    for obj in changes.new_objects:
        _rows_for(obj, now, rows)
    db = Dbapi(conn)
    with db.pipeline():
        for name in _ORDER:
            db.executemany(_INSERT_SQL[name], rows[name])
        db.executemany(_SET_STATUS, [(status, uuid) for uuid, status in changes.status_updates.items()])
        db.executemany(_SET_LAST_UPDATE, [(when, uuid) for uuid, when in changes.folder_updates.items()])


def _rows_for(obj: RegistryEntry, now: str, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    rim = obj.rim
    patient = PatientKey.parse(getattr(obj, "patient_id", None) or "")
    uid = obj.entry_uuid
    rows["objects"].append((
        uid,
        KIND_CODES[obj.kind],
        rim.lid or uid,
        int(rim.version_name or 1),
        rim.status or "",
        str(patient) if patient else None,
        getattr(obj, "unique_id", None),
        (obj.object_type or "") if isinstance(obj, DocumentEntry) else None,
        # stored without status: it changes (deprecation), and is put back on the way out
        fragments.pack(etree.tostring(rim_codec.write_object(replace(rim, status=None)), encoding="UTF-8", xml_declaration=False)),
        now,
    ))
    if isinstance(obj, DocumentEntry):
        rows["documents"].append((
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
        rows["document_codes"] += [(uid, k, v) for k, v in sorted(codes)]
        rows["document_authors"] += [(uid, a.person) for a in obj.authors if a.person]
        rows["document_reference_ids"] += [(uid, v) for v in dict.fromkeys(obj.reference_ids)]
    elif isinstance(obj, SubmissionSet):
        rows["submission_sets"].append((uid, obj.source_id, pad_time(obj.submission_time), code_value(obj.content_type_code)))
        rows["submission_set_authors"] += [(uid, a.person) for a in obj.authors if a.person]
    elif isinstance(obj, Folder):
        rows["folders"].append((uid, obj.last_update_time))
        rows["folder_codes"] += [(uid, v) for v in dict.fromkeys(code_value(c) for c in obj.codes)]
    elif isinstance(obj, Association):
        rows["associations"].append((uid, obj.association_type, obj.source_uuid, obj.target_uuid, obj.submission_set_status))


def save_patient(conn: Connection, key: PatientKey, cx: str, demographics: dict[str, str], now: str) -> bool:
    """ITI-8 A01/A04/A05/A08: create or update a patient (a merged one is live again); True when created."""
    p = t.patients.c
    values = {"cx": cx, "demographics": json.dumps(demographics, sort_keys=True), "updated_at": now}
    result = conn.execute(
        update(t.patients).where(p.pid == key.id, p.authority == key.authority).values(merged_into=None, **values)
    )
    if result.rowcount:
        return False
    conn.execute(insert(t.patients).values(pid=key.id, authority=key.authority, **values))
    return True
