"""ITI-8 A40 Merge Patient (ITI TF-2a 3.8.4.2): the subsumed id is retired and everything registered
under it is answered under the surviving id.

The rewrite touches the stored objects themselves: their `patient` column and the patientId
ExternalIdentifier inside their stored ebRIM XML, so a stored query for the survivor returns them as if
they had been registered under it. Runs inside the caller's write transaction.
"""

from __future__ import annotations

from lxml import etree
from sqlalchemy import Connection, select, update

from registry.sql import fragments
from registry.sql import schema as t
from registry.sql.reads import SqlReader
from registry.sql.writes import save_patient
from xdscore.model import PatientKey
from xdscore.vocabulary import NS, UUID

_PATIENT_SCHEMES = frozenset({UUID.DE_PATIENT_ID, UUID.SS_PATIENT_ID, UUID.FOLDER_PATIENT_ID})


def merge_patient(conn: Connection, subsumed: PatientKey, surviving: PatientKey, now: str) -> None:
    """A40: the subsumed id is retired; its documents are answered under the surviving id."""
    if SqlReader(conn).patient(subsumed) is None:
        save_patient(conn, subsumed, str(subsumed), {}, now)
    p = t.patients.c
    conn.execute(
        update(t.patients)
        .where(p.pid == subsumed.id, p.authority == subsumed.authority)
        .values(merged_into=str(surviving), updated_at=now)
    )
    # Earlier merges into the subsumed id now point at the survivor too.
    conn.execute(update(t.patients).where(p.merged_into == str(subsumed)).values(merged_into=str(surviving)))
    # Objects of the retired id are answered under the surviving one: rewrite their patientId.
    o = t.objects.c
    moved = conn.execute(select(o.uuid, o.fragment).where(o.patient == str(subsumed))).all()
    for row in moved:
        xml = with_patient(fragments.unpack(row.fragment), str(surviving))
        conn.execute(update(t.objects).where(o.uuid == row.uuid).values(patient=str(surviving), fragment=fragments.pack(xml)))


def with_patient(xml: bytes, cx: str) -> bytes:
    """A stored object's ebRIM XML with its patientId ExternalIdentifier set to `cx`."""
    el = etree.fromstring(xml)
    for ext in el.iterchildren(f"{{{NS.RIM}}}ExternalIdentifier"):
        if ext.get("identificationScheme") in _PATIENT_SCHEMES:
            ext.set("value", cx)
    return bytes(etree.tostring(el, encoding="UTF-8", xml_declaration=False))
