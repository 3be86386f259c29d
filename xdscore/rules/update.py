"""ITI-57 Update Document Set / ITI-92 Restricted Update Document Set: what a request asks for, checked on
the request alone (IHE XDS Metadata Update supplement, ITI TF-2b 3.57.4.1.3.1 common rules and
3.57.4.1.3.3 operations; Restricted Metadata Update supplement, ITI TF-2b 3.92.4.1.3).

`plan_update` sorts the objects of the request into operations, each named by its trigger:
- a DocumentEntry or Folder with `lid` ≠ `id`: a new version of that logical object, with its SubmissionSet
  HasMember association carrying `PreviousVersion` (and optionally `AssociationPropagation`);
- an `UpdateAvailabilityStatus` association from the SubmissionSet: a status change of the target
  (`OriginalStatus`, `NewStatus`);
- a `SubmitAssociation` association from the SubmissionSet: the Association it points at, in the request,
  is added between objects already registered.
Anything else in the request is an error, with the code the supplement names. The registry then checks
each operation against what is stored (`registry.update`). The restricted form (ITI-92) allows new
DocumentEntry versions only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from xdscore.errors import Violation
from xdscore.model import Association, DocumentEntry, Folder, RegistryEntry, Submission, SubmissionSet
from xdscore.profiles import Profile
from xdscore.rules.cardinality import check_rows, check_value_sets
from xdscore.rules.catalog import RULES
from xdscore.rules.objects import OBJECT_RULES
from xdscore.rules.submission import (
    is_symbolic,
    packages_classified,
    same_patient,
    unique_entry_ids,
    unique_unique_ids,
)
from xdscore.vocabulary import DOCUMENT_RELATIONSHIPS, AssociationType, ErrorCode, Slot

MD = ErrorCode.XDSRegistryMetadataError
UPDATE = ErrorCode.XDSMetadataUpdateError
OPERATION = ErrorCode.XDSMetadataUpdateOperationError
HAS_MEMBER = AssociationType.HAS_MEMBER.value
UPDATE_STATUS = AssociationType.UPDATE_AVAILABILITY_STATUS.value
SUBMIT_ASSOCIATION = AssociationType.SUBMIT_ASSOCIATION.value
KNOWN_TYPES = frozenset(t.value for t in AssociationType)
RELATIONSHIPS = frozenset(t.value for t in DOCUMENT_RELATIONSHIPS)
# Slots that belong to one operation only: on another association they mean a malformed request.
_VERSION_SLOTS = frozenset({Slot.PREVIOUS_VERSION, Slot.ASSOCIATION_PROPAGATION})
_STATUS_SLOTS = frozenset({Slot.ORIGINAL_STATUS, Slot.NEW_STATUS})


@dataclass(frozen=True)
class NewVersion:
    """A new version of a DocumentEntry or Folder (TF-2b 3.57.4.1.3.3.1 / 3.57.4.1.3.3.3)."""

    obj: DocumentEntry | Folder
    member: Association  # SubmissionSet HasMember
    previous_version: int
    propagate: bool  # AssociationPropagation (default yes)

    @property
    def lid(self) -> str:
        return self.obj.rim.lid or ""


@dataclass(frozen=True)
class StatusChange:
    """UpdateAvailabilityStatus of a registered object (TF-2b 3.57.4.1.3.3.2 / .4 / .6.3)."""

    link: Association
    original: str
    new: str


@dataclass(frozen=True)
class NewAssociation:
    """SubmitAssociation: an association between registered objects (TF-2b 3.57.4.1.3.3.6)."""

    link: Association
    association: Association


@dataclass
class UpdatePlan:
    submission_set: SubmissionSet | None = None
    versions: list[NewVersion] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)
    new_associations: list[NewAssociation] = field(default_factory=list)
    references: list[Association] = field(default_factory=list)  # SubmissionSet HasMember (Reference)
    violations: list[Violation] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(v.is_error for v in self.violations)


def plan_update(sub: Submission, profile: Profile, restricted: bool = False) -> UpdatePlan:
    """The operations of an ITI-57 request (ITI-92 when `restricted`), and every violation of its form."""
    plan = UpdatePlan()
    for obj in sub.all_objects():
        for rule in OBJECT_RULES:
            plan.violations.extend(rule(obj.rim, obj.kind))
        plan.violations.extend(check_rows(obj.rim, obj.kind, profile.rows))
        plan.violations.extend(check_value_sets(obj.rim, obj.kind, profile.value_sets))
    for sub_rule in (packages_classified, unique_entry_ids, unique_unique_ids, same_patient):
        plan.violations.extend(sub_rule(sub))
    if len(sub.submission_sets) != 1:
        plan.violations.append(Violation(
            UPDATE, f"an update holds exactly one SubmissionSet, found {len(sub.submission_sets)} (ITI TF-2b 3.57.4.1.3.1)"
        ))
        return plan
    ss = plan.submission_set = sub.submission_sets[0]
    plan.violations.extend(_sort_operations(sub, ss, plan, restricted))
    return plan


@RULES.rule("MU-operations", MD, UPDATE, OPERATION, ref="ITI TF-2b 3.57.4.1.3.3", family="ITI-57 request")
def _sort_operations(sub: Submission, ss: SubmissionSet, plan: UpdatePlan, restricted: bool) -> Iterator[Violation]:
    objects: dict[str, RegistryEntry] = sub.by_id()
    members = {a.target_uuid: a for a in sub.associations if a.association_type == HAS_MEMBER and a.source_uuid == ss.entry_uuid}
    submitted = {a.target_uuid for a in sub.associations if a.association_type == SUBMIT_ASSOCIATION}
    handled: set[str] = set()
    versioned: tuple[DocumentEntry | Folder, ...] = (*sub.document_entries, *sub.folders)
    for obj in versioned:
        member = members.get(obj.entry_uuid)
        version = yield from _new_version(obj, member, restricted)
        if member is not None:
            handled.add(member.entry_uuid)
        if version is not None:
            plan.versions.append(version)
    for lid, n in Counter(v.lid for v in plan.versions).items():
        if n > 1:
            yield Violation(OPERATION, f"{n} new versions of logical object {lid} in one request (ITI TF-2b 3.57.4.1.3.1)", lid)
    for a in sub.associations:
        if a.entry_uuid in handled:
            continue
        where = f"Association {a.entry_uuid}"
        if a.association_type not in KNOWN_TYPES:
            yield Violation(MD, f"{where}: unknown associationType {a.association_type!r}", a.entry_uuid)
            continue
        if a.association_type == UPDATE_STATUS:
            change = yield from _status_change(a, ss, objects, restricted)
            if change is not None:
                plan.status_changes.append(change)
        elif a.association_type == SUBMIT_ASSOCIATION:
            new = yield from _submit_association(a, ss, objects, restricted)
            if new is not None:
                plan.new_associations.append(new)
        elif a.entry_uuid in submitted:
            yield from _extra_slots(a, _VERSION_SLOTS | _STATUS_SLOTS | {Slot.SUBMISSION_SET_STATUS}, OPERATION)
        elif a.association_type == HAS_MEMBER and a.source_uuid == ss.entry_uuid and a.target_uuid in submitted:
            continue  # the SubmissionSet's record of an association it submits (as in ITI-42)
        elif (a.association_type == HAS_MEMBER and a.source_uuid == ss.entry_uuid and a.target_uuid not in objects
              and not restricted):
            if a.submission_set_status != "Reference":
                yield Violation(OPERATION, f"{where}: a SubmissionSet HasMember to registered object {a.target_uuid} "
                                "needs SubmissionSetStatus Reference", a.entry_uuid)
            else:
                plan.references.append(a)
        else:
            yield Violation(UPDATE, f"{where}: {a.association_type.rsplit(':', 1)[-1]} from {a.source_uuid} to "
                            f"{a.target_uuid} is no metadata update operation (ITI TF-2b 3.57.4.1.3.3)", a.entry_uuid)


@RULES.rule("MU-version-form", UPDATE, OPERATION, ErrorCode.XDSInvalidRequestException,
            ref="ITI TF-2b 3.57.4.1.3.1", family="ITI-57 request")
def _new_version(
    obj: DocumentEntry | Folder, member: Association | None, restricted: bool
) -> Generator[Violation, None, NewVersion | None]:
    """DE/FD-version: lid is a UUID other than id, and the SubmissionSet HasMember says which version it
    replaces (TF-2b 3.57.4.1.3.1 rules 2-4, 3.57.4.1.3.1.3.3-4; ITI-92 allows DocumentEntries only)."""
    kind = obj.kind.value
    where = f"{kind} {obj.entry_uuid}"
    lid = obj.rim.lid
    initial = ErrorCode.XDSInvalidRequestException if restricted else UPDATE
    if restricted and isinstance(obj, Folder):
        yield Violation(UPDATE, f"{where}: a Restricted Update changes DocumentEntries only (ITI TF-2b 3.92.4.1.3)",
                        obj.entry_uuid)
        return None
    if not lid or lid == obj.entry_uuid:
        yield Violation(initial, f"{where}: an update cannot submit a first version (logicalID missing or equal "
                        "to the entryUUID); register it with ITI-42", obj.entry_uuid)
        return None
    if is_symbolic(lid):
        yield Violation(UPDATE, f"{where}: logicalID {lid} must be a UUID", obj.entry_uuid)
        return None
    if member is None:
        yield Violation(UPDATE, f"{where}: no HasMember association from the SubmissionSet", obj.entry_uuid)
        return None
    ok = True
    at = f"{where}: HasMember {member.entry_uuid}"
    status = member.rim.slot(Slot.SUBMISSION_SET_STATUS)
    # SubmissionSetStatus belongs to SubmissionSet → DocumentEntry membership (TF-3 4.2.2.1.1)
    if status != ("Original",) and (isinstance(obj, DocumentEntry) or status):
        ok = False
        yield Violation(OPERATION, f"{at}: SubmissionSetStatus must be Original, got {list(status) or 'none'}",
                        member.entry_uuid)
    previous = member.rim.slot(Slot.PREVIOUS_VERSION)
    if len(previous) != 1 or not previous[0].strip().isdigit():
        ok = False
        yield Violation(OPERATION, f"{at}: PreviousVersion must hold one version number, got {list(previous) or 'none'}",
                        member.entry_uuid)
    propagation = member.rim.slot(Slot.ASSOCIATION_PROPAGATION)
    if propagation and (len(propagation) != 1 or propagation[0] not in ("yes", "no")):
        ok = False
        yield Violation(OPERATION, f"{at}: AssociationPropagation must be yes or no, got {list(propagation)}",
                        member.entry_uuid)
    for v in _extra_slots(member, _STATUS_SLOTS, OPERATION):
        ok = False
        yield v
    if not ok:
        return None
    return NewVersion(obj, member, int(previous[0]), propagation != ("no",))


@RULES.rule("MU-status-form", UPDATE, OPERATION, ErrorCode.UnmodifiableMetadataError,
            ref="ITI TF-2b 3.57.4.1.3.3.2.1", family="ITI-57 request")
def _status_change(
    a: Association, ss: SubmissionSet, objects: dict[str, RegistryEntry], restricted: bool
) -> Generator[Violation, None, StatusChange | None]:
    """STATUS: from the SubmissionSet to a registered object, one OriginalStatus and one NewStatus
    (TF-2b 3.57.4.1.3.3.2.1)."""
    where = f"Association {a.entry_uuid} (UpdateAvailabilityStatus)"
    if restricted:
        yield Violation(ErrorCode.UnmodifiableMetadataError, f"{where}: availabilityStatus cannot be changed by a "
                        "Restricted Update (ITI TF-2b 3.92.4.1.3)", a.entry_uuid)
        return None
    if a.source_uuid != ss.entry_uuid:
        yield Violation(UPDATE, f"{where}: the sourceObject must be the SubmissionSet", a.entry_uuid)
        return None
    if a.target_uuid in objects or is_symbolic(a.target_uuid):
        yield Violation(UPDATE, f"{where}: the target must be an object already registered, by UUID", a.entry_uuid)
        return None
    original, new = a.rim.slot(Slot.ORIGINAL_STATUS), a.rim.slot(Slot.NEW_STATUS)
    bad = [n for n, v in ((Slot.ORIGINAL_STATUS, original), (Slot.NEW_STATUS, new)) if len(v) != 1 or not v[0]]
    if bad:
        yield Violation(OPERATION, f"{where}: {' and '.join(bad)} must hold one status", a.entry_uuid)
        return None
    extra = list(_extra_slots(a, _VERSION_SLOTS | {Slot.SUBMISSION_SET_STATUS}, OPERATION))
    yield from extra
    return None if extra else StatusChange(a, original[0], new[0])


@RULES.rule("MU-association-form", UPDATE, ref="ITI TF-2b 3.57.4.1.3.3.6", family="ITI-57 request")
def _submit_association(
    a: Association, ss: SubmissionSet, objects: dict[str, RegistryEntry], restricted: bool
) -> Generator[Violation, None, NewAssociation | None]:
    """ASSOC: SubmitAssociation from the SubmissionSet to an Association of the request whose ends are
    registered objects, by UUID (TF-2b 3.57.4.1.3.3.6)."""
    where = f"Association {a.entry_uuid} (SubmitAssociation)"
    if restricted:
        yield Violation(UPDATE, f"{where}: a Restricted Update cannot add associations (ITI TF-2b 3.92.4.1.3)",
                        a.entry_uuid)
        return None
    target = objects.get(a.target_uuid)
    if a.source_uuid != ss.entry_uuid:
        yield Violation(UPDATE, f"{where}: the sourceObject must be the SubmissionSet", a.entry_uuid)
        return None
    if not isinstance(target, Association):
        yield Violation(UPDATE, f"{where}: the target must be an Association of this request", a.entry_uuid)
        return None
    for end in (target.source_uuid, target.target_uuid):
        if end in objects or is_symbolic(end):
            yield Violation(UPDATE, f"{where}: Association {target.entry_uuid} must link registered objects by UUID, "
                            f"not {end}", a.entry_uuid)
            return None
    if target.association_type not in KNOWN_TYPES or target.association_type in (UPDATE_STATUS, SUBMIT_ASSOCIATION):
        return None  # the unknown type is reported on the association itself
    if target.association_type != HAS_MEMBER and target.association_type not in RELATIONSHIPS:
        yield Violation(UPDATE, f"{where}: {target.association_type} cannot be submitted", a.entry_uuid)
        return None
    return NewAssociation(a, target)


def _extra_slots(a: Association, forbidden: frozenset[str], code: ErrorCode) -> Iterator[Violation]:
    for s in a.rim.slots:
        if s.name in forbidden:
            yield Violation(code, f"Association {a.entry_uuid}: slot {s.name} does not belong to this operation",
                            a.entry_uuid)
