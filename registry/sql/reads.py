"""The registry's reads for the transactions: `SqlReader` implements `registry.store.RegistryReader`.

What the stateful ITI-42 rules and the ITI-8 feed look up (ITI TF-2a 3.42.4.1.3: known patient, ids and
uniqueIds already registered, targets of associations, folders of a replaced document), each a few
indexed lookups on one connection, in IN-lists of bounded length. The stored-query SQL is apart, in
`registry.sql.queries`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Join, select

from registry.sql import locate, patient_number
from registry.sql import schema as t
from registry.sql.columns import CHUNK, KINDS, chunks
from registry.sql.locate import Locator
from registry.store import StoredDocument, StoredRef
from xdscore.model import Patient, PatientKey
from xdscore.vocabulary import AssociationType
from xdsservice.dbapi import Dbapi, in_list

HAS_MEMBER = AssociationType.HAS_MEMBER.value

# The lookups every submission makes run as plain DBAPI statements (`registry.sql.dbapi`): through
# SQLAlchemy Core each cost more than SQLite takes to run it. Each names its patient (the tables are keyed
# by it, `registry.sql.schema`); ids without one find theirs in `registry_ids` first (`registry.sql.locate`).
# By number, and by text: an unfed id that shares a fed patient's number (registry.sql.patient_number) is unknown.
_PATIENT = "SELECT cx, demographics, merged_into FROM patients WHERE patient = ? AND key_text = ?"
_DOCUMENTS_BY_UID = ("SELECT o.uuid, o.unique_id, o.status, d.hash, d.size FROM objects o"
                     " JOIN documents d ON d.patient = o.patient AND d.uuid = o.uuid"
                     " WHERE o.patient = ? AND d.patient = ? AND o.kind = 'DE' AND o.unique_id IN ({})")


# `expect_submission`: the patient and the holders of a submission's uniqueIds in one statement (one round
# trip, one execute): a row of kind '' is the patient's, the others are `registry_ids` rows.
_PATIENT_AND_IDS = ("SELECT '', cx, demographics, merged_into, CAST(NULL AS BIGINT) FROM patients"
                    " WHERE patient = ? AND key_text = ?"
                    " UNION ALL SELECT kind, ident, NULL, NULL, patient FROM registry_ids WHERE kind IN ({}) AND ident IN ({})")


def with_patient_text(patient: int) -> Join:
    """`objects` of patient number `patient` with the patient's text key (`patients.key_text`, NULL for
    objects of no patient): the join stays on the patient's partition / shard (Citus routes it to one worker)."""
    pt = t.patients.c
    return t.objects.outerjoin(t.patients, (pt.patient == t.objects.c.patient) & (pt.patient == patient))


def _patient(key: PatientKey, cx: str, demographics: str | None, merged_into: str | None) -> Patient:
    merged = PatientKey.parse(merged_into) if merged_into else None
    return Patient(key, cx, json.loads(demographics or "{}"), merged)


@dataclass
class Expected:
    """What `SqlReader.expect_submission` read: the patient, and the holders of the uniqueIds asked."""

    patient_key: PatientKey
    patient: Patient | None
    documents: frozenset[str]
    packages: frozenset[str]
    documents_held: dict[int, list[str]]
    packages_held: dict[int, list[str]]
    patient_used: bool = False
    unique_ids_used: bool = False


