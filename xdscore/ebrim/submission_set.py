"""XDSSubmissionSet <-> rim:RegistryPackage classified by the SubmissionSet node (ITI TF-3 4.2.3.3)."""

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
from xdscore.model import RimClassification, RimObject, RimSlot, SubmissionSet
from xdscore.vocabulary import UUID, Slot


def read(rim: RimObject) -> SubmissionSet:
    content = rim.classified(UUID.SS_CONTENT_TYPE_CODE)
    return SubmissionSet(
        entry_uuid=rim.id,
        rim=rim,
        unique_id=rim.external_id(UUID.SS_UNIQUE_ID),
        patient_id=rim.external_id(UUID.SS_PATIENT_ID),
        source_id=rim.external_id(UUID.SS_SOURCE_ID),
        submission_time=rim.slot_first(Slot.SUBMISSION_TIME),
        content_type_code=read_code(content[0]) if content else None,
        availability_status=rim.status,
        title=first_text(rim.name),
        comments=first_text(rim.description),
        authors=tuple(read_author(c) for c in rim.classified(UUID.SS_AUTHOR)),
        intended_recipients=rim.slot(Slot.INTENDED_RECIPIENT),
        home_community_id=rim.home,
    )


def write(ss: SubmissionSet, extra_slots: tuple[RimSlot, ...] = ()) -> RimObject:
    oid = ss.entry_uuid
    slots: list[RimSlot] = []
    if ss.submission_time is not None:
        slots.append(RimSlot(Slot.SUBMISSION_TIME, (ss.submission_time,)))
    if ss.intended_recipients:
        slots.append(RimSlot(Slot.INTENDED_RECIPIENT, ss.intended_recipients))
    slots.extend(extra_slots)
    classifications = [write_author(a, UUID.SS_AUTHOR, oid, f"{oid}_author{i}") for i, a in enumerate(ss.authors)]
    if ss.content_type_code is not None:
        classifications.append(write_code(ss.content_type_code, UUID.SS_CONTENT_TYPE_CODE, oid, f"{oid}_ctc"))
    classifications.append(RimClassification(id=f"{oid}_node", classified_object=oid, node=UUID.SS_NODE))
    return RimObject(
        tag="RegistryPackage",
        id=oid,
        status=ss.availability_status,
        home=ss.home_community_id,
        name=localized(ss.title),
        description=localized(ss.comments),
        slots=tuple(slots),
        classifications=tuple(classifications),
        external_identifiers=external_identifiers(
            oid, ((UUID.SS_UNIQUE_ID, ss.unique_id), (UUID.SS_SOURCE_ID, ss.source_id), (UUID.SS_PATIENT_ID, ss.patient_id))
        ),
    )
