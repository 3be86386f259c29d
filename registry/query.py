"""ITI-18 Registry Stored Query: the Document Registry's side (ITI TF-2a 3.18.4.1.3, 3.18.4.1.2.3.7).

One small definition per stored query, in `QUERIES`: which parameters it reads and how they filter,
expressed over the SQL finders of `registry.sql.queries`. `answer(request, sql)` decodes the request,
runs the query and builds the AdhocQueryResponse: LeafClass (objects as registered, with their current
status, lid and version) or ObjectRef; XDSResultNotSinglePatient for LeafClass across patients,
XDSTooManyResults past the configured limit; a Get* query for unknown ids is a Success with no objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import overload

from lxml import etree
from sqlalchemy.engine import Connection

from registry.sql.queries import DocumentFilter, Found, QuerySql, StoredObject
from xdscore.ebrim import query_response
from xdscore.errors import Violation, XdsError
from xdscore.model import PatientKey
from xdscore.queries import SPECS, Limits, ReturnType, StoredQuery, decode, sql_like_pattern
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import AssociationType, ErrorCode, ObjectType, StoredQueryId

Q = StoredQueryId
HAS_MEMBER = AssociationType.HAS_MEMBER.value
DE = "$XDSDocumentEntry"
STABLE_ONLY = [ObjectType.STABLE_DOCUMENT.value]


@dataclass
class Selection:
    """The ids a query selected, by kind, in the order they are returned."""

    submission_sets: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    associations: list[str] = field(default_factory=list)
    truncated: bool = False

    def all(self) -> list[str]:
        return list(dict.fromkeys([*self.submission_sets, *self.documents, *self.folders, *self.associations]))

    def take(self, found: Found) -> list[str]:
        self.truncated = self.truncated or found.truncated
        return found.uuids


@RULES.rule("Q-patient", ErrorCode.XDSRegistryError, ref="ITI TF-2a 3.18.4.1.2.3.7", family="ITI-18 registry")
def patient(q: StoredQuery, name: str) -> str:
    raw = q.one(name) or ""
    key = PatientKey.parse(raw)
    if key is None:
        raise XdsError(ErrorCode.XDSRegistryError, f"{name} {raw!r} is not a patient identifier (CX with assigning authority)", name)
    return str(key)


def _range(q: StoredQuery, prefix: str) -> tuple[str | None, str | None]:
    return q.one(f"{prefix}From"), q.one(f"{prefix}To")


@overload
def _like(values: str | None) -> str | None: ...
@overload
def _like(values: list[str] | None) -> list[str] | None: ...
def _like(values: str | list[str] | None) -> str | list[str] | None:
    """ITI-18 LIKE values → the SQL patterns the finders bind (`%` `_` wildcards, backslash literal)."""
    if values is None:
        return None
    if isinstance(values, str):
        return sql_like_pattern(values)
    return [sql_like_pattern(v) for v in values]


def document_filter(q: StoredQuery, statuses: str | None = f"{DE}Status") -> DocumentFilter:
    return DocumentFilter(
        statuses=q.any_of(statuses) if statuses else None,
        object_types=q.any_of(f"{DE}Type") or STABLE_ONLY,
        class_codes=q.any_of(f"{DE}ClassCode"),
        type_codes=q.any_of(f"{DE}TypeCode"),
        practice_setting_codes=q.any_of(f"{DE}PracticeSettingCode"),
        healthcare_facility_type_codes=q.any_of(f"{DE}HealthcareFacilityTypeCode"),
        format_codes=q.any_of(f"{DE}FormatCode"),
        event_codes=q.all_of(f"{DE}EventCodeList"),
        confidentiality_codes=q.all_of(f"{DE}ConfidentialityCode"),
        reference_ids=q.all_of(f"{DE}ReferenceIdList"),
        author_persons=_like(q.any_of(f"{DE}AuthorPerson")),
        creation_time=_range(q, f"{DE}CreationTime"),
        service_start_time=_range(q, f"{DE}ServiceStartTime"),
        service_stop_time=_range(q, f"{DE}ServiceStopTime"),
    )


def content_filter(q: StoredQuery) -> DocumentFilter:
    """The optional DocumentEntry filters of GetAll and Get*AndContents (format, confidentiality, type)."""
    return DocumentFilter(
        object_types=q.any_of(f"{DE}Type") or STABLE_ONLY,
        format_codes=q.any_of(f"{DE}FormatCode"),
        confidentiality_codes=q.all_of(f"{DE}ConfidentialityCode"),
    )


def _document_ids(q: StoredQuery, sql: QuerySql) -> list[str]:
    if q.has(f"{DE}EntryUUID"):
        return sql.by_identifier("DE", "uuid", q.any_of(f"{DE}EntryUUID") or [])
    if q.has(f"{DE}UniqueId"):
        return sql.by_identifier("DE", "unique_id", q.any_of(f"{DE}UniqueId") or [])
    return sql.by_identifier("DE", "lid", q.any_of(f"{DE}LogicalID") or [])


def _folder_ids(q: StoredQuery, sql: QuerySql) -> list[str]:
    if q.has("$XDSFolderEntryUUID"):
        return sql.by_identifier("FD", "uuid", q.any_of("$XDSFolderEntryUUID") or [])
    if q.has("$XDSFolderUniqueId"):
        return sql.by_identifier("FD", "unique_id", q.any_of("$XDSFolderUniqueId") or [])
    return sql.by_identifier("FD", "lid", q.any_of("$XDSFolderLogicalID") or [])


# --- one definition per stored query -----------------------------------------------------------------


def find_documents(q: StoredQuery, sql: QuerySql) -> Selection:
    s = Selection()
    s.documents = s.take(sql.documents(patient(q, f"{DE}PatientId"), document_filter(q)))
    return s


def find_submission_sets(q: StoredQuery, sql: QuerySql) -> Selection:
    s = Selection()
    found = sql.submission_sets(
        patient(q, "$XDSSubmissionSetPatientId"),
        q.any_of("$XDSSubmissionSetStatus") or [],
        source_ids=q.any_of("$XDSSubmissionSetSourceId"),
        submission_time=_range(q, "$XDSSubmissionSetSubmissionTime"),
        author_person=_like(q.one("$XDSSubmissionSetAuthorPerson")),
        content_types=q.any_of("$XDSSubmissionSetContentType"),
    )
    s.submission_sets = s.take(found)
    return s


def find_folders(q: StoredQuery, sql: QuerySql) -> Selection:
    s = Selection()
    found = sql.folders(
        patient(q, "$XDSFolderPatientId"),
        q.any_of("$XDSFolderStatus") or [],
        last_update_time=_range(q, "$XDSFolderLastUpdateTime"),
        codes=q.all_of("$XDSFolderCodeList"),
    )
    s.folders = s.take(found)
    return s


def get_all(q: StoredQuery, sql: QuerySql) -> Selection:
    pid = patient(q, "$patientId")
    s = Selection()
    s.submission_sets = s.take(sql.submission_sets(pid, q.any_of("$XDSSubmissionSetStatus") or []))
    f = replace(content_filter(q), statuses=q.any_of(f"{DE}Status"))
    s.documents = s.take(sql.documents(pid, f))
    s.folders = s.take(sql.folders(pid, q.any_of("$XDSFolderStatus") or []))
    s.associations = _associations_among(sql, [*s.submission_sets, *s.documents, *s.folders])
    return s


def get_documents(q: StoredQuery, sql: QuerySql) -> Selection:
    return Selection(documents=_document_ids(q, sql))


def get_folders(q: StoredQuery, sql: QuerySql) -> Selection:
    return Selection(folders=_folder_ids(q, sql))


def get_associations(q: StoredQuery, sql: QuerySql) -> Selection:
    return Selection(associations=[a[0] for a in sql.associations(either=q.any_of("$uuid") or [])])


def get_documents_and_associations(q: StoredQuery, sql: QuerySql) -> Selection:
    docs = _document_ids(q, sql)
    return Selection(documents=docs, associations=[a[0] for a in sql.associations(either=docs)])


def get_submission_sets(q: StoredQuery, sql: QuerySql) -> Selection:
    links = sql.associations(targets=q.any_of("$uuid") or [], types=[HAS_MEMBER])
    kinds = sql.kinds(a[2] for a in links)
    links = [a for a in links if kinds.get(a[2]) == "SS"]
    return Selection(
        submission_sets=list(dict.fromkeys(a[2] for a in links)), associations=[a[0] for a in links]
    )


def get_submission_set_and_contents(q: StoredQuery, sql: QuerySql) -> Selection:
    if q.has("$XDSSubmissionSetEntryUUID"):
        sets = sql.by_identifier("SS", "uuid", [q.one("$XDSSubmissionSetEntryUUID") or ""])
    else:
        sets = sql.by_identifier("SS", "unique_id", [q.one("$XDSSubmissionSetUniqueId") or ""])
    if not sets:
        return Selection()
    ss = sets[0]
    members = sql.associations(sources=[ss], types=[HAS_MEMBER])
    kinds = sql.kinds(a[3] for a in members)
    s = Selection(submission_sets=[ss])
    candidates = [a[3] for a in members if kinds.get(a[3]) == "DE"]
    s.documents = s.take(sql.documents(None, content_filter(q), uuids=candidates)) if candidates else []
    s.folders = [a[3] for a in members if kinds.get(a[3]) == "FD"]
    included = [ss, *s.documents, *s.folders]
    member_assocs = {a[3] for a in members if kinds.get(a[3]) == "AS"}
    inner = [a for a in sql.associations(sources=included, targets=included) if a[0] in member_assocs]
    inner_ids = {a[0] for a in inner}
    kept = set(included) | inner_ids
    s.associations = list(dict.fromkeys([*(a[0] for a in members if a[3] in kept), *inner_ids]))
    return s


def get_folder_and_contents(q: StoredQuery, sql: QuerySql) -> Selection:
    if q.has("$XDSFolderEntryUUID"):
        folders = sql.by_identifier("FD", "uuid", [q.one("$XDSFolderEntryUUID") or ""])
    else:  # by uniqueId: the latest version, or every version at $MetadataLevel 2
        folders = sql.by_identifier("FD", "unique_id", [q.one("$XDSFolderUniqueId") or ""])
    if not folders:
        return Selection()
    members = sql.associations(sources=folders, types=[HAS_MEMBER])
    s = Selection(folders=folders)
    candidates = [a[3] for a in members]
    s.documents = s.take(sql.documents(None, content_filter(q), uuids=candidates)) if candidates else []
    docs = set(s.documents)
    s.associations = [a[0] for a in members if a[3] in docs]
    return s


def get_folders_for_document(q: StoredQuery, sql: QuerySql) -> Selection:
    docs = _document_ids(q, sql)
    links = sql.associations(targets=docs, types=[HAS_MEMBER]) if docs else []
    kinds = sql.kinds(a[2] for a in links)
    return Selection(folders=list(dict.fromkeys(a[2] for a in links if kinds.get(a[2]) == "FD")))


def get_related_documents(q: StoredQuery, sql: QuerySql) -> Selection:
    docs = _document_ids(q, sql)
    if not docs:
        return Selection()
    links = sql.associations(either=docs, types=q.any_of("$AssociationTypes") or [])
    if not links:
        return Selection()
    others = [end for a in links for end in (a[2], a[3]) if end not in docs]
    f = DocumentFilter(object_types=q.any_of(f"{DE}Type") or STABLE_ONLY)
    related = sql.documents(None, f, uuids=others).uuids if others else []
    if not related:
        # Only links to other DocumentEntries relate documents: a SubmissionSet's or Folder's HasMember
        # does not (TF-2a 3.18.4.1.2.3.7.13), so a document without relationships returns nothing.
        return Selection()
    keep = set(related) | set(docs)
    return Selection(
        documents=list(dict.fromkeys([*docs, *related])),
        associations=[a[0] for a in links if a[2] in keep and a[3] in keep],
    )


def _associations_among(sql: QuerySql, ids: list[str]) -> list[str]:
    if not ids:
        return []
    direct = sql.associations(sources=ids, targets=ids)
    direct_ids = [a[0] for a in direct]
    # SubmissionSet → Association memberships (how a submission records a Folder membership)
    via = sql.associations(sources=ids, targets=direct_ids) if direct_ids else []
    return list(dict.fromkeys([*direct_ids, *(a[0] for a in via)]))


QUERIES: dict[StoredQueryId, Callable[[StoredQuery, QuerySql], Selection]] = {
    Q.FindDocuments: find_documents,
    Q.FindDocumentsByReferenceId: find_documents,
    Q.FindSubmissionSets: find_submission_sets,
    Q.FindFolders: find_folders,
    Q.GetAll: get_all,
    Q.GetDocuments: get_documents,
    Q.GetFolders: get_folders,
    Q.GetAssociations: get_associations,
    Q.GetDocumentsAndAssociations: get_documents_and_associations,
    Q.GetSubmissionSets: get_submission_sets,
    Q.GetSubmissionSetAndContents: get_submission_set_and_contents,
    Q.GetFolderAndContents: get_folder_and_contents,
    Q.GetFoldersForDocument: get_folders_for_document,
    Q.GetRelatedDocuments: get_related_documents,
}


PATIENT_PARAMETERS = ("$XDSDocumentEntryPatientId", "$XDSSubmissionSetPatientId", "$XDSFolderPatientId", "$patientId")


@dataclass
class QueryOutcome:
    response: bytes  # the serialized AdhocQueryResponse
    query: StoredQuery | None
    violations: list[Violation]
    patients: list[str] = field(default_factory=list)  # of the objects returned

    def query_patients(self) -> list[str]:
        """The patient a Find query named (what the audit trail records as the patient queried)."""
        if self.query is None:
            return []
        return [p for p in (self.query.one(name) for name in PATIENT_PARAMETERS) if p]


STATUS_PARAMETERS = ("$XDSDocumentEntryStatus", "$XDSSubmissionSetStatus", "$XDSFolderStatus")
# Applied to the selected objects before the answer is built: may drop objects or raise an XdsError
# (the DMP access rules, registry.access.QueryGuard).
Guard = Callable[[StoredQuery, list[StoredObject], Connection], list[StoredObject]]


def filters_on_status(q: StoredQuery) -> bool:
    """The query has a status parameter (FindDocuments, FindDocumentsByReferenceId, FindSubmissionSets,
    FindFolders, GetAll): only these apply a profile's hidden statuses."""
    spec = SPECS[q.query]
    return any(spec.param(name) is not None for name in STATUS_PARAMETERS)


