"""Which patient an identifier belongs to: `registry_ids`, the registry's one table keyed by identifier.

Every table of the registry is keyed (partitioned, distributed) by patient (`registry.sql.schema`). A stored
query names its patient, except the Get* queries, which name objects by entryUUID, uniqueId or logicalID
(ITI TF-2a 3.18.4.1.2.3.7.5-14), and so do the lookups of ITI-42 / ITI-57 / ITI-62 (a pre-assigned entryUUID,
a reused uniqueId, the target of an association, the object to update or remove). Each first reads here, in
the shard of the identifier, which patients hold it; then reads those patients' rows, in their shard.

Kinds of identifier:
- `U` an entryUUID (every object, associations included): unique in the registry (TF-3 4.1.12.1);
- `L` a logicalID that is not its object's own entryUUID (versions 2 and later, ITI-57);
- `D` a DocumentEntry uniqueId: may be registered again (a resubmission, TF-2b 3.42.4.1.3.3), so several
  patients may hold one;
- `S` a SubmissionSet uniqueId: unique in the registry;
- `F` a Folder uniqueId: its later versions share it (an empty Folder's may move to another patient, ITI-57).
The unique index on (ident, kind) for U and S (`registry.sql.schema`) is what keeps them unique across
patients when two submissions race; the advisory locks of `registry.sql.store` make the later one fail the
check before it gets there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from registry.sql import schema as t
from registry.sql.columns import chunks
from xdsservice.dbapi import Dbapi, in_list

ENTRY, LOGICAL, DOCUMENT, SUBMISSION_SET, FOLDER = "U", "L", "D", "S", "F"
UNIQUE_ID_KINDS = {"DE": DOCUMENT, "SS": SUBMISSION_SET, "FD": FOLDER}

Row = tuple[str, str, int]  # (ident, kind, patient number)

_r = t.registry_ids.c
_DELETE = delete(t.registry_ids).where(_r.ident == bindparam("i"), _r.kind == bindparam("k"), _r.patient == bindparam("p"))
# Plain DBAPI (`xdsservice.dbapi`): every ITI-42 runs this two or three times, and through SQLAlchemy Core
# (expanding IN parameters compiled at each call) each cost ten times what SQLite takes to answer it.
_FIND = "SELECT ident, patient FROM registry_ids WHERE kind IN ({}) AND ident IN ({})"


def rows_for(uuid: str, kind: str, patient: Any, lid: str | None, unique_id: str | None) -> list[Row]:
    """The identifiers of one stored object (kind DE SS FD AS)."""
    rows = [(uuid, ENTRY, patient)]
    if lid and lid != uuid:
        rows.append((lid, LOGICAL, patient))
    if unique_id and kind in UNIQUE_ID_KINDS:
        rows.append((unique_id, UNIQUE_ID_KINDS[kind], patient))
    return rows


def insert(conn: Connection, rows: Iterable[Row]) -> None:
    """Add identifiers; one already held by the same patient (a Folder's next version) is left as it is,
    one of kind U or S held by another patient fails (the unique index: IntegrityError)."""
    values = [{"ident": i, "kind": k, "patient": p} for i, k, p in dict.fromkeys(rows)]
    if not values:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(t.registry_ids).on_conflict_do_nothing(index_elements=["ident", "kind", "patient"])
    conn.execute(stmt, values)


def remove(conn: Connection, rows: Iterable[Row]) -> None:
    values = [{"i": i, "k": k, "p": p} for i, k, p in dict.fromkeys(rows)]
    if values:
        conn.execute(_DELETE, values)


def find(db: Dbapi | Connection, idents: Iterable[str], kinds: Iterable[str]) -> dict[str, set[int]]:
    """ident → the patients (numbers, `registry.sql.patient_number`) holding it as one of `kinds`."""
    db = db if isinstance(db, Dbapi) else Dbapi(db)
    kinds = sorted(set(kinds))
    out: dict[str, set[int]] = {}
    for chunk in chunks(idents):
        for ident, patient in db.rows(_FIND.format(in_list(len(kinds)), in_list(len(chunk))), (*kinds, *chunk)):
            out.setdefault(ident, set()).add(patient)
    return out


_FIND_KINDS = "SELECT ident, kind, patient FROM registry_ids WHERE kind IN ({}) AND ident IN ({})"


def find_kinds(db: Dbapi, wanted: dict[str, Iterable[str]]) -> dict[str, dict[str, set[int]]]:
    """`find` for several kinds at once, each with its own identifiers (kind → idents), in one statement
    per chunk: kind → ident → patients. An ident asked for one kind is not reported for another."""
    asked = {kind: set(idents) for kind, idents in wanted.items()}
    kinds = sorted(k for k, idents in asked.items() if idents)
    out: dict[str, dict[str, set[int]]] = {kind: {} for kind in asked}
    for chunk in chunks(sorted(set().union(*asked.values()))):
        for ident, kind, patient in db.rows(_FIND_KINDS.format(in_list(len(kinds)), in_list(len(chunk))), (*kinds, *chunk)):
            if ident in asked[kind]:
                out[kind].setdefault(ident, set()).add(patient)
    return out


def by_patient(found: dict[str, set[int]]) -> dict[int, list[str]]:
    """patient → its identifiers, from `find`'s answer, in a stable order."""
    out: dict[int, list[str]] = {}
    for ident, patients in found.items():
        for patient in sorted(patients):
            out.setdefault(patient, []).append(ident)
    return dict(sorted(out.items()))


class Locator:
    """Finds the patients of entryUUIDs, logicalIDs and uniqueIds on one connection, remembering what it
    already knows (the rows a transaction or a query read carry their patient)."""

    def __init__(self, conn: Connection, db: Dbapi | None = None) -> None:
        self.conn = conn
        self.db = db or Dbapi(conn)
        self.known: dict[str, int] = {}  # entryUUID → patient number

    def note(self, uuid: str, patient: int | None) -> None:
        if patient is not None:
            self.known[uuid] = patient

    def entries(self, uuids: Iterable[str]) -> dict[int, list[str]]:
        """patient → those of `uuids` it holds (unknown ones are left out)."""
        wanted = list(dict.fromkeys(u for u in uuids if u))
        found: dict[str, set[int]] = {u: {self.known[u]} for u in wanted if u in self.known}
        missing = [u for u in wanted if u not in found]
        if missing:
            for uuid, patients in find(self.db, missing, (ENTRY,)).items():
                found[uuid] = patients
                self.known[uuid] = next(iter(patients))
        return by_patient(found)

    def logical(self, lids: Iterable[str]) -> dict[int, list[str]]:
        """patient → those of `lids` (logicalIDs) it holds."""
        return by_patient(find(self.db, lids, (ENTRY, LOGICAL)))

    def unique_ids(self, values: Iterable[str], kinds: Iterable[str]) -> dict[int, list[str]]:
        """patient → those of `values` it holds as a uniqueId of the given object kinds (DE SS FD)."""
        return by_patient(find(self.db, values, [UNIQUE_ID_KINDS[k] for k in kinds]))

    def document_and_package_unique_ids(self, documents: Iterable[str], packages: Iterable[str]
                                        ) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
        """`unique_ids(documents, DE)` and `unique_ids(packages, SS FD)` in one lookup (one statement, one
        round trip on PostgreSQL: each ITI-42 checks both)."""
        documents, packages = list(documents), list(packages)
        if not documents or not packages:
            return self.unique_ids(documents, ("DE",)) if documents else {}, (
                self.unique_ids(packages, ("SS", "FD")) if packages else {})
        found = find_kinds(self.db, {DOCUMENT: documents, SUBMISSION_SET: packages, FOLDER: packages})
        held = found[SUBMISSION_SET]
        for ident, patients in found[FOLDER].items():
            held.setdefault(ident, set()).update(patients)
        return by_patient(found[DOCUMENT]), by_patient(held)