class SqlReader:
    """The reads of one database transaction (or of one autocommit connection, for queries)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.db = Dbapi(conn)
        self.locator = Locator(conn, self.db)
        self._expected: Expected | None = None

    def expect_submission(self, patient: PatientKey | None, document_unique_ids: Iterable[str | None],
                          package_unique_ids: Iterable[str | None]) -> None:
        """Read the patient and who holds the uniqueIds now, in one statement, for the next `patient` and
        `unique_ids_in_use` asking exactly these to answer from (each once). Any write forgets them."""
        self._expected = None
        documents, packages = frozenset(filter(None, document_unique_ids)), frozenset(filter(None, package_unique_ids))
        asked = {locate.DOCUMENT: documents, locate.SUBMISSION_SET: packages, locate.FOLDER: packages}
        kinds = sorted(kind for kind, idents in asked.items() if idents)
        idents = sorted(documents | packages)
        if patient is None or not idents or len(idents) > CHUNK:
            return  # nothing to read together (or more than one IN-list): the reads go one by one
        found: dict[str, dict[str, set[int]]] = {kind: {} for kind in asked}
        known: Patient | None = None
        sql = _PATIENT_AND_IDS.format(in_list(len(kinds)), in_list(len(idents)))
        for kind, value, demographics, merged_into, holder in self.db.rows(
                sql, (patient_number.of(patient), str(patient), *kinds, *idents)):
            if not kind:
                known = _patient(patient, value, demographics, merged_into)
            elif value in asked[kind]:
                found[kind].setdefault(value, set()).add(holder)
        held = found[locate.SUBMISSION_SET]
        for ident, patients in found[locate.FOLDER].items():
            held.setdefault(ident, set()).update(patients)
        self._expected = Expected(patient, known, documents, packages, locate.by_patient(found[locate.DOCUMENT]),
                                  locate.by_patient(held))

    def forget(self) -> None:
        """What `expect_submission` read is stale: the transaction writes."""
        self._expected = None

    def patient(self, key: PatientKey) -> Patient | None:
        expected = self._expected
        if expected is not None and expected.patient_key == key and not expected.patient_used:
            expected.patient_used = True
            return expected.patient
        rows = self.db.rows(_PATIENT, (patient_number.of(key), str(key)))
        return _patient(key, *rows[0]) if rows else None

    def existing_uuids(self, uuids: Iterable[str]) -> set[str]:
        return {u for ids in self.locator.entries(uuids).values() for u in ids}

    def refs(self, uuids: Iterable[str]) -> dict[str, StoredRef]:
        o = t.objects.c
        out: dict[str, StoredRef] = {}
        for patient, ids in self.locator.entries(uuids).items():
            for chunk in chunks(ids):
                for r in self.conn.execute(
                    select(o.uuid, o.kind, o.status, t.patients.c.key_text, o.lid, o.unique_id, o.version)
                    .select_from(with_patient_text(patient)).where(o.patient == patient, o.uuid.in_(chunk))
                ):
                    out[r.uuid] = StoredRef(r.uuid, KINDS[r.kind], r.status, r.key_text, r.lid, r.unique_id, r.version)
        return out

    def documents_by_unique_id(self, unique_ids: Iterable[str]) -> dict[str, list[StoredDocument]]:
        return self._documents(self.locator.unique_ids(unique_ids, ("DE",)))

    def unique_ids_in_use(self, document_unique_ids: Iterable[str], package_unique_ids: Iterable[str]
                          ) -> tuple[dict[str, list[StoredDocument]], set[str]]:
        """`documents_by_unique_id` and `used_package_unique_ids` with one `registry_ids` lookup."""
        document_unique_ids, package_unique_ids = list(document_unique_ids), list(package_unique_ids)
        expected = self._expected
        if (expected is not None and not expected.unique_ids_used and expected.documents == frozenset(filter(None, document_unique_ids))
                and expected.packages == frozenset(filter(None, package_unique_ids))):
            expected.unique_ids_used = True
            documents, packages = expected.documents_held, expected.packages_held
        else:
            documents, packages = self.locator.document_and_package_unique_ids(document_unique_ids, package_unique_ids)
        return self._documents(documents), {u for uids in packages.values() for u in uids}

    def _documents(self, held: dict[int, list[str]]) -> dict[str, list[StoredDocument]]:
        out: dict[str, list[StoredDocument]] = {}
        for patient, uids in held.items():
            for chunk in chunks(uids):
                sql = _DOCUMENTS_BY_UID.format(in_list(len(chunk)))
                for uuid, unique_id, status, hash_, size in self.db.rows(sql, (patient, patient, *chunk)):
                    self.locator.note(uuid, patient)
                    out.setdefault(unique_id, []).append(StoredDocument(uuid, unique_id, hash_, size, status))
        return out

    def used_package_unique_ids(self, unique_ids: Iterable[str]) -> set[str]:
        return {u for uids in self.locator.unique_ids(unique_ids, ("SS", "FD")).values() for u in uids}

    def folders_of_documents(self, document_uuids: Iterable[str]) -> dict[str, list[str]]:
        a, o = t.associations.c, t.objects.c
        out: dict[str, list[str]] = {}
        for patient, docs in self.locator.entries(document_uuids).items():
            for chunk in chunks(docs):
                rows = self.conn.execute(
                    select(a.target, a.source)
                    .join(t.objects, (o.patient == a.patient) & (o.uuid == a.source))
                    .where(a.patient == patient, o.patient == patient, a.target.in_(chunk),
                           a.association_type == HAS_MEMBER, o.kind == "FD")
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
        for patient, targets in self.locator.entries(target_uuids).items():
            for chunk in chunks(targets):
                for r in self.conn.execute(select(a.target, a.source).where(
                        a.patient == patient, a.target.in_(chunk), a.association_type.in_(types))):
                    out.setdefault(r.target, []).append(r.source)
        return out
