"""ITI-8 A40 Merge Patient (ITI TF-2a 3.8.4.2): the subsumed id is retired and everything registered
under it is answered under the surviving id.

The rewrite touches the stored objects themselves: their `patient` column and the patientId
ExternalIdentifier inside their stored ebRIM XML, so a stored query for the survivor returns them as if
they had been registered under it. Runs inside the caller's write transaction.

Every table is keyed by patient (partitioned / distributed, `registry.sql.schema`), and neither
PostgreSQL partitions nor Citus shards let a row change its key in place across them: the subsumed
patient's rows are copied under the survivor, then deleted (on Citus, from one worker to another, in one
distributed transaction), and their identifiers in `registry_ids` follow.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree
from sqlalchemy import Connection, delete, insert, select, update

from registry.sql import fragments, locate, patient_number
from registry.sql import schema as t
from registry.sql.reads import SqlReader
from registry.sql.writes import save_patient
from xdscore.model import PatientKey
from xdscore.vocabulary import NS, UUID

_PATIENT_SCHEMES = frozenset({UUID.DE_PATIENT_ID, UUID.SS_PATIENT_ID, UUID.FOLDER_PATIENT_ID})


def merge_patient(conn: Connection, subsumed: PatientKey, surviving: PatientKey, now: str,
                  number: Callable[[str], int] = patient_number.number) -> None:
    """A40: the subsumed id is retired; its documents are answered under the surviving id."""
    if SqlReader(conn).patient(subsumed) is None:
        save_patient(conn, subsumed, str(subsumed), {}, now, number)
    p = t.patients.c
    conn.execute(update(t.patients).where(p.patient == patient_number.of(subsumed))
                 .values(merged_into=str(surviving), updated_at=now))
    # Earlier merges into the subsumed id now point at the survivor too.
    conn.execute(update(t.patients).where(p.merged_into == str(subsumed)).values(merged_into=str(surviving)))
    # Objects of the retired id are answered under the surviving one: rewrite their patientId.
    _move(conn, patient_number.of(subsumed), patient_number.of(surviving), str(surviving))


def _move(conn: Connection, old: int, new: int, cx: str) -> None:
    """Every row of patient number `old` becomes patient `new`'s (objects with their patientId rewritten to `cx`)."""
    for table in t.PATIENT_TABLES:
        if table is t.patients:
            continue
        rows = [dict(r._mapping) for r in conn.execute(select(table).where(table.c.patient == old))]
        if not rows:
            continue
        for row in rows:
            row["patient"] = new
            if table is t.objects:
                row["fragment"] = fragments.pack(with_patient(fragments.unpack(row["fragment"]), cx))
        conn.execute(delete(table).where(table.c.patient == old))
        conn.execute(insert(table), rows)
        if table is t.objects:
            idents = [r for row in rows for r in locate.rows_for(row["uuid"], row["kind"], old, row["lid"], row["unique_id"])]
            locate.remove(conn, idents)
            locate.insert(conn, [(i, k, new) for i, k, _ in idents])


def with_patient(xml: bytes, cx: str) -> bytes:
    """A stored object's ebRIM XML with its patientId ExternalIdentifier set to `cx`."""
    el = etree.fromstring(xml)
    for ext in el.iterchildren(f"{{{NS.RIM}}}ExternalIdentifier"):
        if ext.get("identificationScheme") in _PATIENT_SCHEMES:
            ext.set("value", cx)
    return bytes(etree.tostring(el, encoding="UTF-8", xml_declaration=False))
