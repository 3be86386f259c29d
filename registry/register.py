"""ITI-42 Register Document Set-b: the Document Registry's side (ITI TF-2b 3.42.4.1.3, TF-3 4.1).

`register(submission, store, settings, now, new_uuid)` is a pure function: it validates the submission
with the profile's rules, then the stateful rules against the store (known patient, pre-assigned ids,
uniqueId reuse, association targets, deprecation), and returns either the violations or the `Changes`
to write. Nothing is written here, so a rejected submission leaves no trace.

Processing order follows the NIST registry simulator (structure, patient, ids, extra metadata,
uniqueIds, lid/version, folders, association targets, RPLC, patient of associations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from registry.store import Changes, RegistryReader, StoredRef
from xdscore.ebrim import association as assoc_codec
from xdscore.ebrim import document_entry, folder, submission_set
from xdscore.errors import Violation
from xdscore.model import (
    STANDARD_SLOTS,
    Association,
    DocumentEntry,
    Folder,
    ObjectKind,
    PatientKey,
    RegistryEntry,
    RimObject,
    Submission,
    SubmissionSet,
)
from xdscore.profiles import Profile
from xdscore.rules.catalog import RULES
from xdscore.rules.submission import is_symbolic
from xdscore.rules.validate import validate_submission
from xdscore.vocabulary import DOCUMENT_RELATIONSHIPS, REPLACEMENTS, AssociationType, ErrorCode, Severity, Slot, Status

MD = ErrorCode.XDSRegistryMetadataError
APPROVED = Status.APPROVED.value
DEPRECATED = Status.DEPRECATED.value
_RELATIONSHIP_VALUES = frozenset(t.value for t in DOCUMENT_RELATIONSHIPS)
_REPLACEMENT_VALUES = frozenset(t.value for t in REPLACEMENTS)
_ADDENDA_TRANSFORMS = (AssociationType.TRANSFORM.value, AssociationType.APPEND.value)
HAS_MEMBER = AssociationType.HAS_MEMBER.value
T = TypeVar("T")
SIGNS = AssociationType.SIGNS.value


@dataclass(frozen=True)
class RegisterSettings:
    profile: Profile
    keep_extra_metadata: bool = True  # TF-3 4.1.14: store extra slots, or drop them with a warning


@dataclass
class RegisterOutcome:
    violations: list[Violation]
    changes: Changes | None = None
    patient_id: str | None = None
    submission_set_unique_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.changes is not None


def lock_keys(sub: Submission) -> list[str]:
    """What concurrent submissions must not check-and-write at the same time: uniqueIds and targets."""
    keys = [d.unique_id for d in sub.document_entries if d.unique_id]
    keys += [p.unique_id for p in (*sub.submission_sets, *sub.folders) if p.unique_id]
    keys += [a.target_uuid for a in sub.associations if not is_symbolic(a.target_uuid)]
    return keys


def register(
    sub: Submission,
    store: RegistryReader,
    settings: RegisterSettings,
    now: str,
    new_uuid: Callable[[], str],
) -> RegisterOutcome:
    ss = sub.submission_set
    outcome = RegisterOutcome(
        violations=[],
        patient_id=ss.patient_id if ss else None,
        submission_set_unique_id=ss.unique_id if ss else None,
    )
    structural = validate_submission(sub, settings.profile)
    if any(v.is_error for v in structural):
        outcome.violations = structural
        return outcome
    assert ss is not None  # one_submission_set passed

    # the patient and uniqueId checks below read together (one statement on the SQL store)
    store.expect_submission(PatientKey.parse(ss.patient_id or ""), [d.unique_id for d in sub.document_entries],
                            [*(s.unique_id for s in sub.submission_sets), *(f.unique_id for f in sub.folders)])
    errors = list(patient_known(ss, store))
    if errors:
        outcome.violations = errors
        return outcome

    errors = list(_preassigned_ids(sub, store))
    errors += list(_unique_ids(sub, store))
    existing = store.refs(_external_targets(sub))
    errors += list(_association_targets(sub, existing))
    if errors:
        outcome.violations = errors
        return outcome

    id_map = {o.entry_uuid: new_uuid() for o in sub.all_objects() if is_symbolic(o.entry_uuid)}
    warnings: list[Violation] = []
    changes = Changes()
    for obj in sub.all_objects():
        rim, dropped = finalize(obj, id_map, new_uuid, settings.keep_extra_metadata, now)
        warnings += _extra_metadata_not_saved(obj.kind, rim.id, dropped)
        changes.new_objects.append(with_final_ids(obj, rim))

    _apply_relationships(changes, store, now, new_uuid)
    _touch_existing_folders(changes, existing, now)
    outcome.violations = warnings
    outcome.changes = changes
    return outcome


# --- stateful rules --------------------------------------------------------------------------------


@RULES.rule("REG-patient", ErrorCode.XDSUnknownPatientId, ref="ITI TF-2b 3.42.4.1.3.1", family="ITI-42 registry")
def patient_known(ss: SubmissionSet, store: RegistryReader) -> Iterable[Violation]:
    """REG-patient: the patientId was received from the Patient Identity Feed (TF-2b 3.42.4.1.3.1)."""
    key = PatientKey.parse(ss.patient_id or "")
    patient = store.patient(key) if key else None
    if patient is None:
        yield Violation(ErrorCode.XDSUnknownPatientId, f"patient {ss.patient_id} is not known to the registry", ss.patient_id or "")
    elif patient.merged_into is not None:
        yield Violation(
            ErrorCode.XDSUnknownPatientId,
            f"patient {ss.patient_id} was merged into {patient.merged_into}; submit under the surviving id",
            ss.patient_id or "",
        )


@RULES.rule("REG-uuid", MD, ref="ITI TF-3 4.1.12.1", family="ITI-42 registry")
def _preassigned_ids(sub: Submission, store: RegistryReader) -> Iterable[Violation]:
    """REG-uuid: a pre-assigned entryUUID must be new to the registry (TF-3 4.1.12.1; NIST 15806)."""
    uuids = [o.entry_uuid for o in sub.all_objects() if not is_symbolic(o.entry_uuid)]
    for uuid in sorted(store.existing_uuids(uuids)):
        yield Violation(MD, f"entryUUID {uuid} is already used in the registry", uuid)


@RULES.rule("REG-uniqueId", ErrorCode.XDSNonIdenticalHash, ErrorCode.XDSNonIdenticalSize, ErrorCode.XDSDuplicateUniqueIdInRegistry, ref="ITI TF-2b 3.42.4.1.3.3", family="ITI-42 registry")
def _unique_ids(sub: Submission, store: RegistryReader) -> Iterable[Violation]:
    """REG-uniqueId: reuse of a DocumentEntry uniqueId is a resubmission of the same document (same hash
    and size) or an error; a SubmissionSet or Folder uniqueId is never reused (TF-2b 3.42.4.1.3.3)."""
    docs = {d.unique_id: d for d in sub.document_entries if d.unique_id}
    packages = [p.unique_id for p in (*sub.submission_sets, *sub.folders) if p.unique_id]
    registered, used = store.unique_ids_in_use(docs, packages)  # one registry_ids lookup for both
    for uid, stored in registered.items():
        de = docs[uid]
        for s in stored:
            if s.hash and de.hash and s.hash.lower() != de.hash.lower():
                yield Violation(
                    ErrorCode.XDSNonIdenticalHash,
                    f"document uniqueId {uid} is registered with hash {s.hash}, resubmitted with {de.hash}",
                    uid,
                )
                break
            if s.size is not None and de.size and str(s.size) != de.size.strip():
                yield Violation(
                    ErrorCode.XDSNonIdenticalSize,
                    f"document uniqueId {uid} is registered with size {s.size}, resubmitted with {de.size}",
                    uid,
                )
                break
    for uid in sorted(used):
        yield Violation(ErrorCode.XDSDuplicateUniqueIdInRegistry, f"uniqueId {uid} is already registered", uid)


def _external_targets(sub: Submission) -> set[str]:
    ids = set(sub.by_id())
    return {
        end
        for a in sub.associations
        for end in (a.source_uuid, a.target_uuid)
        if end and end not in ids and not is_symbolic(end)
    }


@RULES.rule("REG-assoc", ErrorCode.UnresolvedReferenceException, ref="ITI TF-3 4.2.2", family="ITI-42 registry")
def _association_targets(sub: Submission, existing: dict[str, StoredRef]) -> Iterable[Violation]:
    """REG-assoc: ends outside the submission exist, are of the right kind, are not deprecated (document
    relationships) and belong to the submission's patient (TF-3 4.2.2; TF-2b 3.42.4.1.3.5-6)."""
    ss = sub.submission_set
    own_patient = str(PatientKey.parse(ss.patient_id or "")) if ss else None
    in_sub = sub.by_id()
    for a in sub.associations:
        where = f"Association {a.entry_uuid}"
        for end in (a.source_uuid, a.target_uuid):
            if end not in in_sub and not is_symbolic(end) and end not in existing:
                yield Violation(
                    ErrorCode.UnresolvedReferenceException, f"{where}: {end} is not in the submission nor in the registry", end
                )
        source = in_sub.get(a.source_uuid) or existing.get(a.source_uuid)
        target = in_sub.get(a.target_uuid) or existing.get(a.target_uuid)
        if source is None or target is None:
            continue
        if a.association_type == SIGNS and ss is not None and target is ss:
            continue  # a SubmissionSet Signature (ITI TF-1 37, DSG): checked by the structural rules
        if a.association_type in _RELATIONSHIP_VALUES:
            yield from _relationship_target(a, target, own_patient)
        elif a.association_type == HAS_MEMBER:
            yield from _membership(a, source, target, existing, own_patient)


