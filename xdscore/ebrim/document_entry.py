"""XDSDocumentEntry <-> rim:ExtrinsicObject (ITI TF-3 4.2.3.2)."""

from __future__ import annotations

from xdscore.ebrim.coded import (
    external_identifiers,
    first_text,
    localized,
    read_author,
    read_code,
    write_author,
    write_code,
)
from xdscore.model import DocumentEntry, RimClassification, RimObject, RimSlot
from xdscore.vocabulary import UUID, ObjectType, Slot

# (typed field, classification scheme) for single-valued codes
SINGLE_CODES = (
    ("class_code", UUID.DE_CLASS_CODE),
    ("type_code", UUID.DE_TYPE_CODE),
    ("format_code", UUID.DE_FORMAT_CODE),
    ("healthcare_facility_type_code", UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE),
    ("practice_setting_code", UUID.DE_PRACTICE_SETTING_CODE),
)
# (typed field, slot name) for single-valued slots
SINGLE_SLOTS = (
    ("creation_time", Slot.CREATION_TIME),
    ("service_start_time", Slot.SERVICE_START_TIME),
    ("service_stop_time", Slot.SERVICE_STOP_TIME),
    ("hash", Slot.HASH),
    ("size", Slot.SIZE),
    ("repository_unique_id", Slot.REPOSITORY_UNIQUE_ID),
    ("language_code", Slot.LANGUAGE_CODE),
    ("legal_authenticator", Slot.LEGAL_AUTHENTICATOR),
    ("source_patient_id", Slot.SOURCE_PATIENT_ID),
    ("uri", Slot.URI),
)


def read(rim: RimObject) -> DocumentEntry:
    # One pass over the classifications and slots, indexed (was a scan of them per attribute, ~20 scans);
    # the first slot of a name counts, as RimObject.slot gives, and classifications keep their order.
    by_scheme: dict[str | None, list[RimClassification]] = {}
    for c in rim.classifications:
        by_scheme.setdefault(c.scheme, []).append(c)
    slots: dict[str, tuple[str, ...]] = {}
    for s in rim.slots:
        slots.setdefault(s.name, s.values)
    values: dict[str, object] = {}
    for field, scheme in SINGLE_CODES:
        found = by_scheme.get(scheme)
        values[field] = read_code(found[0]) if found else None
    for field, slot in SINGLE_SLOTS:
        first = slots.get(slot)
        values[field] = first[0] if first else None
    return DocumentEntry(
        entry_uuid=rim.id,
        rim=rim,
        unique_id=rim.external_id(UUID.DE_UNIQUE_ID),
        patient_id=rim.external_id(UUID.DE_PATIENT_ID),
        mime_type=rim.mime_type,
        object_type=rim.object_type,
        availability_status=rim.status,
        logical_id=rim.lid,
        version=rim.version_name,
        title=first_text(rim.name),
        comments=first_text(rim.description),
        confidentiality_codes=tuple([read_code(c) for c in by_scheme.get(UUID.DE_CONFIDENTIALITY_CODE, ())]),
        event_codes=tuple([read_code(c) for c in by_scheme.get(UUID.DE_EVENT_CODE, ())]),
        authors=tuple([read_author(c) for c in by_scheme.get(UUID.DE_AUTHOR, ())]),
        source_patient_info=slots.get(Slot.SOURCE_PATIENT_INFO, ()),
        reference_ids=slots.get(Slot.REFERENCE_ID_LIST, ()),
        home_community_id=rim.home,
        **values,  # type: ignore[arg-type]
    )


def write(de: DocumentEntry, extra_slots: tuple[RimSlot, ...] = ()) -> RimObject:
    """Typed DocumentEntry → RimObject (used by builders and tests; the registry stores what it read)."""
    oid = de.entry_uuid
    slots: list[RimSlot] = []
    for field, name in SINGLE_SLOTS:
        value = getattr(de, field)
        if value is not None:
            slots.append(RimSlot(name, (value,)))
    if de.source_patient_info:
        slots.append(RimSlot(Slot.SOURCE_PATIENT_INFO, de.source_patient_info))
    if de.reference_ids:
        slots.append(RimSlot(Slot.REFERENCE_ID_LIST, de.reference_ids))
    slots.extend(extra_slots)
    classifications = [write_author(a, UUID.DE_AUTHOR, oid, f"{oid}_author{i}") for i, a in enumerate(de.authors)]
    for field, scheme in SINGLE_CODES:
        code = getattr(de, field)
        if code is not None:
            classifications.append(write_code(code, scheme, oid, f"{oid}_{field}"))
    for i, code in enumerate(de.confidentiality_codes):
        classifications.append(write_code(code, UUID.DE_CONFIDENTIALITY_CODE, oid, f"{oid}_conf{i}"))
    for i, code in enumerate(de.event_codes):
        classifications.append(write_code(code, UUID.DE_EVENT_CODE, oid, f"{oid}_event{i}"))
    return RimObject(
        tag="ExtrinsicObject",
        id=oid,
        object_type=de.object_type or ObjectType.STABLE_DOCUMENT.value,
        mime_type=de.mime_type,
        status=de.availability_status,
        lid=de.logical_id,
        home=de.home_community_id,
        version_name=de.version,
        name=localized(de.title),
        description=localized(de.comments),
        slots=tuple(slots),
        classifications=tuple(classifications),
        external_identifiers=external_identifiers(oid, ((UUID.DE_PATIENT_ID, de.patient_id), (UUID.DE_UNIQUE_ID, de.unique_id))),
    )
