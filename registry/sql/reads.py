"""The registry's reads for the transactions: `SqlReader` implements `registry.store.RegistryReader`.

What the stateful ITI-42 rules and the ITI-8 feed look up (ITI TF-2a 3.42.4.1.3: known patient, ids and
uniqueIds already registered, targets of associations, folders of a replaced document), each a few
indexed lookups on one connection, in IN-lists of bounded length. The stored-query SQL is apart, in
`registry.sql.queries`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, select

from registry.sql import schema as t
from registry.sql.columns import KINDS, chunks
from registry.store import StoredDocument, StoredRef
from xdscore.model import Patient, PatientKey
from xdscore.vocabulary import AssociationType

HAS_MEMBER = AssociationType.HAS_MEMBER.value

# The lookups every submission makes, built once: constructing a Core statement per call costs more than
# running it on SQLite.
_PATIENT = select(t.patients).where(t.patients.c.pid == bindparam("pid"), t.patients.c.authority == bindparam("aa"))
_DOCUMENTS_BY_UID = (
    select(t.objects.c.uuid, t.objects.c.unique_id, t.objects.c.status, t.documents.c.hash, t.documents.c.size)
    .join(t.documents, t.documents.c.uuid == t.objects.c.uuid)
    .where(t.objects.c.unique_id.in_(bindparam("uids", expanding=True)), t.objects.c.kind == "DE")
)
_PACKAGE_UIDS = select(t.objects.c.unique_id).where(
    t.objects.c.unique_id.in_(bindparam("uids", expanding=True)), t.objects.c.kind.in_(("SS", "FD"))
)


class SqlReader:
    """The reads of one database transaction (or of one autocommit connection, for queries)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def patient(self, key: PatientKey) -> Patient | None:
        row = self.conn.execute(_PATIENT, {"pid": key.id, "aa": key.authority}).first()
        if row is None:
            return None
        merged = PatientKey.parse(row.merged_into) if row.merged_into else None
        return Patient(key, row.cx, json.loads(row.demographics or "{}"), merged)

    def existing_uuids(self, uuids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(uuids):
            found.update(self.conn.scalars(select(t.objects.c.uuid).where(t.objects.c.uuid.in_(chunk))))
        return found

    def refs(self, uuids: Iterable[str]) -> dict[str, StoredRef]:
        o = t.objects.c
        out: dict[str, StoredRef] = {}
        for chunk in chunks(uuids):
            for r in self.conn.execute(
                select(o.uuid, o.kind, o.status, o.patient, o.lid, o.unique_id, o.version).where(o.uuid.in_(chunk))
            ):
                out[r.uuid] = StoredRef(r.uuid, KINDS[r.kind], r.status, r.patient, r.lid, r.unique_id, r.version)
        return out

    def documents_by_unique_id(self, unique_ids: Iterable[str]) -> dict[str, list[StoredDocument]]:
        out: dict[str, list[StoredDocument]] = {}
        for chunk in chunks(unique_ids):
            for r in self.conn.execute(_DOCUMENTS_BY_UID, {"uids": chunk}):
                out.setdefault(r.unique_id, []).append(StoredDocument(r.uuid, r.unique_id, r.hash, r.size, r.status))
        return out

    def used_package_unique_ids(self, unique_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(unique_ids):
            found.update(self.conn.scalars(_PACKAGE_UIDS, {"uids": chunk}))
        return found

    def folders_of_documents(self, document_uuids: Iterable[str]) -> dict[str, list[str]]:
        a, o = t.associations.c, t.objects.c
        out: dict[str, list[str]] = {}
        for chunk in chunks(document_uuids):
            rows = self.conn.execute(
                select(a.target, a.source)
                .join(t.objects, o.uuid == a.source)
                .where(a.target.in_(chunk), a.association_type == HAS_MEMBER, o.kind == "FD")
                .order_by(o.seq)
            )
            for r in rows:
                out.setdefault(r.target, [])
                if r.source not in out[r.target]:
                    out[r.target].append(r.source)
        return out

    def relationship_sources(self, target_uuids: Iterable[str], association_types: Iterable[str]) -> dict[str, list[str]]:
        a = t.associations.c
        types = list(association_types)
        out: dict[str, list[str]] = {}
        for chunk in chunks(target_uuids):
            for r in self.conn.execute(select(a.target, a.source).where(a.target.in_(chunk), a.association_type.in_(types))):
                out.setdefault(r.target, []).append(r.source)
        return out
