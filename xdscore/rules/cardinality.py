"""Cardinality, format and value-set rules as data (ITI TF-3 Table 4.3.1-3 and 4.2.3.x optionality).

A `Row` says: on this kind of object, this slot / classification scheme / external identifier / attribute
appears between `min` and `max` times, each value passes `check`, otherwise `code`. A profile is a list of
rows; an affinity domain adds `ValueSet` rows (allowed codes per classification scheme) without touching
the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from xdscore.errors import Violation
from xdscore.model import ObjectKind, RimClassification, RimObject
from xdscore.vocabulary import ErrorCode, Slot


class Target(str, Enum):
    SLOT = "slot"  # counts the values of the slot
    CLASSIFICATION = "classification"  # counts classifications of a scheme
    EXTERNAL_ID = "external identifier"  # counts external identifiers of a scheme
    ATTRIBUTE = "attribute"  # an XML attribute of the object (mimeType, objectType)
    NAME = "Name"  # the LocalizedString values of rim:Name
    DESCRIPTION = "Description"


@dataclass(frozen=True)
class Row:
    rule_id: str
    kind: ObjectKind
    target: Target
    key: str  # slot name, scheme UUID or attribute name
    label: str  # the IHE attribute name, for messages
    min: int
    max: int | None
    code: ErrorCode
    ref: str
    check: Callable[[str], bool] | None = None
    check_label: str = ""


@dataclass(frozen=True)
class ValueSet:
    """Allowed (code, codingScheme) pairs for one classification scheme, from an affinity domain."""

    rule_id: str
    kind: ObjectKind
    scheme: str
    label: str
    allowed: frozenset[tuple[str, str]]
    code: ErrorCode
    ref: str


def _values(obj: RimObject, row: Row) -> list[str]:
    if row.target is Target.SLOT:
        return list(obj.slot(row.key))
    if row.target is Target.CLASSIFICATION:
        return [c.node_representation or "" for c in obj.classified(row.key)]
    if row.target is Target.EXTERNAL_ID:
        return [e.value for e in obj.external_identifiers if e.scheme == row.key]
    if row.target is Target.ATTRIBUTE:
        value = {"mimeType": obj.mime_type, "objectType": obj.object_type, "status": obj.status}.get(row.key)
        return [] if value is None else [value]
    if row.target is Target.NAME:
        return [n.value for n in obj.name]
    return [d.value for d in obj.description]


def check_rows(obj: RimObject, kind: ObjectKind, rows: Iterable[Row]) -> Iterator[Violation]:
    for row in rows:
        if row.kind is not kind:
            continue
        values = _values(obj, row)
        n = len(values)
        where = f"{kind.value} {obj.id}"
        if n < row.min:
            yield Violation(row.code, f"{where}: {row.label} is required ({row.ref})", obj.id)
            continue
        if row.max is not None and n > row.max:
            yield Violation(row.code, f"{where}: {row.label} appears {n} times, at most {row.max} allowed ({row.ref})", obj.id)
        if row.check is not None:
            for v in values:
                if not row.check(v):
                    yield Violation(
                        row.code, f"{where}: {row.label} value '{v}' is not {row.check_label} ({row.ref})", obj.id
                    )


def check_coded(c: RimClassification, kind: ObjectKind, label: str, code: ErrorCode) -> Iterator[Violation]:
    """A coded value needs a code (nodeRepresentation) and exactly one codingScheme (TF-3 4.2.3.1.2)."""
    where = f"{kind.value} {c.classified_object}"
    if not (c.node_representation or "").strip():
        yield Violation(code, f"{where}: {label} has no code (nodeRepresentation)", c.classified_object)
    scheme = c.slot(Slot.CODING_SCHEME)
    if len(scheme) != 1 or not scheme[0].strip():
        yield Violation(code, f"{where}: {label} must have exactly one codingScheme value", c.classified_object)


def check_value_sets(obj: RimObject, kind: ObjectKind, value_sets: Iterable[ValueSet]) -> Iterator[Violation]:
    for vs in value_sets:
        if vs.kind is not kind:
            continue
        for c in obj.classified(vs.scheme):
            scheme = c.slot(Slot.CODING_SCHEME)
            pair = (c.node_representation or "", scheme[0] if scheme else "")
            if pair not in vs.allowed:
                yield Violation(
                    vs.code,
                    f"{kind.value} {obj.id}: {vs.label} '{pair[0]}' (codingScheme {pair[1]}) is not in the "
                    f"affinity domain's value set {vs.ref}",
                    obj.id,
                )