def _patient_of(obj: RegistryEntry | StoredRef) -> str | None:
    if isinstance(obj, StoredRef):
        return obj.patient
    pid = getattr(obj, "patient_id", None)
    key = PatientKey.parse(pid) if pid else None
    return str(key) if key else None


@RULES.rule("REG-relationship", MD, ErrorCode.XDSRegistryDeprecatedDocumentError, ErrorCode.XDSPatientIdDoesNotMatch, ref="ITI TF-2b 3.42.4.1.3.5", family="ITI-42 registry")
def _relationship_target(a: Association, target: RegistryEntry | StoredRef, own_patient: str | None) -> Iterable[Violation]:
    where = f"Association {a.entry_uuid} ({a.association_type.rsplit(':', 1)[-1]})"
    if target.kind is not ObjectKind.DOCUMENT_ENTRY:
        yield Violation(MD, f"{where}: target {a.target_uuid} is not a DocumentEntry", a.target_uuid)
        return
    if isinstance(target, StoredRef) and target.status != APPROVED:
        yield Violation(
            ErrorCode.XDSRegistryDeprecatedDocumentError,
            f"{where}: target DocumentEntry {a.target_uuid} is {target.status.rsplit(':', 1)[-1]}",
            a.target_uuid,
        )
    if own_patient and _patient_of(target) != own_patient:
        yield Violation(
            ErrorCode.XDSPatientIdDoesNotMatch,
            f"{where}: target DocumentEntry {a.target_uuid} belongs to patient {_patient_of(target)}",
            a.target_uuid,
        )


