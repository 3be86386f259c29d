"""XDSFolder <-> rim:RegistryPackage classified by the Folder node (ITI TF-3 4.2.3.4)."""

from __future__ import annotations

from xdscore.ebrim.coded import external_identifiers, first_text, localized, read_code, write_code
from xdscore.model import Folder, RimClassification, RimObject, RimSlot
from xdscore.vocabulary import UUID, Slot


def read(rim: RimObject) -> Folder:
    return Folder(
        entry_uuid=rim.id,
        rim=rim,
        unique_id=rim.external_id(UUID.FOLDER_UNIQUE_ID),
        patient_id=rim.external_id(UUID.FOLDER_PATIENT_ID),
        codes=tuple(read_code(c) for c in rim.classified(UUID.FOLDER_CODE_LIST)),
        last_update_time=rim.slot_first(Slot.LAST_UPDATE_TIME),
        availability_status=rim.status,
        logical_id=rim.lid,
        version=rim.version_name,
        title=first_text(rim.name),
        comments=first_text(rim.description),
        home_community_id=rim.home,
    )


def write(fd: Folder, extra_slots: tuple[RimSlot, ...] = ()) -> RimObject:
    oid = fd.entry_uuid
    slots: list[RimSlot] = []
    if fd.last_update_time is not None:
        slots.append(RimSlot(Slot.LAST_UPDATE_TIME, (fd.last_update_time,)))
    slots.extend(extra_slots)
    classifications = [write_code(c, UUID.FOLDER_CODE_LIST, oid, f"{oid}_code{i}") for i, c in enumerate(fd.codes)]
    classifications.append(RimClassification(id=f"{oid}_node", classified_object=oid, node=UUID.FOLDER_NODE))
    return RimObject(
        tag="RegistryPackage",
        id=oid,
        status=fd.availability_status,
        lid=fd.logical_id,
        home=fd.home_community_id,
        version_name=fd.version,
        name=localized(fd.title),
        description=localized(fd.comments),
        slots=tuple(slots),
        classifications=tuple(classifications),
        external_identifiers=external_identifiers(
            oid, ((UUID.FOLDER_UNIQUE_ID, fd.unique_id), (UUID.FOLDER_PATIENT_ID, fd.patient_id))
        ),
    )
