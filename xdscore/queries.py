"""ITI-18 Registry Stored Query: the parameter table of every stored query and the request decoder
(ITI TF-2a 3.18.4.1.2.3: parameter encoding 3.18.4.1.2.3.5-6, per-query parameters 3.18.4.1.2.3.7).

Encoding: strings are single-quoted ('' escapes a quote); lists are `('a','b')`; several <Value>
elements of one Slot add to the same list (OR); a repeated Slot is an AND (only where the table says so:
eventCodeList, confidentialityCode, Folder codeList, referenceIdList); coded values are `code^^scheme`;
times are DTM numbers (quoted ones accepted, CP-ITI-1260). `decode(request, limits)` returns a
`StoredQuery` with typed values, or the violations with the exact ITI-18 codes: whatever the request holds,
a malformed value is an XDSRegistryError naming its parameter, never an exception.

`Limits` bound what one request may ask (values of a parameter, AND-ed Slots of a parameter, Slots in all,
length of a LIKE pattern), so that no request the decoder accepts can exceed what the SQL store evaluates
(SQLite's expression depth of 1000, its LIKE pattern length of 50,000 bytes). LIKE values use SQL LIKE
semantics with `%` and `_` as the only wildcards (TF-2a 3.18.4.1.2.3.5): every other character, a backslash
too, stands for itself (`sql_like_pattern`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from lxml import etree

from xdscore.errors import Violation
from xdscore.rules import formats
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import NS, AssociationType, ErrorCode, ObjectType, Status, StoredQueryId

Q = StoredQueryId


class Kind(str, Enum):
    STRING = "string"  # a quoted string (patient id, uuid, uniqueId...)
    LIKE = "like"  # a quoted string with SQL LIKE wildcards % and _
    CODE = "code"  # 'code^^scheme'
    STATUS = "status"  # an availabilityStatus URN
    TIME = "time"  # a DTM number
    OBJECT_TYPE = "objectType"  # a DocumentEntry objectType UUID
    ASSOCIATION_TYPE = "associationType"
    INTEGER = "integer"


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    multiple: bool = False  # a list of values (OR)
    and_or: bool = False  # the slot may be repeated (AND of ORs)


@dataclass(frozen=True)
class QuerySpec:
    query: StoredQueryId
    params: tuple[Param, ...]
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()  # exactly one of these is required

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


S, L, C, ST, T, OT, AT, INT = Kind.STRING, Kind.LIKE, Kind.CODE, Kind.STATUS, Kind.TIME, Kind.OBJECT_TYPE, Kind.ASSOCIATION_TYPE, Kind.INTEGER


def _p(name: str, kind: Kind, multiple: bool = False, and_or: bool = False) -> Param:
    return Param(name, kind, multiple, and_or)


def _de_filters() -> tuple[Param, ...]:
    de = "$XDSDocumentEntry"
    return (
        _p(f"{de}ClassCode", C, True),
        _p(f"{de}TypeCode", C, True),
        _p(f"{de}PracticeSettingCode", C, True),
        _p(f"{de}CreationTimeFrom", T),
        _p(f"{de}CreationTimeTo", T),
        _p(f"{de}ServiceStartTimeFrom", T),
        _p(f"{de}ServiceStartTimeTo", T),
        _p(f"{de}ServiceStopTimeFrom", T),
        _p(f"{de}ServiceStopTimeTo", T),
        _p(f"{de}HealthcareFacilityTypeCode", C, True),
        _p(f"{de}EventCodeList", C, True, True),
        _p(f"{de}ConfidentialityCode", C, True, True),
        _p(f"{de}AuthorPerson", L, True),
        _p(f"{de}FormatCode", C, True),
        _p(f"{de}Type", OT, True),
    )


_CONTENT_FILTERS = (
    _p("$XDSDocumentEntryFormatCode", C, True),
    _p("$XDSDocumentEntryConfidentialityCode", C, True, True),
    _p("$XDSDocumentEntryType", OT, True),
)
_META = (_p("$MetadataLevel", INT), _p("$homeCommunityId", S))

SPECS: dict[StoredQueryId, QuerySpec] = {
    s.query: s
    for s in (
        QuerySpec(
            Q.FindDocuments,
            (_p("$XDSDocumentEntryPatientId", S), _p("$XDSDocumentEntryStatus", ST, True), *_de_filters(), *_META),
            required=("$XDSDocumentEntryPatientId", "$XDSDocumentEntryStatus"),
        ),
        QuerySpec(
            Q.FindDocumentsByReferenceId,
            (
                _p("$XDSDocumentEntryPatientId", S),
                _p("$XDSDocumentEntryStatus", ST, True),
                _p("$XDSDocumentEntryReferenceIdList", S, True, True),
                *_de_filters(),
                *_META,
            ),
            required=("$XDSDocumentEntryPatientId", "$XDSDocumentEntryStatus", "$XDSDocumentEntryReferenceIdList"),
        ),
        QuerySpec(
            Q.FindSubmissionSets,
            (
                _p("$XDSSubmissionSetPatientId", S),
                _p("$XDSSubmissionSetStatus", ST, True),
                _p("$XDSSubmissionSetSourceId", S, True),
                _p("$XDSSubmissionSetSubmissionTimeFrom", T),
                _p("$XDSSubmissionSetSubmissionTimeTo", T),
                _p("$XDSSubmissionSetAuthorPerson", L),
                _p("$XDSSubmissionSetContentType", C, True),
                *_META,
            ),
            required=("$XDSSubmissionSetPatientId", "$XDSSubmissionSetStatus"),
        ),
        QuerySpec(
            Q.FindFolders,
            (
                _p("$XDSFolderPatientId", S),
                _p("$XDSFolderStatus", ST, True),
                _p("$XDSFolderLastUpdateTimeFrom", T),
                _p("$XDSFolderLastUpdateTimeTo", T),
                _p("$XDSFolderCodeList", C, True, True),
                *_META,
            ),
            required=("$XDSFolderPatientId", "$XDSFolderStatus"),
        ),
        QuerySpec(
            Q.GetAll,
            (
                _p("$patientId", S),
                _p("$XDSDocumentEntryStatus", ST, True),
                _p("$XDSSubmissionSetStatus", ST, True),
                _p("$XDSFolderStatus", ST, True),
                *_CONTENT_FILTERS,
                *_META,
            ),
            required=("$patientId", "$XDSDocumentEntryStatus", "$XDSSubmissionSetStatus", "$XDSFolderStatus"),
        ),
        QuerySpec(
            Q.GetDocuments,
            (
                _p("$XDSDocumentEntryEntryUUID", S, True),
                _p("$XDSDocumentEntryUniqueId", S, True),
                _p("$XDSDocumentEntryLogicalID", S, True),
                *_META,
            ),
            one_of=("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId", "$XDSDocumentEntryLogicalID"),
        ),
        QuerySpec(
            Q.GetFolders,
            (_p("$XDSFolderEntryUUID", S, True), _p("$XDSFolderUniqueId", S, True), _p("$XDSFolderLogicalID", S, True), *_META),
            one_of=("$XDSFolderEntryUUID", "$XDSFolderUniqueId", "$XDSFolderLogicalID"),
        ),
        QuerySpec(Q.GetAssociations, (_p("$uuid", S, True), *_META), required=("$uuid",)),
        QuerySpec(
            Q.GetDocumentsAndAssociations,
            (_p("$XDSDocumentEntryEntryUUID", S, True), _p("$XDSDocumentEntryUniqueId", S, True), *_META),
            one_of=("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),
        ),
        QuerySpec(Q.GetSubmissionSets, (_p("$uuid", S, True), *_META), required=("$uuid",)),
        QuerySpec(
            Q.GetSubmissionSetAndContents,
            (_p("$XDSSubmissionSetEntryUUID", S), _p("$XDSSubmissionSetUniqueId", S), *_CONTENT_FILTERS, *_META),
            one_of=("$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId"),
        ),
        QuerySpec(
            Q.GetFolderAndContents,
            (_p("$XDSFolderEntryUUID", S), _p("$XDSFolderUniqueId", S), *_CONTENT_FILTERS, *_META),
            one_of=("$XDSFolderEntryUUID", "$XDSFolderUniqueId"),
        ),
        QuerySpec(
            Q.GetFoldersForDocument,
            (_p("$XDSDocumentEntryEntryUUID", S), _p("$XDSDocumentEntryUniqueId", S), *_META),
            one_of=("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),
        ),
        QuerySpec(
            Q.GetRelatedDocuments,
            (
                _p("$XDSDocumentEntryEntryUUID", S),
                _p("$XDSDocumentEntryUniqueId", S),
                _p("$AssociationTypes", AT, True),
                _p("$XDSDocumentEntryType", OT, True),
                *_META,
            ),
            required=("$AssociationTypes",),
            one_of=("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),
        ),
    )
}

@dataclass(frozen=True)
class Limits:
    """What one stored query may ask; each is a registry setting (`query_max_*`, registry.config)."""

    values: int = 256  # values of one parameter, over all its Slots
    slots: int = 32  # Slots of one parameter (AND-ed, for the repeatable ones)
    parameters: int = 64  # Slots in the whole query, unknown parameters included
    like_length: int = 256  # characters of one LIKE pattern (AuthorPerson)


class ReturnType(str, Enum):
    OBJECT_REF = "ObjectRef"
    LEAF_CLASS = "LeafClass"


@dataclass(frozen=True)
class StoredQuery:
    """A decoded request: which query, its parameter values, how to answer.

    `values[name]` is a list of OR-lists: one entry per Slot (AND); single-valued parameters have one
    list of one value.
    """

    query: StoredQueryId
    values: dict[str, list[list[str]]]
    return_type: ReturnType = ReturnType.LEAF_CLASS
    home: str | None = None
    metadata_level: int = 1

    def has(self, name: str) -> bool:
        return name in self.values

    def one(self, name: str) -> str | None:
        v = self.values.get(name)
        return v[0][0] if v else None

    def any_of(self, name: str) -> list[str] | None:
        """OR-list of a non-repeatable multi-valued parameter, or None when absent."""
        v = self.values.get(name)
        return v[0] if v else None

    def all_of(self, name: str) -> list[list[str]]:
        """AND of OR-lists, for repeatable parameters."""
        return self.values.get(name, [])


class ParseError(ValueError):
    pass


class TooManyValues(ParseError):
    """A parameter with more values than `Limits.values` (raised early: the rest is not even read)."""


class Number(str):
    """An unquoted numeral of a Value, kept as its text (a DTM may exceed what `int()` reads)."""


_NUMBER = re.compile(r"-?[0-9]+")
_INTEGER = re.compile(r"-?[0-9]{1,9}\Z")


def tokenize(text: str) -> list[str] | str:
    """One Value: a list `(...)` of items, or a single quoted string or number (a `Number`)."""
    text = text.strip()
    if text.startswith("("):
        if not text.endswith(")"):
            raise ParseError(f"unterminated list {_cut(text)!r}")
        inner = text[1:-1].strip()
        if not inner:
            return []
        items: list[str] = []
        pos = 0
        while True:
            item, pos = _item(inner, pos)
            items.append(item)
            while pos < len(inner) and inner[pos].isspace():
                pos += 1
            if pos >= len(inner):
                return items
            if inner[pos] != ",":
                raise ParseError(f"expected ',' in {_cut(text)!r}")
            pos += 1
    item, pos = _item(text, 0)
    if text[pos:].strip():
        raise ParseError(f"unexpected text after value in {_cut(text)!r}")
    return item


def _item(text: str, pos: int) -> tuple[str, int]:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos < len(text) and text[pos] == "'":
        out: list[str] = []
        pos += 1
        while pos < len(text):
            ch = text[pos]
            if ch == "'":
                if text[pos + 1 : pos + 2] == "'":
                    out.append("'")
                    pos += 2
                    continue
                return "".join(out), pos + 1
            out.append(ch)
            pos += 1
        raise ParseError(f"unterminated string in {_cut(text)!r}")
    number = _NUMBER.match(text, pos)
    if number is None:
        raise ParseError(f"expected a quoted string or a number in {_cut(text)!r}")
    return Number(number.group()), number.end()


def _cut(text: str, size: int = 64) -> str:
    """A received value quoted in a message, cut to `size` characters."""
    return text if len(text) <= size else text[:size] + "…"


_STATUSES = frozenset(s.value for s in Status)
_EBRIM_STATUS = "urn:oasis:names:tc:ebxml-regrep:StatusType:"
_ASSOCIATION_TYPES = frozenset(a.value for a in AssociationType)


def _check_value(kind: Kind, value: str, limits: Limits) -> str | None:
    """None when valid, else why not."""
    if kind is Kind.CODE:
        code, sep, scheme = value.partition("^^")
        if not sep or not code or not scheme or "^^" in scheme:
            return f"coded value {_cut(value)!r} is not of the form code^^codingScheme"
    elif kind is Kind.STATUS:
        # ebRIM's statuses, or an affinity domain's in its own namespace (the DMP's
        # urn:asip:ci-sis:2010:StatusType:Archived); a misspelt ebRIM one is an error
        affinity = value.startswith("urn:") and ":StatusType:" in value and not value.startswith(_EBRIM_STATUS)
        if value not in _STATUSES and not affinity:
            return f"{_cut(value)!r} is not an availabilityStatus URN"
    elif kind is Kind.TIME:
        if not formats.is_dtm(value):
            return f"{_cut(value)!r} is not a DTM time (YYYY[MM[DD[hh[mm[ss]]]]])"
    elif kind is Kind.OBJECT_TYPE:
        if value not in (ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value):
            return f"{_cut(value)!r} is not a DocumentEntry objectType"
    elif kind is Kind.ASSOCIATION_TYPE:
        if value not in _ASSOCIATION_TYPES:
            return f"{_cut(value)!r} is not an associationType URN (ITI TF-3 4.2.2)"
    elif kind is Kind.INTEGER:
        if not _INTEGER.match(value):
            return f"{_cut(value)!r} is not an integer"
    elif not value:
        return "empty value"
    elif kind is Kind.LIKE and len(value) > limits.like_length:
        return (f"a LIKE pattern of {len(value)} characters; this registry accepts at most {limits.like_length} "
                "(query_max_like_length)")
    return None


def sql_like_pattern(value: str) -> str:
    """The SQL LIKE pattern, for `ESCAPE '\\'`, of an ITI-18 LIKE value: `%` and `_` stay wildcards, a
    backslash is a character like any other (so it is doubled)."""
    return value.replace("\\", "\\\\")


_RIM = f"{{{NS.RIM}}}"
_QUERY = f"{{{NS.QUERY}}}"


@dataclass
class Decoded:
    query: StoredQuery | None
    violations: list[Violation] = field(default_factory=list)


@RULES.rule("Q-decode", ErrorCode.XDSUnknownStoredQuery, ErrorCode.XDSStoredQueryMissingParam, ErrorCode.XDSStoredQueryParamNumber, ErrorCode.XDSRegistryError, ref="ITI TF-2a 3.18.4.1.2.3", family="ITI-18 request")
def decode(request: etree._Element, limits: Limits = Limits()) -> Decoded:
    """query:AdhocQueryRequest → StoredQuery, or the ITI-18 violations (TF-2a 3.18.4.1.3)."""
    err = ErrorCode.XDSRegistryError
    option = request.find(f"{_QUERY}ResponseOption")
    rtype = option.get("returnType", "RegistryObject") if option is not None else "RegistryObject"
    adhoc = request.find(f"{_RIM}AdhocQuery")
    if adhoc is None:
        return Decoded(None, [Violation(err, "AdhocQueryRequest has no rim:AdhocQuery")])
    qid = adhoc.get("id", "")
    spec = next((s for s in SPECS.values() if s.query.value == qid), None)
    if spec is None:
        return Decoded(None, [Violation(ErrorCode.XDSUnknownStoredQuery, f"unknown stored query id {_cut(qid)}", _cut(qid))])
    violations: list[Violation] = []
    try:
        return_type = ReturnType(rtype)
    except ValueError:
        violations.append(Violation(err, f"returnType {_cut(rtype)!r}: XDS answers ObjectRef or LeafClass"))
        return_type = ReturnType.LEAF_CLASS
    slots = list(adhoc.iterfind(f"{_RIM}Slot"))
    if len(slots) > limits.parameters:
        return Decoded(None, [Violation(
            err, f"{len(slots)} parameters (Slots); this registry accepts at most {limits.parameters} in one "
            "query (query_max_parameters)")])
    values: dict[str, list[list[str]]] = {}
    counts: dict[str, int] = {}
    seen: set[str] = set()  # given, even if wrongly: a malformed parameter is not a missing one
    for slot in slots:
        name = slot.get("name", "")
        seen.add(name)
        param = spec.param(name)
        if param is None:
            continue  # unknown parameters are ignored
        if name in values and not param.and_or:
            violations.append(Violation(
                ErrorCode.XDSStoredQueryParamNumber, f"{name} appears in more than one Slot", name))
            continue
        if counts.get(name, 0) > limits.values:
            continue  # already reported
        if len(values.get(name, [])) >= limits.slots:
            if len(values[name]) == limits.slots:
                violations.append(Violation(err, f"{name} is given in more than {limits.slots} Slots; this registry "
                                            f"accepts at most {limits.slots} (query_max_slots)", name))
                values[name].append([])  # reported once
            continue
        try:
            slot_values = _slot_values(slot, param, limits.values - counts.get(name, 0))
        except TooManyValues:
            violations.append(Violation(err, f"{name} has more than {limits.values} values; this registry accepts at "
                                        f"most {limits.values} per parameter (query_max_values)", name))
            counts[name] = limits.values + 1
            continue
        except ParseError as exc:
            violations.append(Violation(err, f"{name}: {exc}", name))
            continue
        counts[name] = counts.get(name, 0) + len(slot_values)
        if not param.multiple and len(slot_values) > 1:
            violations.append(Violation(
                ErrorCode.XDSStoredQueryParamNumber, f"{name} takes one value, {len(slot_values)} given", name))
            continue
        for v in slot_values:
            problem = _check_value(param.kind, v, limits)
            if problem:
                violations.append(Violation(err, f"{name}: {problem}", name))
                break  # one message per Slot is enough
        values.setdefault(name, []).append(slot_values)
    for name in spec.required:
        if name not in seen:
            violations.append(Violation(ErrorCode.XDSStoredQueryMissingParam, f"{spec.query.name} requires {name}", name))
    if spec.one_of:
        given = [n for n in spec.one_of if n in seen]
        if not given:
            violations.append(Violation(
                ErrorCode.XDSStoredQueryMissingParam, f"{spec.query.name} requires one of {', '.join(spec.one_of)}"))
        elif len(given) > 1:
            violations.append(Violation(
                ErrorCode.XDSStoredQueryParamNumber, f"{spec.query.name} takes only one of {', '.join(given)}"))
    level = 1
    if "$MetadataLevel" in values and values["$MetadataLevel"][0]:
        raw = values["$MetadataLevel"][0][0]
        level = int(raw) if _INTEGER.match(raw) else 0
        if level not in (1, 2):
            violations.append(Violation(err, f"$MetadataLevel {_cut(raw)} is not supported (1 or 2)", "$MetadataLevel"))
    if violations:
        return Decoded(None, violations)
    home = adhoc.get("home") or (values["$homeCommunityId"][0][0] if "$homeCommunityId" in values else None)
    return Decoded(StoredQuery(spec.query, values, return_type, home, level))


def _slot_values(slot: etree._Element, param: Param, room: int) -> list[str]:
    """The values of one Slot; more than `room` (what the values limit leaves) is a ParseError."""
    out: list[str] = []
    for v in slot.iterfind(f"{_RIM}ValueList/{_RIM}Value"):
        token = tokenize(v.text or "")
        items = token if isinstance(token, list) else [token]
        for item in items:
            if isinstance(item, Number) and param.kind not in (Kind.TIME, Kind.INTEGER):
                raise ParseError(f"value {_cut(item)} must be a quoted string")
        out.extend(items)
        if len(out) > room:
            raise TooManyValues()
    if not out:
        raise ParseError("no value")
    return out


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def encode_request(
    query: StoredQueryId,
    params: dict[str, str | list[str] | list[list[str]]],
    return_type: ReturnType = ReturnType.LEAF_CLASS,
    home: str | None = None,
) -> etree._Element:
    """Build a query:AdhocQueryRequest. A str is a single quoted value (or a bare number for times);
    a list is one list-valued Slot; a list of lists is a repeated Slot (AND)."""
    req = etree.Element(f"{_QUERY}AdhocQueryRequest", nsmap={"query": NS.QUERY, "rim": NS.RIM})
    etree.SubElement(req, f"{_QUERY}ResponseOption", returnComposedObjects="true", returnType=return_type.value)
    adhoc = etree.SubElement(req, f"{_RIM}AdhocQuery", id=query.value)
    if home:
        adhoc.set("home", home)
    spec = SPECS[query]
    for name, value in params.items():
        param = spec.param(name)
        slots: list[list[str]] | list[str]
        if isinstance(value, str):
            text = value if param is not None and param.kind in (Kind.TIME, Kind.INTEGER) else quote(value)
            slots = [text]
        elif value and isinstance(value[0], list):
            slots = ["(" + ",".join(quote(v) for v in group) + ")" for group in value]
        else:
            slots = ["(" + ",".join(quote(v) for v in value) + ")"]  # type: ignore[arg-type]
        for text in slots:
            slot = etree.SubElement(adhoc, f"{_RIM}Slot", name=name)
            etree.SubElement(etree.SubElement(slot, f"{_RIM}ValueList"), f"{_RIM}Value").text = text
    return req