@RULES.rule("REG-membership", MD, ErrorCode.XDSPatientIdDoesNotMatch, ref="ITI TF-3 4.2.2.1", family="ITI-42 registry")
def _membership(
    a: Association,
    source: RegistryEntry | StoredRef,
    target: RegistryEntry | StoredRef,
    existing: dict[str, StoredRef],
    own_patient: str | None,
) -> Iterable[Violation]:
    where = f"Association {a.entry_uuid} (HasMember)"
    source_kind, target_kind = source.kind, target.kind
    if source_kind is ObjectKind.SUBMISSION_SET:
        if isinstance(source, StoredRef):
            yield Violation(MD, f"{where}: source {a.source_uuid} is a SubmissionSet of an earlier submission", a.source_uuid)
        elif isinstance(target, StoredRef) and target_kind not in (ObjectKind.DOCUMENT_ENTRY, ObjectKind.FOLDER):
            yield Violation(MD, f"{where}: a SubmissionSet references {target_kind.value} {a.target_uuid}", a.target_uuid)
        return
    if source_kind is not ObjectKind.FOLDER:
        yield Violation(MD, f"{where}: source {a.source_uuid} is a {source_kind.value}, not a Folder", a.source_uuid)
        return
    if target_kind is not ObjectKind.DOCUMENT_ENTRY:
        yield Violation(MD, f"{where}: a Folder can only hold DocumentEntries, {a.target_uuid} is a {target_kind.value}", a.target_uuid)
        return
    if isinstance(source, StoredRef) and source.status != APPROVED:
        yield Violation(MD, f"{where}: Folder {a.source_uuid} is not Approved", a.source_uuid)
    if _patient_of(source) != _patient_of(target) or (own_patient and _patient_of(source) != own_patient):
        yield Violation(
            ErrorCode.XDSPatientIdDoesNotMatch,
            f"{where}: Folder {a.source_uuid} and DocumentEntry {a.target_uuid} belong to different patients",
            a.target_uuid,
        )


