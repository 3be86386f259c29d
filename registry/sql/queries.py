"""SQL for the stored queries: finders that select ids through indexes, and the fetch of stored objects.

Every finder starts from an indexed column (patient+kind+status, uuid, unique_id, lid, association
source/target) and narrows with joins on primary keys and EXISTS on the side tables; the result is
ordered by registration order and capped at `limit` rows (the caller turns limit+1 into
XDSTooManyResults). Values are always bound parameters: LIKE patterns included, so nothing a client
sends becomes SQL.

Every statement is about one patient, and says so to every table it reads (`patient = :patient`): the
tables are partitioned / distributed by patient (`registry.sql.schema`), so PostgreSQL reads one partition
of each and Citus sends the whole statement to the one worker holding that patient. Finders by
identifier (Get* queries) first find the patients of their ids (`registry.sql.locate`), then run per
patient.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, exists, or_, select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from registry.sql import patient_number
from registry.sql import schema as t
from registry.sql.columns import KINDS, chunks, pad_time
from registry.sql.fragments import unpack
from registry.sql.locate import Locator
from registry.sql.reads import with_patient_text
from xdscore.vocabulary import Status

TimeRange = tuple[str | None, str | None]  # (From inclusive, To exclusive), DTM
DEPRECATED = Status.DEPRECATED.value


@dataclass(frozen=True)
class DocumentFilter:
    """FindDocuments / GetAll / Get*AndContents filters on DocumentEntries (TF-2a 3.18.4.1.2.3.7.1)."""

    statuses: Sequence[str] | None = None
    object_types: Sequence[str] | None = None
    class_codes: Sequence[str] | None = None
    type_codes: Sequence[str] | None = None
    practice_setting_codes: Sequence[str] | None = None
    healthcare_facility_type_codes: Sequence[str] | None = None
    format_codes: Sequence[str] | None = None
    event_codes: Sequence[Sequence[str]] = ()  # AND of OR-lists
    confidentiality_codes: Sequence[Sequence[str]] = ()
    reference_ids: Sequence[Sequence[str]] = ()
    author_persons: Sequence[str] | None = None  # LIKE patterns, OR
    creation_time: TimeRange = (None, None)
    service_start_time: TimeRange = (None, None)
    service_stop_time: TimeRange = (None, None)


@dataclass(frozen=True)
class StoredObject:
    uuid: str
    kind: str  # DE SS FD AS
    status: str
    patient: str | None  # str(PatientKey); None for an object of no patient
    xml: bytes  # UTF-8, unpacked
    last_update_time: str | None = None


@dataclass
class Found:
    uuids: list[str] = field(default_factory=list)
    truncated: bool = False


def _range(column: ColumnElement, span: TimeRange) -> list[ColumnElement]:
    low, high = span
    out = []
    if low:
        out.append(column >= pad_time(low))
    if high:
        out.append(column < pad_time(high))
    return out


def _like_any(column: ColumnElement, patterns: Sequence[str]) -> ColumnElement:
    return or_(*(column.ilike(p, escape="\\") for p in patterns))


_o = t.objects.c
# Finders select what the answer needs along with the ids, so a Find query is one round trip; `seq` orders
# the answers of several patients.
_OBJECT_COLUMNS = (_o.uuid, _o.kind, _o.status, _o.patient, _o.fragment, _o.seq)
_PATIENT = bindparam("patient")

# FindDocuments and the Get*AndContents filters have few shapes (which filters are present, how many
# AND-groups): each shape's statement is built once, with expanding bind parameters for the lists, so a
# query costs its execution only (building and cache-keying the Core statement cost ~1 ms a query).
_DOCUMENT_LISTS = ("statuses", "object_types", "class_codes", "type_codes", "practice_setting_codes",
                   "healthcare_facility_type_codes", "format_codes")
_DOCUMENT_RANGES = ("creation_time", "service_start_time", "service_stop_time")
_DOCUMENT_GROUPS = ("event_codes", "confidentiality_codes", "reference_ids")
_DOCUMENT_STATEMENTS: dict[tuple[object, ...], Select[Any]] = {}
_MAX_SHAPES = 256


def _documents_statement(present: tuple[str, ...], groups: tuple[int, ...], authors: int) -> Select[Any]:
    o, d = t.objects.c, t.documents.c
    has = set(present)

    def values(name: str) -> BindParameter[Any]:
        return bindparam(name, expanding=True)

    where: list[ColumnElement[bool]] = [o.patient == _PATIENT, o.kind == "DE"]
    if "patient_text" in has:
        where.append(_is_patient(_PATIENT, bindparam("patient_text")))
    if "uuids" in has:
        where.append(o.uuid.in_(values("uuids")))
    if "statuses" in has:
        where.append(o.status.in_(values("statuses")))
    if "object_types" in has:
        where.append(o.object_type.in_(values("object_types")))
    # `documents` is joined only when a filter needs it: the usual FindDocuments (patient, status,
    # objectType) then reads the patient index and the object rows, not 100 more index probes.
    on_documents: list[ColumnElement[bool]] = []
    for name, column in (("class_codes", d.class_code), ("type_codes", d.type_code),
                         ("practice_setting_codes", d.practice_setting_code),
                         ("healthcare_facility_type_codes", d.healthcare_facility_type_code),
                         ("format_codes", d.format_code)):
        if name in has:
            on_documents.append(column.in_(values(name)))
    for name, column in (("creation_time", d.creation_time), ("service_start_time", d.service_start_time),
                         ("service_stop_time", d.service_stop_time)):
        if f"{name}_from" in has:
            on_documents.append(column >= bindparam(f"{name}_from"))
        if f"{name}_to" in has:
            on_documents.append(column < bindparam(f"{name}_to"))
    c, r = t.document_codes.c, t.document_reference_ids.c
    for name, count in zip(_DOCUMENT_GROUPS, groups, strict=False):
        for i in range(count):
            if name == "reference_ids":
                where.append(exists().where(r.patient == _PATIENT, r.uuid == o.uuid, r.value.in_(values(f"{name}_{i}"))))
            else:
                code_type = "E" if name == "event_codes" else "C"
                where.append(exists().where(c.patient == _PATIENT, c.uuid == o.uuid, c.code_type == code_type,
                                            c.value.in_(values(f"{name}_{i}"))))
    if authors:
        a = t.document_authors.c
        where.append(exists().where(a.patient == _PATIENT, a.uuid == o.uuid,
                                    or_(*(a.person.ilike(bindparam(f"author_{i}"), escape="\\") for i in range(authors)))))
    source = t.objects
    if on_documents:
        source = t.objects.join(t.documents, (d.patient == o.patient) & (d.uuid == o.uuid))
        where += [d.patient == _PATIENT, *on_documents]
    return select(*_OBJECT_COLUMNS).select_from(source).where(and_(*where)).order_by(o.seq)


def _is_patient(number: Any, text: Any) -> ColumnElement[bool]:
    """The patient number `number` is the patient `text`'s: a query for an unfed id that shares a fed
    patient's number (registry.sql.patient_number) finds nothing. One probe of `patients`, on the same
    partition / shard as the rest of the statement."""
    p = t.patients.c
    return exists().where(p.patient == number, p.key_text == text)


class QuerySql:
    def __init__(self, conn: Connection, limit: int, metadata_level: int = 1) -> None:
        self.conn = conn
        self.limit = limit
        # $MetadataLevel 1 (the default) shows the registry as it was before Metadata Update: one version
        # of each object by uniqueId (the latest) and no Deprecated association (ITI TF-2a 3.18.4.1.2.3.5.1).
        self.metadata_level = metadata_level
        self.locator = Locator(conn)
        self._loaded: dict[str, StoredObject] = {}
        self._ends: dict[str, tuple[str, str]] = {}  # association uuid -> (source, target), as read
        self._seq: dict[str, int] = {}  # registration order of the objects read
        self._names: dict[int, str] = {}  # patient number → str(PatientKey), of the patients read

    def _keep(self, r: Sequence[Any], last_update_time: str | None = None) -> StoredObject:
        """Remember a row of _OBJECT_COLUMNS: the answer may need it, and where it lives."""
        obj = StoredObject(r[0], r[1], r[2], self._names.get(r[3]), unpack(r[4]), last_update_time)
        self._loaded[obj.uuid] = obj
        self._seq[obj.uuid] = r[5]
        self.locator.note(obj.uuid, r[3])
        return obj

    def _run(self, stmt, params: dict[str, object] | None = None) -> Found:  # type: ignore[no-untyped-def]
        if params is None:
            stmt = stmt.limit(self.limit + 1)
        result = self.conn.execute(stmt, params)
        has_time = "last_update_time" in result.keys()  # noqa: SIM118 - `in result` would consume the rows
        # Plain DBAPI tuples: a LeafClass answer reads ~100 rows of several KB, and SQLAlchemy's Row
        # processing would cost as much as the query itself.
        rows = result.cursor.fetchall()
        result.close()
        kept = rows[: self.limit]
        self._name({r[3] for r in kept})
        for r in kept:
            self._keep(r, r[6] if has_time else None)
        return Found([r[0] for r in kept], len(rows) > self.limit)

    def _name(self, numbers: Iterable[int]) -> None:
        """Learn the text of patient numbers not met yet (rows found by id alone, Get*AndContents)."""
        p = t.patients.c
        unknown = [n for n in set(numbers) if n not in self._names and n != patient_number.NONE]
        for chunk in chunks(unknown):  # type: ignore[arg-type]
            self._names.update(self.conn.execute(select(p.patient, p.key_text).where(p.patient.in_(chunk))).all())

    def _in_order(self, uuids: Iterable[str]) -> list[str]:
        return sorted(dict.fromkeys(uuids), key=self._seq.__getitem__)

    # --- finders --------------------------------------------------------------------------------------

    def documents(self, patient: str | None, f: DocumentFilter, uuids: Iterable[str] | None = None) -> Found:
        """DocumentEntries of `patient` that pass `f`; without a patient, those of `uuids` (their patients')."""
        if patient is not None:
            number = patient_number.number(patient)
            self._names[number] = patient
            return self._documents(number, patient, f, list(uuids) if uuids is not None else None)
        found: list[str] = []
        for owner, ids in self.locator.entries(uuids or ()).items():
            part = self._documents(owner, None, f, ids)
            if part.truncated:
                return part
            found += part.uuids
        ordered = self._in_order(found)
        return Found(ordered[: self.limit], len(ordered) > self.limit)

    def _documents(self, patient: int, text: str | None, f: DocumentFilter, uuids: list[str] | None) -> Found:
        params: dict[str, object] = {"patient": patient, "patient_text": text, "uuids": uuids}
        for name in _DOCUMENT_LISTS:
            values = getattr(f, name)
            params[name] = list(values) if values is not None else None
        for name in _DOCUMENT_RANGES:
            low, high = getattr(f, name)
            params[f"{name}_from"], params[f"{name}_to"] = pad_time(low), pad_time(high)
        for name in _DOCUMENT_GROUPS:
            for i, group in enumerate(getattr(f, name)):
                params[f"{name}_{i}"] = list(group)
        for i, pattern in enumerate(f.author_persons or ()):
            params[f"author_{i}"] = pattern
        shape = (
            tuple(k for k, v in params.items() if v is not None),
            tuple(len(getattr(f, name)) for name in _DOCUMENT_GROUPS),
            len(f.author_persons or ()),
            self.limit,
        )
        stmt = _DOCUMENT_STATEMENTS.get(shape)
        if stmt is None:
            stmt = _documents_statement(shape[0], shape[1], shape[2]).limit(self.limit + 1)
            if len(_DOCUMENT_STATEMENTS) < _MAX_SHAPES:  # clients choose the shapes: keep the cache bounded
                _DOCUMENT_STATEMENTS[shape] = stmt
        return self._run(stmt, {k: v for k, v in params.items() if v is not None})

    def submission_sets(
        self,
        patient: str,
        statuses: Sequence[str],
        source_ids: Sequence[str] | None = None,
        submission_time: TimeRange = (None, None),
        author_person: str | None = None,
        content_types: Sequence[str] | None = None,
    ) -> Found:
        o, s = t.objects.c, t.submission_sets.c
        text, patient = patient, self._number(patient)  # type: ignore[assignment]
        where: list[ColumnElement] = [o.patient == patient, o.kind == "SS", o.status.in_(list(statuses)), s.patient == patient,
                                      _is_patient(patient, text)]
        if source_ids is not None:
            where.append(s.source_id.in_(list(source_ids)))
        if content_types is not None:
            where.append(s.content_type_code.in_(list(content_types)))
        where += _range(s.submission_time, submission_time)
        if author_person is not None:
            a = t.submission_set_authors.c
            where.append(exists().where(a.patient == patient, a.uuid == o.uuid, _like_any(a.person, [author_person])))
        source = t.objects.join(t.submission_sets, (s.patient == o.patient) & (s.uuid == o.uuid))
        return self._run(select(*_OBJECT_COLUMNS).select_from(source).where(and_(*where)).order_by(o.seq))

    def folders(
        self,
        patient: str,
        statuses: Sequence[str],
        last_update_time: TimeRange = (None, None),
        codes: Sequence[Sequence[str]] = (),
    ) -> Found:
        o, fd, c = t.objects.c, t.folders.c, t.folder_codes.c
        text, patient = patient, self._number(patient)  # type: ignore[assignment]
        where: list[ColumnElement] = [o.patient == patient, o.kind == "FD", o.status.in_(list(statuses)), fd.patient == patient,
                                      _is_patient(patient, text)]
        where += _range(fd.last_update_time, last_update_time)
        for group in codes:
            where.append(exists().where(c.patient == patient, c.uuid == o.uuid, c.value.in_(list(group))))
        stmt = (
            select(*_OBJECT_COLUMNS, fd.last_update_time)
            .select_from(t.objects.join(t.folders, (fd.patient == o.patient) & (fd.uuid == o.uuid)))
            .where(and_(*where))
            .order_by(o.seq)
        )
        return self._run(stmt)

    def _number(self, patient: str) -> int:
        number = patient_number.number(patient)
        self._names[number] = patient
        return number

    def by_identifier(self, kind: str, column: str, values: Iterable[str]) -> list[str]:
        """uuids of objects of `kind` whose uuid / unique_id / lid is one of `values`, registration order."""
        o, fd = t.objects.c, t.folders.c
        col = {"uuid": o.uuid, "unique_id": o.unique_id, "lid": o.lid}[column]
        if column == "uuid":
            where = self.locator.entries(values)
        elif column == "lid":
            where = self.locator.logical(values)
        else:
            where = self.locator.unique_ids(values, (kind,))
        out: list[str] = []
        latest: dict[str, tuple[int, str]] = {}  # lid -> (version, uuid)
        for patient, ids in where.items():
            for chunk in chunks(ids):
                stmt = (
                    select(*_OBJECT_COLUMNS, fd.last_update_time, o.lid, o.version, t.patients.c.key_text)
                    .select_from(with_patient_text(patient).outerjoin(t.folders, (fd.patient == o.patient) & (fd.uuid == o.uuid)))
                    .where(o.patient == patient, o.kind == kind, col.in_(chunk))
                )
                for r in self.conn.execute(stmt):
                    if r.key_text is not None:
                        self._names[patient] = r.key_text
                    self._keep(r, r.last_update_time)
                    out.append(r.uuid)
                    if latest.get(r.lid, (0, ""))[0] < r.version:
                        latest[r.lid] = (r.version, r.uuid)
        if column == "unique_id" and self.metadata_level == 1:
            keep = {u for _, u in latest.values()}
            out = [u for u in out if u in keep]
        return self._in_order(out)

    def associations(
        self,
        sources: Iterable[str] | None = None,
        targets: Iterable[str] | None = None,
        either: Iterable[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> list[tuple[str, str, str, str]]:
        """(uuid, type, source, target) of associations by source, target or either end, registration order.
        An association is its ends' patient's: each end's patient is where to look."""
        a, o = t.associations.c, t.objects.c
        rows: dict[str, tuple[int, tuple[str, str, str, str]]] = {}
        conditions: list[tuple[ColumnElement, list[str]]] = []
        for column, values in ((a.source, sources), (a.target, targets)):
            if values is not None:
                conditions.append((column, list(values)))
        if either is not None:
            values = list(either)
            conditions += [(a.source, values), (a.target, values)]
        for column, values in conditions:
            for patient, ends in self.locator.entries(values).items():
                for chunk in chunks(ends):
                    stmt = (
                        select(o.seq, a.uuid, a.association_type, a.source, a.target)
                        .join(t.objects, (o.patient == a.patient) & (o.uuid == a.uuid))
                        .where(a.patient == patient, o.patient == patient, column.in_(chunk))
                    )
                    if types is not None:
                        stmt = stmt.where(a.association_type.in_(list(types)))
                    if self.metadata_level == 1:
                        stmt = stmt.where(o.status != DEPRECATED)
                    for r in self.conn.execute(stmt):
                        rows[r.uuid] = (r.seq, (r.uuid, r.association_type, r.source, r.target))
                        self.locator.note(r.uuid, patient)
                        self._ends[r.uuid] = (r.source, r.target)
        if sources is not None and targets is not None and either is None:
            src, tgt = set(sources), set(targets)
            rows = {k: v for k, v in rows.items() if v[1][2] in src and v[1][3] in tgt}
        return [row for _, row in sorted(rows.values())]

    def ends(self, uuids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(source, target) of each association; those a finder already read are not read again."""
        a = t.associations.c
        wanted = list(dict.fromkeys(uuids))
        out = {u: self._ends[u] for u in wanted if u in self._ends}
        for patient, ids in self.locator.entries(u for u in wanted if u not in out).items():
            for chunk in chunks(ids):
                stmt = select(a.uuid, a.source, a.target).where(a.patient == patient, a.uuid.in_(chunk))
                for r in self.conn.execute(stmt):
                    out[r.uuid] = self._ends[r.uuid] = (r.source, r.target)
        return out

    def kinds(self, uuids: Iterable[str]) -> dict[str, str]:
        o = t.objects.c
        out: dict[str, str] = {}
        for patient, ids in self.locator.entries(uuids).items():
            for chunk in chunks(ids):
                stmt = select(o.uuid, o.kind).where(o.patient == patient, o.uuid.in_(chunk))
                out.update({r.uuid: r.kind for r in self.conn.execute(stmt)})
        return out

    # --- fetch ----------------------------------------------------------------------------------------

    def fetch(self, uuids: Sequence[str]) -> list[StoredObject]:
        """The stored objects, in the order asked; those a finder already read are not read again."""
        o, fd = t.objects.c, t.folders.c
        found: dict[str, StoredObject] = {u: self._loaded[u] for u in uuids if u in self._loaded}
        for patient, ids in self.locator.entries(u for u in uuids if u not in found).items():
            for chunk in chunks(ids):
                stmt = (
                    select(*_OBJECT_COLUMNS, fd.last_update_time, t.patients.c.key_text)
                    .select_from(with_patient_text(patient).outerjoin(t.folders, (fd.patient == o.patient) & (fd.uuid == o.uuid)))
                    .where(o.patient == patient, o.uuid.in_(chunk))
                )
                for r in self.conn.execute(stmt):
                    if r.key_text is not None:
                        self._names[patient] = r.key_text
                    found[r.uuid] = self._keep(r, r.last_update_time)
        return [found[u] for u in uuids if u in found]


__all__ = ["KINDS", "DocumentFilter", "Found", "QuerySql", "StoredObject"]
