"""Rules on one registry object that are not plain cardinality (ITI TF-3 4.1.12-4.1.14, 4.2.3).

Each function yields Violations and registers its id, code and TF section in the rule catalog
(`xdscore.rules.catalog`); `OBJECT_RULES` is the catalog's "object" family, in the order they are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from xdscore.errors import Violation
from xdscore.model import STANDARD_SLOTS, ObjectKind, RimObject
from xdscore.rules import formats
from xdscore.rules.cardinality import check_coded
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import IHE_URN_SLOTS, UUID, ErrorCode, ObjectType, Slot, Status

MD = ErrorCode.XDSRegistryMetadataError

CODED_SCHEMES: dict[ObjectKind, dict[str, str]] = {
    ObjectKind.DOCUMENT_ENTRY: {
        UUID.DE_CLASS_CODE: "classCode",
        UUID.DE_CONFIDENTIALITY_CODE: "confidentialityCode",
        UUID.DE_EVENT_CODE: "eventCodeList",
        UUID.DE_FORMAT_CODE: "formatCode",
        UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE: "healthcareFacilityTypeCode",
        UUID.DE_PRACTICE_SETTING_CODE: "practiceSettingCode",
        UUID.DE_TYPE_CODE: "typeCode",
    },
    ObjectKind.SUBMISSION_SET: {UUID.SS_CONTENT_TYPE_CODE: "contentTypeCode"},
    ObjectKind.FOLDER: {UUID.FOLDER_CODE_LIST: "codeList"},
    ObjectKind.ASSOCIATION: {UUID.ASSOCIATION_DOCUMENTATION: "association documentation"},
}
AUTHOR_SCHEMES = {ObjectKind.DOCUMENT_ENTRY: UUID.DE_AUTHOR, ObjectKind.SUBMISSION_SET: UUID.SS_AUTHOR}
LIMITED_METADATA = {
    ObjectKind.DOCUMENT_ENTRY: UUID.DE_LIMITED_METADATA,
    ObjectKind.SUBMISSION_SET: UUID.SS_LIMITED_METADATA,
    ObjectKind.FOLDER: UUID.FOLDER_LIMITED_METADATA,
}


@RULES.rule("OBJ-id", MD, ref="ITI TF-3 4.1.12.1", family="object")
def entry_id(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-id: an entryUUID is a valid urn:uuid, or a symbolic id the registry replaces (TF-3 4.1.12.1)."""
    if not obj.id.strip():
        yield Violation(MD, f"{kind.value} without id", "")
    elif obj.id.lower().startswith("urn:uuid:") and not formats.is_uuid_urn(obj.id):
        yield Violation(MD, f"{kind.value} id {obj.id} is not a valid UUID URN (ITI TF-3 4.1.12.1)", obj.id)