@RULES.rule("REG-extra-metadata", ErrorCode.XDSExtraMetadataNotSaved, ref="ITI TF-3 4.1.14", family="ITI-42 registry")
def _extra_metadata_not_saved(kind: ObjectKind, entry_uuid: str, dropped: list[str]) -> Iterable[Violation]:
    """REG-extra-metadata: extra slots the registry does not keep are named in a warning (keep_extra_metadata off)."""
    if dropped:
        yield Violation(ErrorCode.XDSExtraMetadataNotSaved, f"{kind.value} {entry_uuid}: extra metadata not saved: {', '.join(dropped)}",
                        entry_uuid, Severity.WARNING)


# --- building what is written ----------------------------------------------------------------------


def _map(value: str | None, id_map: dict[str, str]) -> str | None:
    return id_map.get(value, value) if value is not None else None


def finalize(
    obj: RegistryEntry, id_map: dict[str, str], new_uuid: Callable[[], str], keep_extra: bool, now: str
) -> tuple[RimObject, list[str]]:
    """The object as stored: final ids everywhere, lid = id, version 1, Approved (TF-3 4.1.12.1, 4.2.3.2)."""
    rim = obj.rim
    oid = id_map.get(rim.id, rim.id)

    def sub_id(x: str) -> str:
        return x if x and not is_symbolic(x) else new_uuid()

    classifications = tuple(
        _evolve(c, id=sub_id(c.id), classified_object=oid) for c in rim.classifications
    )
    identifiers = tuple(
        _evolve(e, id=sub_id(e.id), registry_object=oid) for e in rim.external_identifiers
    )
    slots = rim.slots
    dropped: list[str] = []
    if not keep_extra:
        standard = STANDARD_SLOTS[obj.kind]
        dropped = [s.name for s in slots if s.name not in standard]
        slots = tuple(s for s in slots if s.name in standard)
    final = _evolve(
        rim,
        id=oid,
        lid=oid,
        status=APPROVED,
        version_name="1",
        slots=slots,
        classifications=classifications,
        external_identifiers=identifiers,
        source_object=_map(rim.source_object, id_map),
        target_object=_map(rim.target_object, id_map),
    )
    if obj.kind is ObjectKind.FOLDER:
        final = final.with_slot(Slot.LAST_UPDATE_TIME, (now,))
    return final, dropped


