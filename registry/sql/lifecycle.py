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

from registry.sql import fragments
from registry.sql import schema as t
from registry.sql.columns import KINDS, chunks
from registry.store import StoredAssociation, StoredRef
from xdscore.ebrim import association, document_entry, folder, rim, submission_set
from xdscore.model import RegistryEntry

_SIDE_TABLES = (
    t.documents, t.document_codes, t.document_authors, t.document_reference_ids,
    t.submission_sets, t.submission_set_authors, t.folders, t.folder_codes, t.associations,
)
_READERS = {"DE": document_entry.read, "SS": submission_set.read, "FD": folder.read, "AS": association.read}


class LifecycleReads:
    """The reads ITI-57 / ITI-92 / ITI-62 add to `RegistryReader` (mixed into the SQL transaction)."""

    conn: Connection

    def latest_versions(self, lids: Iterable[str]) -> dict[str, StoredRef]:
        """lid → its highest version (DocumentEntries and Folders)."""
        o = t.objects.c
        out: dict[str, StoredRef] = {}
        for chunk in chunks(lids):
            top = (
                select(o.lid, func.max(o.version).label("v")).where(o.lid.in_(chunk)).group_by(o.lid).subquery()
            )
            rows = self.conn.execute(
                select(o.uuid, o.kind, o.status, o.patient, o.lid, o.unique_id, o.version)
                .join(top, (o.lid == top.c.lid) & (o.version == top.c.v))
            )
            for r in rows:
                out[r.lid] = StoredRef(r.uuid, KINDS[r.kind], r.status, r.patient, r.lid, r.unique_id, r.version)
        return out

    def stored_entries(self, uuids: Iterable[str]) -> dict[str, RegistryEntry]:
        """The typed objects as stored (with their current status), read back from their fragments."""
        o = t.objects.c
        out: dict[str, RegistryEntry] = {}
        for chunk in chunks(uuids):
            for r in self.conn.execute(select(o.uuid, o.kind, o.status, o.fragment).where(o.uuid.in_(chunk))):
                el = etree.fromstring(fragments.unpack(r.fragment))
                obj = rim.read_object(el)
                out[r.uuid] = _READERS[r.kind](obj.__class__(**{**obj.__dict__, "status": r.status}))
        return out

    def associations_touching(self, uuids: Iterable[str]) -> list[StoredAssociation]:
        """Every association whose source or target is one of `uuids`, in registration order."""
        a, o = t.associations.c, t.objects.c
        found: dict[str, tuple[int, StoredAssociation]] = {}
        for chunk in chunks(uuids):
            for end in (a.source, a.target):
                stmt = (
                    select(o.seq, a.uuid, a.association_type, a.source, a.target, o.status)
                    .join(t.objects, o.uuid == a.uuid)
                    .where(end.in_(chunk))
                )
                for r in self.conn.execute(stmt):
                    found[r.uuid] = (r.seq, StoredAssociation(r.uuid, r.association_type, r.source, r.target, r.status))
        return [s for _, s in sorted(found.values(), key=lambda x: x[0])]


def delete_objects(conn: Connection, uuids: Iterable[str]) -> int:
    """Remove objects and every row that indexes them; the number of objects removed."""
    removed = 0
    for chunk in chunks(uuids):
        for table in _SIDE_TABLES:
            conn.execute(delete(table).where(table.c.uuid.in_(chunk)))
        result: Any = conn.execute(delete(t.objects).where(t.objects.c.uuid.in_(chunk)))
        removed += int(result.rowcount or 0)
    return removed
