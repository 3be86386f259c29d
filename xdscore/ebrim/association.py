"""Association <-> rim:Association (ITI TF-3 4.2.2: HasMember, document relationships)."""

from __future__ import annotations

from xdscore.ebrim.coded import read_code, write_code
from xdscore.model import Association, Code, RimClassification, RimObject, RimSlot
from xdscore.vocabulary import UUID, Slot


def read(rim: RimObject) -> Association:
    docs = rim.classified(UUID.ASSOCIATION_DOCUMENTATION)
    return Association(
        entry_uuid=rim.id,
        rim=rim,
        association_type=rim.association_type or "",
        source_uuid=rim.source_object or "",
        target_uuid=rim.target_object or "",
        availability_status=rim.status,
        submission_set_status=rim.slot_first(Slot.SUBMISSION_SET_STATUS),
        documentation=read_code(docs[0]) if docs else None,
    )


def write(
    entry_uuid: str,
    association_type: str,
    source: str,
    target: str,
    submission_set_status: str | None = None,
    documentation: Code | None = None,
    extra_slots: tuple[RimSlot, ...] = (),
) -> RimObject:
    slots: list[RimSlot] = []
    if submission_set_status is not None:
        slots.append(RimSlot(Slot.SUBMISSION_SET_STATUS, (submission_set_status,)))
    slots.extend(extra_slots)
    classifications: tuple[RimClassification, ...] = ()
    if documentation is not None:
        classifications = (write_code(documentation, UUID.ASSOCIATION_DOCUMENTATION, entry_uuid, f"{entry_uuid}_doc"),)
    return RimObject(
        tag="Association",
        id=entry_uuid,
        association_type=association_type,
        source_object=source,
        target_object=target,
        slots=tuple(slots),
        classifications=classifications,
    )