def visible(
    q: StoredQuery, sql: QuerySql, objects: list[StoredObject], hidden_statuses: frozenset[str], guard: Guard | None
) -> list[StoredObject]:
    """What of `objects` the caller may see: not in a hidden status the query could name and did not, let
    through by the guard, and no association whose end the caller may not see.

    A hidden status (the DMP's Archived, Deleted) is a default filter of the queries that filter on status: a
    Find query or GetAll returns such objects only when its status parameter names that status (dmp-services.md
    §2b rule 11; KIT-CS's FindDocuments asks for Archived by name). A query that cannot name a status (the
    other Get* queries, by id or by membership) returns its objects whatever their status, as IHE's Get
    queries return Deprecated ones (they have no status parameter): archived, obsolete and deleted
    documents stay consultable by professionals (dmp-services.md §2b rule 11, MATRIX TD3.2), and what a
    caller may see of them is the guard's decision (the patient never sees a deleted one).

    Both filters decide on objects, and an association names two: the answer must not keep one whose end a
    filter dropped (GetAll, Get*AndContents), nor one whose end it does not return and the caller may not see
    (GetAssociations, GetDocumentsAndAssociations, GetSubmissionSets). So the ends outside the answer are read
    and go through the same filters in the same pass, to be checked, never returned. An end may itself be an
    association (a SubmissionSet's HasMember to a Folder membership): its ends are read too.
    """
    selected = {o.uuid for o in objects}
    ends = sql.ends(o.uuid for o in objects if o.kind == "AS")
    outside = sql.fetch([u for pair in ends.values() for u in pair if u not in selected])
    ends.update(sql.ends(o.uuid for o in outside if o.kind == "AS"))
    known = selected | {o.uuid for o in outside}
    outside += sql.fetch([u for pair in ends.values() for u in pair if u not in known])
    checked = [*objects, *outside]
    if hidden_statuses and filters_on_status(q):
        asked = {v for name in STATUS_PARAMETERS for v in (q.any_of(name) or [])}
        hidden = hidden_statuses - asked
        checked = [o for o in checked if o.status not in hidden]
    if guard is not None:
        checked = guard(q, checked, sql.conn)
    seen = {o.uuid for o in checked}
    dangling = True
    while dangling:  # until no association is left whose end is not seen (an end may be a dropped association)
        dangling = False
        for association, (source, target) in ends.items():
            if association in seen and (source not in seen or target not in seen):
                seen.discard(association)
                dangling = True
    return [o for o in checked if o.uuid in selected and o.uuid in seen]


