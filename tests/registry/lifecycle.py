"""Builders for ITI-57 / ITI-92 requests: new versions, status changes, submitted associations."""

from __future__ import annotations

from harness.builders import SubmissionBuilder, folder_for
from harness.builders import document as document_for
from xdscore.ebrim import document_entry, folder
from xdscore.model import RimSlot
from xdscore.vocabulary import AssociationType, Slot, Status

APPROVED = Status.APPROVED.value
DEPRECATED = Status.DEPRECATED.value


def update_request(patient_id: str) -> SubmissionBuilder:
    return SubmissionBuilder(patient_id).with_submission_set()


def new_version(
    b: SubmissionBuilder, lid: str, unique_id: str, previous: str | None = "1", entry_id: str = "Document01",
    propagation: str | None = None, member_slots: tuple[RimSlot, ...] = (), ss_status: str | None = "Original",
    **changes: object,
) -> str:
    """A new DocumentEntry version of logical object `lid`, member of the SubmissionSet with PreviousVersion."""
    patient_id = str(changes.pop("patient_id", b.patient_id))
    rim = document_entry.write(document_for(patient_id, entry_id, unique_id=unique_id, **changes))
    b.objects.append(rim.__class__(**{**rim.__dict__, "lid": lid}))
    _member(b, entry_id, previous, propagation, member_slots, ss_status)
    return entry_id


def new_folder_version(
    b: SubmissionBuilder, lid: str, unique_id: str, previous: str | None = "1", entry_id: str = "Folder01",
    propagation: str | None = None, **changes: object,
) -> str:
    patient_id = str(changes.pop("patient_id", b.patient_id))
    rim = folder.write(folder_for(patient_id, entry_id, unique_id=unique_id, **changes))
    b.objects.append(rim.__class__(**{**rim.__dict__, "lid": lid}))
    _member(b, entry_id, previous, propagation, (), "Original")
    return entry_id


def _member(b: SubmissionBuilder, target: str, previous: str | None, propagation: str | None,
            extra: tuple[RimSlot, ...], ss_status: str | None) -> str:
    slots = list(extra)
    if previous is not None:
        slots.append(RimSlot(Slot.PREVIOUS_VERSION, (previous,)))
    if propagation is not None:
        slots.append(RimSlot(Slot.ASSOCIATION_PROPAGATION, (propagation,)))
    return b.link(b.ss_id, target, ss_status, extra_slots=tuple(slots))


def status_change(b: SubmissionBuilder, target: str, original: str = APPROVED, new: str = DEPRECATED,
                  source: str | None = None) -> str:
    slots = (RimSlot(Slot.ORIGINAL_STATUS, (original,)), RimSlot(Slot.NEW_STATUS, (new,)))
    return b.link(source or b.ss_id, target, None, AssociationType.UPDATE_AVAILABILITY_STATUS, extra_slots=slots)


def submit_association(b: SubmissionBuilder, source: str, target: str,
                       atype: AssociationType = AssociationType.HAS_MEMBER) -> str:
    aid = b.link(source, target, None, atype)
    b.link(b.ss_id, aid, None, AssociationType.SUBMIT_ASSOCIATION)
    return aid