@RULES.rule("OBJ-uplink", MD, ref="ITI TF-3 4.2.3.1.2", family="object")
def nested_references(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-uplink: a Classification or ExternalIdentifier inside an object describes that object: its
    classifiedObject / registryObject names it (ebRIM 3.0 §4.3.2, §4.4.2; NIST pnr-bad-uplink)."""
    for c in obj.classifications:
        if c.classified_object != obj.id:
            yield Violation(MD, f"{kind.value} {obj.id}: rim:Classification {c.id} inside it has classifiedObject "
                                f"{c.classified_object}, not {obj.id}", obj.id)
    for e in obj.external_identifiers:
        if e.registry_object != obj.id:
            yield Violation(MD, f"{kind.value} {obj.id}: rim:ExternalIdentifier {e.id} inside it has registryObject "
                                f"{e.registry_object}, not {obj.id}", obj.id)


@RULES.rule("OBJ-slot-unique", MD, ref="ebRIM 3.0 4.3.1", family="object")
def unique_slot_names(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-slot-unique: a slot name appears once per object (ebRIM 3.0 §4.3.1)."""
    seen: set[str] = set()
    for s in obj.slots:
        if s.name in seen:
            yield Violation(MD, f"{kind.value} {obj.id}: slot {s.name} appears more than once", obj.id)
        seen.add(s.name)


@RULES.rule("OBJ-extra", MD, ref="ITI TF-3 4.1.14", family="object")
def extra_metadata_names(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-extra: a slot IHE does not define must be named urn:... and not urn:ihe:... (TF-3 4.1.14)."""
    for s in obj.slots:
        if s.name in STANDARD_SLOTS[kind]:
            continue
        if s.name.startswith("urn:ihe:") and s.name not in IHE_URN_SLOTS:
            yield Violation(MD, f"{kind.value} {obj.id}: slot {s.name} uses the reserved urn:ihe: namespace", obj.id)
        elif not s.name.startswith("urn:"):
            yield Violation(
                MD, f"{kind.value} {obj.id}: slot {s.name} is not defined by IHE and extra metadata slot names "
                "must start with urn: (ITI TF-3 4.1.14)", obj.id
            )


@RULES.rule("OBJ-limited", MD, ref="ITI TF-3 4.1.1", family="object")
def no_limited_metadata(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-limited: the limitedMetadata flag is for XDR/XDM only, never XDS (TF-3 4.1.1)."""
    node = LIMITED_METADATA.get(kind)
    if node and obj.has_node(node):
        yield Violation(MD, f"{kind.value} {obj.id}: limitedMetadata is not allowed in XDS", obj.id)


@RULES.rule("OBJ-objectType", MD, ref="ITI TF-3 4.2.3.2.30", family="object")
def stable_document_type(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-objectType: ITI-42 registers Stable DocumentEntries only; On-Demand ones need ITI-61."""
    if kind is ObjectKind.DOCUMENT_ENTRY and obj.object_type and obj.object_type != ObjectType.STABLE_DOCUMENT.value:
        yield Violation(
            MD, f"DocumentEntry {obj.id}: objectType {obj.object_type} cannot be registered with ITI-42", obj.id
        )


@RULES.rule("OBJ-status", MD, ref="ITI TF-3 4.2.3.2.2", family="object")
def submitted_status(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-status: the registry assigns availabilityStatus; a source may only say Approved (TF-3 4.2.3.2.2)."""
    if obj.status is not None and obj.status != Status.APPROVED.value:
        yield Violation(MD, f"{kind.value} {obj.id}: a submitted object cannot have status {obj.status}", obj.id)


@RULES.rule("OBJ-code", MD, ref="ITI TF-3 4.2.3.1.2", family="object")
def coded_values(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-code: every coded value has a code and one codingScheme (TF-3 4.2.3.1.2)."""
    schemes = CODED_SCHEMES.get(kind, {})
    for c in obj.classifications:
        if c.scheme in schemes:
            yield from check_coded(c, kind, schemes[c.scheme], MD)


@RULES.rule("OBJ-author", MD, ref="ITI TF-3 4.2.3.1.4", family="object")
def authors(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-author: an author has a person, an institution or a telecom; one authorPerson (TF-3 4.2.3.1.4)."""
    scheme = AUTHOR_SCHEMES.get(kind)
    if scheme is None:
        return
    for c in obj.classified(scheme):
        if not (c.slot(Slot.AUTHOR_PERSON) or c.slot(Slot.AUTHOR_INSTITUTION) or c.slot(Slot.AUTHOR_TELECOMMUNICATION)):
            yield Violation(
                MD, f"{kind.value} {obj.id}: author needs authorPerson, authorInstitution or authorTelecommunication", obj.id
            )
        if len(c.slot(Slot.AUTHOR_PERSON)) > 1:
            yield Violation(MD, f"{kind.value} {obj.id}: author has more than one authorPerson", obj.id)


@RULES.rule("OBJ-serviceTime", MD, ref="ITI TF-3 4.2.3.2.19", family="object")
def service_time_order(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
    """OBJ-serviceTime: serviceStartTime is not after serviceStopTime (TF-3 4.2.3.2.19-20)."""
    if kind is not ObjectKind.DOCUMENT_ENTRY:
        return
    start, stop = obj.slot_first(Slot.SERVICE_START_TIME), obj.slot_first(Slot.SERVICE_STOP_TIME)
    if start and stop and formats.is_dtm(start) and formats.is_dtm(stop):
        n = min(len(start), len(stop))
        if start[:n] > stop[:n]:
            yield Violation(MD, f"DocumentEntry {obj.id}: serviceStartTime {start} is after serviceStopTime {stop}", obj.id)


ObjectRule = Callable[[RimObject, ObjectKind], Iterator[Violation]]
OBJECT_RULES: tuple[ObjectRule, ...] = RULES.family("object")  # in the order they are written above