@RULES.rule("Q-results", ErrorCode.XDSTooManyResults, ErrorCode.XDSResultNotSinglePatient, ref="ITI TF-2a 3.18.4.1.3", family="ITI-18 registry")
def answer(
    request: etree._Element,
    sql: QuerySql,
    limits: Limits = Limits(),  # noqa: B008
    guard: Guard | None = None,
    hidden_statuses: frozenset[str] = frozenset(),
) -> QueryOutcome:
    """The AdhocQueryResponse; objects in one of `hidden_statuses` (an affinity domain's, such as the DMP's
    Deleted) are returned by a query with a status parameter only when it names that status, those the guard
    drops never, and neither is any association to them (`visible`)."""
    decoded = decode(request, limits)
    if decoded.query is None:
        return QueryOutcome(query_response.failure(decoded.violations), None, decoded.violations)
    q = decoded.query
    sql.metadata_level = int(q.one("$MetadataLevel") or 1)
    try:
        selection = QUERIES[q.query](q, sql)
    except XdsError as exc:
        return QueryOutcome(query_response.failure([exc.violation]), q, [exc.violation])
    ids = selection.all()
    if selection.truncated or len(ids) > sql.limit:
        v = Violation(ErrorCode.XDSTooManyResults, f"the query selects more than {sql.limit} objects; narrow it", q.query.name)
        return QueryOutcome(query_response.failure([v]), q, [v])
    objects = sql.fetch(ids)
    if hidden_statuses or guard is not None:
        try:
            objects = visible(q, sql, objects, hidden_statuses, guard)
        except XdsError as exc:
            return QueryOutcome(query_response.failure([exc.violation]), q, [exc.violation])
    patients = sorted({o.patient for o in objects if o.patient})
    if q.return_type is ReturnType.OBJECT_REF:
        return QueryOutcome(query_response.object_refs([o.uuid for o in objects], q.home), q, [], patients)
    if len(patients) > 1:
        v = Violation(
            ErrorCode.XDSResultNotSinglePatient,
            f"LeafClass results would span {len(patients)} patients; ask for ObjectRef or narrow the query",
            q.query.name,
        )
        return QueryOutcome(query_response.failure([v]), q, [v], patients)
    return QueryOutcome(query_response.leaf_class(objects, q.home), q, [], patients)
