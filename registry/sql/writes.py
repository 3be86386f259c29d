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

_INSERTS = {table.name: insert(table) for table in t.metadata.sorted_tables}


def apply(conn: Connection, changes: Changes, now: str) -> None:
    """Write everything one accepted transaction changes; the caller's transaction makes it atomic."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in t.metadata.tables}
    for obj in changes.new_objects:
        _rows_for(obj, now, rows)
    for table in t.metadata.sorted_tables:  # parents before the side tables that reference them
        if rows.get(table.name):
            conn.execute(_INSERTS[table.name], rows[table.name])
    for uuid, status in changes.status_updates.items():
        conn.execute(update(t.objects).where(t.objects.c.uuid == uuid).values(status=status))
    for uuid, when in changes.folder_updates.items():
        conn.execute(update(t.folders).where(t.folders.c.uuid == uuid).values(last_update_time=when))


def _rows_for(obj: RegistryEntry, now: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    rim = obj.rim
    patient = PatientKey.parse(getattr(obj, "patient_id", None) or "")
    rows["objects"].append(
        {
            "uuid": obj.entry_uuid,
            "kind": KIND_CODES[obj.kind],
            "lid": rim.lid or obj.entry_uuid,
            "version": int(rim.version_name or 1),
            "status": rim.status or "",
            "patient": str(patient) if patient else None,
            "unique_id": getattr(obj, "unique_id", None),
            "object_type": (obj.object_type or "") if isinstance(obj, DocumentEntry) else None,
            # stored without status: it changes (deprecation), and is put back on the way out
            "fragment": fragments.pack(etree.tostring(rim_codec.write_object(replace(rim, status=None)), encoding="UTF-8", xml_declaration=False)),
            "registered_at": now,
        }
    )
    uid = obj.entry_uuid
    if isinstance(obj, DocumentEntry):
        rows["documents"].append(
            {
                "uuid": uid,
                "class_code": code_value(obj.class_code),
                "type_code": code_value(obj.type_code),
                "format_code": code_value(obj.format_code),
                "practice_setting_code": code_value(obj.practice_setting_code),
                "healthcare_facility_type_code": code_value(obj.healthcare_facility_type_code),
                "creation_time": pad_time(obj.creation_time),
                "service_start_time": pad_time(obj.service_start_time),
                "service_stop_time": pad_time(obj.service_stop_time),
                "hash": obj.hash.lower() if obj.hash else None,
                "size": int(obj.size) if obj.size and obj.size.isdigit() else None,
                "repository_unique_id": obj.repository_unique_id,
                "mime_type": obj.mime_type,
            }
        )
        codes = {("E", code_value(c)) for c in obj.event_codes} | {("C", code_value(c)) for c in obj.confidentiality_codes}
        rows["document_codes"] += [{"uuid": uid, "code_type": k, "value": v} for k, v in sorted(codes)]
        rows["document_authors"] += [{"uuid": uid, "person": a.person} for a in obj.authors if a.person]
        rows["document_reference_ids"] += [{"uuid": uid, "value": v} for v in dict.fromkeys(obj.reference_ids)]
    elif isinstance(obj, SubmissionSet):
        rows["submission_sets"].append(
            {
                "uuid": uid,
                "source_id": obj.source_id,
                "submission_time": pad_time(obj.submission_time),
                "content_type_code": code_value(obj.content_type_code),
            }
        )
        rows["submission_set_authors"] += [{"uuid": uid, "person": a.person} for a in obj.authors if a.person]
    elif isinstance(obj, Folder):
        rows["folders"].append({"uuid": uid, "last_update_time": obj.last_update_time})
        rows["folder_codes"] += [{"uuid": uid, "value": v} for v in dict.fromkeys(code_value(c) for c in obj.codes)]
    elif isinstance(obj, Association):
        rows["associations"].append(
            {
                "uuid": uid,
                "association_type": obj.association_type,
                "source": obj.source_uuid,
                "target": obj.target_uuid,
                "submission_set_status": obj.submission_set_status,
            }
        )


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
