"""DMP operations over ITI-57 Update Document Set: which TD3.3 operation an update of a DocumentEntry is.

The DMP carries its document management on ITI-57 (PDSM4DMP TD3.3a-d; KIT-MSG TD3.3c/d; KIT-CS):
- TD3.3a mask / unmask to professionals: a new version whose confidentialityCode gains / loses MASQUE_PS;
- TD3.3b visibility to the patient and the legal representatives: a new version without INVISIBLE_PATIENT /
  INVISIBLE_REPRESENTANTS_LEGAUX;
- TD3.3c logical delete: UpdateAvailabilityStatus to `urn:asip:ci-sis:2010:StatusType:Deleted`;
- TD3.3d archive / unarchive: UpdateAvailabilityStatus to `…:Archived` / back to Approved.
Anything else an update does to a DocumentEntry (other metadata, hiding it from the patient afterwards, other
status changes) is no TD3.3 operation: it is treated as the document's replacement, which only an author
may do (rule 4; docs/dmp-access.md says why).
"""

from __future__ import annotations

from dataclasses import fields

from xdscore.access.entry import INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX, MASQUE_PS
from xdscore.access.matrix import Operation
from xdscore.model import DocumentEntry
from xdscore.vocabulary import DmpStatus, Status

FLAGS = frozenset({MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX})
# What a new version may differ in without being a metadata change of its own (identity, versioning, status).
_NOT_COMPARED = frozenset({"entry_uuid", "rim", "availability_status", "logical_id", "version",
                           "confidentiality_codes", "home_community_id"})


def _flags(entry: DocumentEntry) -> frozenset[str]:
    return frozenset(c.code for c in entry.confidentiality_codes) & FLAGS


def _other_codes(entry: DocumentEntry) -> frozenset[tuple[str, str]]:
    return frozenset((c.code, c.scheme) for c in entry.confidentiality_codes if c.code not in FLAGS)


def version_operations(old: DocumentEntry, new: DocumentEntry) -> list[Operation]:
    """The DMP operations a new version of a DocumentEntry performs (several when it changes several flags)."""
    before, after = _flags(old), _flags(new)
    ops: list[Operation] = []
    if MASQUE_PS in after - before:
        ops.append(Operation.MASK)
    if MASQUE_PS in before - after:
        ops.append(Operation.UNMASK)
    if (before - after) & {INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX}:
        ops.append(Operation.SHOW_TO_PATIENT)
    hidden_again = bool((after - before) & {INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX})
    other = _other_codes(old) != _other_codes(new) or any(
        getattr(old, f.name) != getattr(new, f.name) for f in fields(DocumentEntry) if f.name not in _NOT_COMPARED)
    if hidden_again or other or not ops:
        ops.append(Operation.FEED)
    return ops


def status_operation(original: str, new: str) -> Operation:
    """The DMP operation of an UpdateAvailabilityStatus of a DocumentEntry."""
    if new == DmpStatus.DELETED.value:
        return Operation.DELETE
    if new == DmpStatus.ARCHIVED.value:
        return Operation.ARCHIVE
    if original == DmpStatus.ARCHIVED.value and new == Status.APPROVED.value:
        return Operation.UNARCHIVE
    return Operation.FEED