def _evolve(obj: T, **changes: object) -> T:
    """`dataclasses.replace` for the model's plain frozen value objects (no __post_init__, no InitVar):
    a copy of the instance's fields with some changed. replace() walks the fields and calls __init__,
    ~10 µs; a registration makes a couple of dozen of these copies."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


def with_final_ids(obj: RegistryEntry, rim: RimObject) -> RegistryEntry:
    """`retype(obj.kind, rim)` without reading the object again: `finalize` changed only what these
    fields mirror (id, lid, version, status, a Folder's lastUpdateTime, an Association's ends); the codes,
    authors and slots the typed object holds are the ones it was read with (tests/registry/
    test_register.py checks both ways give equal objects)."""
    if isinstance(obj, DocumentEntry | Folder):
        final = _evolve(obj, entry_uuid=rim.id, rim=rim, availability_status=rim.status, logical_id=rim.lid,
                        version=rim.version_name)
        return _evolve(final, last_update_time=rim.slot_first(Slot.LAST_UPDATE_TIME)) if isinstance(obj, Folder) else final
    if isinstance(obj, SubmissionSet):
        return _evolve(obj, entry_uuid=rim.id, rim=rim, availability_status=rim.status)
    return _evolve(obj, entry_uuid=rim.id, rim=rim, availability_status=rim.status,
                   source_uuid=rim.source_object or "", target_uuid=rim.target_object or "")


def retype(kind: ObjectKind, rim: RimObject) -> RegistryEntry:
    if kind is ObjectKind.DOCUMENT_ENTRY:
        return document_entry.read(rim)
    if kind is ObjectKind.SUBMISSION_SET:
        return submission_set.read(rim)
    if kind is ObjectKind.FOLDER:
        return folder.read(rim)
    return assoc_codec.read(rim)


def _apply_relationships(changes: Changes, store: RegistryReader, now: str, new_uuid: Callable[[], str]) -> None:
    """RPLC / XFRM_RPLC: deprecate the replaced document and its addenda and transformations, and put the
    replacement in every Folder that held the original (TF-3 4.1.6.1; TF-2b 3.42.4.1.3.5)."""
    new_docs = {o.entry_uuid for o in changes.new_objects if isinstance(o, DocumentEntry)}
    replacements = [
        o for o in changes.new_objects
        if isinstance(o, Association) and o.association_type in _REPLACEMENT_VALUES and o.source_uuid in new_docs
    ]
    if not replacements:
        return
    replaced = {a.target_uuid for a in replacements}
    to_deprecate = set(replaced)
    frontier = set(replaced)
    while frontier:  # addenda and transformations of a deprecated document are deprecated too
        sources = store.relationship_sources(frontier, _ADDENDA_TRANSFORMS)
        frontier = {s for lst in sources.values() for s in lst} - to_deprecate - new_docs
        to_deprecate |= frontier
    for uuid in sorted(to_deprecate):
        changes.status_updates[uuid] = DEPRECATED
    folders = store.folders_of_documents(replaced)
    for a in replacements:
        for folder_uuid in folders.get(a.target_uuid, []):
            link = assoc_codec.write(new_uuid(), HAS_MEMBER, folder_uuid, a.source_uuid)
            link = replace(link, lid=link.id, status=APPROVED, version_name="1")
            changes.new_objects.append(assoc_codec.read(link))
            changes.folder_updates[folder_uuid] = now


def _touch_existing_folders(changes: Changes, existing: dict[str, StoredRef], now: str) -> None:
    """An existing Folder that gains a DocumentEntry gets a new lastUpdateTime (TF-3 4.2.3.4.5)."""
    for o in changes.new_objects:
        if isinstance(o, Association) and o.association_type == HAS_MEMBER:
            ref = existing.get(o.source_uuid)
            if ref is not None and ref.kind is ObjectKind.FOLDER:
                changes.folder_updates[o.source_uuid] = now
