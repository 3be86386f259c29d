"""SQL for the metadata lifecycle: versions, associations around an object, and removal.

ITI-57 / ITI-92 (new versions, status changes) read the latest version of a logical object and the
associations that touch it; ITI-62 deletes objects with every row that indexes them, in the caller's
transaction, so a removal is all or nothing (ITI TF-2b 3.57.4.1.3, 3.62.4.1.3). The unique index on
(lid, version) makes two concurrent new versions of one logical object end with one winner.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree
from sqlalchemy import Connection, delete, func, select

from registry.sql import fragments, locate
from registry.sql import schema as t
from registry.sql.columns import KINDS, chunks
from registry.sql.locate import Locator
from registry.sql.reads import with_patient_text
from registry.store import StoredAssociation, StoredRef
from xdscore.ebrim import association, document_entry, folder, rim, submission_set
from xdscore.model import RegistryEntry

_SIDE_TABLES = (
    t.documents, t.document_codes, t.document_authors, t.document_reference_ids,
    t.submission_sets, t.submission_set_authors, t.folders, t.folder_codes, t.associations,
)
_READERS = {"DE": document_entry.read, "SS": submission_set.read, "FD": folder.read, "AS": association.read}


class LifecycleReads:
    """The reads ITI-57 / ITI-92 / ITI-62 add to `RegistryReader` (mixed into the SQL transaction). Each
    finds the patients of its ids first (`registry.sql.locate`), then reads per patient."""

    conn: Connection
    locator: Locator

    def latest_versions(self, lids: Iterable[str]) -> dict[str, StoredRef]:
        """lid → its highest version (DocumentEntries and Folders)."""
        o = t.objects.c
        out: dict[str, StoredRef] = {}
        for patient, ids in self.locator.logical(lids).items():
            for chunk in chunks(ids):
                top = (
                    select(o.lid, func.max(o.version).label("v"))
                    .where(o.patient == patient, o.lid.in_(chunk)).group_by(o.lid).subquery()
                )
                rows = self.conn.execute(
                    select(o.uuid, o.kind, o.status, t.patients.c.key_text, o.lid, o.unique_id, o.version)
                    .select_from(with_patient_text(patient).join(top, (o.lid == top.c.lid) & (o.version == top.c.v)))
                    .where(o.patient == patient)
                )
                for r in rows:  # an empty Folder's later version may be another patient's: the top one wins
                    self.locator.note(r.uuid, patient)
                    if r.lid not in out or out[r.lid].version < r.version:
                        out[r.lid] = StoredRef(r.uuid, KINDS[r.kind], r.status, r.key_text, r.lid, r.unique_id, r.version)
        return out

    def stored_entries(self, uuids: Iterable[str]) -> dict[str, RegistryEntry]:
        """The typed objects as stored (with their current status), read back from their fragments."""
        o = t.objects.c
        out: dict[str, RegistryEntry] = {}
        for patient, ids in self.locator.entries(uuids).items():
            for chunk in chunks(ids):
                for r in self.conn.execute(select(o.uuid, o.kind, o.status, o.fragment)
                                           .where(o.patient == patient, o.uuid.in_(chunk))):
                    el = etree.fromstring(fragments.unpack(r.fragment))
                    obj = rim.read_object(el)
                    out[r.uuid] = _READERS[r.kind](obj.__class__(**{**obj.__dict__, "status": r.status}))
        return out

    def associations_touching(self, uuids: Iterable[str]) -> list[StoredAssociation]:
        """Every association whose source or target is one of `uuids`, in registration order."""
        a, o = t.associations.c, t.objects.c
        found: dict[str, tuple[int, StoredAssociation]] = {}
        for patient, ids in self.locator.entries(uuids).items():
            for chunk in chunks(ids):
                for end in (a.source, a.target):
                    stmt = (
                        select(o.seq, a.uuid, a.association_type, a.source, a.target, o.status)
                        .join(t.objects, (o.patient == a.patient) & (o.uuid == a.uuid))
                        .where(a.patient == patient, o.patient == patient, end.in_(chunk))
                    )
                    for r in self.conn.execute(stmt):
                        self.locator.note(r.uuid, patient)
                        found[r.uuid] = (r.seq, StoredAssociation(r.uuid, r.association_type, r.source, r.target, r.status))
        return [s for _, s in sorted(found.values(), key=lambda x: x[0])]


def delete_objects(conn: Connection, uuids: Iterable[str], locator: Locator | None = None) -> int:
    """Remove objects, every row that indexes them, and their identifiers in `registry_ids` (those a
    remaining version of the same patient still holds are kept); the number of objects removed."""
    locator = locator or Locator(conn)
    o = t.objects.c
    removed = 0
    for patient, ids in locator.entries(uuids).items():
        for chunk in chunks(ids):
            gone = conn.execute(select(o.uuid, o.kind, o.lid, o.unique_id).where(o.patient == patient, o.uuid.in_(chunk))).all()
            for table in _SIDE_TABLES:
                conn.execute(delete(table).where(table.c.patient == patient, table.c.uuid.in_(chunk)))
            result: Any = conn.execute(delete(t.objects).where(o.patient == patient, o.uuid.in_(chunk)))
            removed += int(result.rowcount or 0)
            idents = [row for g in gone for row in locate.rows_for(g.uuid, g.kind, patient, g.lid, g.unique_id)]
            still = _still_held(conn, patient, gone)
            locate.remove(conn, [r for r in idents if r[1] == locate.ENTRY or (r[0], r[1]) not in still])
    return removed


def _still_held(conn: Connection, patient: int, gone: list[Any]) -> set[tuple[str, str]]:
    """(ident, kind) of the removed objects' lids and uniqueIds that objects of the patient still hold."""
    o = t.objects.c
    lids = {g.lid for g in gone}
    uids = {g.unique_id for g in gone if g.unique_id}
    held: set[tuple[str, str]] = set()
    if lids:
        for r in conn.execute(select(o.lid).where(o.patient == patient, o.lid.in_(lids)).distinct()):
            held.add((r.lid, locate.LOGICAL))
    if uids:
        for r in conn.execute(select(o.unique_id, o.kind).where(o.patient == patient, o.unique_id.in_(uids)).distinct()):
            if r.kind in locate.UNIQUE_ID_KINDS:
                held.add((r.unique_id, locate.UNIQUE_ID_KINDS[r.kind]))
    return held
