"""ITI-57 Update Document Set and ITI-92 Restricted Update Document Set: the Document Registry's side
(IHE XDS Metadata Update supplement, ITI TF-2b 3.57.4.1.3; Restricted Metadata Update, ITI TF-2b 3.92.4.1.3).

`update(submission, store, settings, now, new_uuid, restricted)` is a pure function, like `register`: it
sorts the request into operations (`xdscore.rules.update.plan_update`), checks each against what is
stored, and returns the violations or the `Changes` to write in one transaction.

Theory of operation (versions). A DocumentEntry or Folder is a logical object (`lid`) with versions
1, 2, ...; each version is its own row with its own entryUUID. A new version names the version it
replaces (`PreviousVersion`); it must be the latest one, or the request lost a race and gets
XDSMetadataVersionError (the unique index on (lid, version) settles two requests that checked at the same
time). The new version takes the status of the one it replaces, which becomes Deprecated, so at most one
version of a logical object is not Deprecated. With AssociationPropagation (the default) the new version
inherits what linked the old one: Folder memberships, document relationships (and, for a Folder, its
members); the old associations stay, on the old version. A status change targets the latest version; when
the same request also creates a new version, the new status goes to the new version and the old one is
left as it was (ITI TF-2b 3.57.4.1.3.1). ITI-92 allows new DocumentEntry versions only, whose identity
(uniqueId, patient, repository, sourcePatientId, objectType, documentAvailability, status) cannot change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from registry.register import RegisterSettings, finalize, patient_known, retype
from registry.store import Changes, RegistryReader, StoredRef
from xdscore.ebrim import association as assoc_codec
from xdscore.errors import Violation
from xdscore.model import Association, DocumentEntry, ObjectKind, PatientKey, RegistryEntry, RimObject, Submission
from xdscore.rules.catalog import RULES
from xdscore.rules.submission import is_symbolic
from xdscore.rules.update import NewAssociation, NewVersion, StatusChange, UpdatePlan, plan_update
from xdscore.vocabulary import DOCUMENT_RELATIONSHIPS, AssociationType, ErrorCode, Severity, Slot, Status

APPROVED = Status.APPROVED.value
DEPRECATED = Status.DEPRECATED.value
HAS_MEMBER = AssociationType.HAS_MEMBER.value
UPDATE = ErrorCode.XDSMetadataUpdateError
UNMODIFIABLE = ErrorCode.UnmodifiableMetadataError
RELATIONSHIPS = frozenset(t.value for t in DOCUMENT_RELATIONSHIPS)
ONLINE = "urn:ihe:iti:2010:DocumentAvailability:Online"


@dataclass
class UpdateOutcome:
    violations: list[Violation]
    changes: Changes | None = None
    patient_id: str | None = None
    submission_set_unique_id: str | None = None
    new_versions: list[str] = field(default_factory=list)  # entryUUIDs of the versions created

    @property
    def accepted(self) -> bool:
        return self.changes is not None


def lock_keys(sub: Submission) -> list[str]:
    """What concurrent updates must not check-and-write at the same time: the logical ids they version
    and the objects whose status or links they change."""
    keys = [o.rim.lid for o in (*sub.document_entries, *sub.folders) if o.rim.lid]
    keys += [a.target_uuid for a in sub.associations if not is_symbolic(a.target_uuid)]
    keys += [a.source_uuid for a in sub.associations if not is_symbolic(a.source_uuid)]
    return [k for k in keys if k]


def update(
    sub: Submission,
    store: RegistryReader,
    settings: RegisterSettings,
    now: str,
    new_uuid: Callable[[], str],
    restricted: bool = False,
) -> UpdateOutcome:
    plan = plan_update(sub, settings.profile, restricted)
    ss = plan.submission_set
    outcome = UpdateOutcome(violations=list(plan.violations), patient_id=ss.patient_id if ss else None,
                            submission_set_unique_id=ss.unique_id if ss else None)
    if ss is None:
        return outcome
    known = list(patient_known(ss, store))
    if known:
        outcome.violations += known
        return outcome
    work = _Work(plan, store, settings, now, new_uuid, restricted)
    work.check()
    outcome.violations += work.violations
    if any(v.is_error for v in outcome.violations):
        return outcome
    outcome.changes = work.build()
    outcome.violations += work.warnings
    outcome.new_versions = [work.id_map.get(v.obj.entry_uuid, v.obj.entry_uuid) for v in plan.versions]
    return outcome


class _Work:
    """The stateful checks and the changes of one request; `check` first, `build` when it found no error."""

    def __init__(self, plan: UpdatePlan, store: RegistryReader, settings: RegisterSettings, now: str,
                 new_uuid: Callable[[], str], restricted: bool) -> None:
        self.plan, self.store, self.settings, self.now = plan, store, settings, now
        self.new_uuid, self.restricted = new_uuid, restricted
        self.violations: list[Violation] = []
        self.warnings: list[Violation] = []
        self.previous: dict[str, StoredRef] = {}  # lid -> latest stored version
        self.status_targets: dict[str, str] = {}  # stored entryUUID -> new status (resolved below)
        self.id_map: dict[str, str] = {}

    def error(self, code: ErrorCode, context: str, location: str = "") -> None:
        self.violations.append(Violation(code, context, location))

    # --- checks ------------------------------------------------------------------------------------

    def check(self) -> None:
        plan, store = self.plan, self.store
        ss = plan.submission_set
        assert ss is not None
        preassigned = [o.entry_uuid for o in self._submitted() if not is_symbolic(o.entry_uuid)]
        for uuid in sorted(store.existing_uuids(preassigned)):
            self.error(ErrorCode.XDSRegistryMetadataError, f"entryUUID {uuid} is already used in the registry", uuid)
        if ss.unique_id and store.used_package_unique_ids([ss.unique_id]):
            self.error(ErrorCode.XDSDuplicateUniqueIdInRegistry, f"uniqueId {ss.unique_id} is already registered",
                       ss.unique_id)
        self.previous = store.latest_versions(v.lid for v in plan.versions)
        stored = store.stored_entries(p.entry_uuid for p in self.previous.values())
        for v in plan.versions:
            self._check_version(v, stored)
        refs = store.refs([*(c.link.target_uuid for c in plan.status_changes),
                           *(e for n in plan.new_associations for e in (n.association.source_uuid, n.association.target_uuid)),
                           *(r.target_uuid for r in plan.references)])
        for c in plan.status_changes:
            self._check_status(c, refs)
        for n in plan.new_associations:
            self._check_association(n, refs)
        for r in plan.references:
            if r.target_uuid not in refs:
                self.error(ErrorCode.UnresolvedReferenceException,
                           f"Association {r.entry_uuid}: {r.target_uuid} is not in the registry", r.target_uuid)

    def _submitted(self) -> list[RegistryEntry]:
        plan = self.plan
        assert plan.submission_set is not None
        out: list[RegistryEntry] = [plan.submission_set]
        for v in plan.versions:
            out += [v.obj, v.member]
        for c in plan.status_changes:
            out.append(c.link)
        for n in plan.new_associations:
            out += [n.link, n.association]
        out += plan.references
        return out

    @RULES.rule("MU-version", ErrorCode.XDSMetadataVersionError, ErrorCode.XDSMetadataIdentifierError, UPDATE,
                ref="ITI TF-2b 3.57.4.1.3.3.1.3", family="ITI-57 registry")
    def _check_version(self, v: NewVersion, stored: dict[str, RegistryEntry]) -> None:
        """Version rules (TF-2b 3.57.4.1.3.3.1.3, 3.57.4.1.3.3.3.2; 3.92.4.1.3 for ITI-92)."""
        obj = v.obj
        where = f"{obj.kind.value} {obj.entry_uuid} (logicalID {v.lid})"
        prev = self.previous.get(v.lid)
        if prev is None or prev.kind is not obj.kind:
            self.error(ErrorCode.XDSMetadataVersionError, f"{where}: no {obj.kind.value} with this logicalID is "
                       "registered", v.lid)
            return
        if prev.version != v.previous_version:
            self.error(ErrorCode.XDSMetadataVersionError, f"{where}: PreviousVersion is {v.previous_version}, the "
                       f"latest version in the registry is {prev.version}", v.lid)
        if prev.status == DEPRECATED and not self.restricted:
            # ITI-57 versions an Approved object (TF-2b 3.57.4.1.3.3.1.3, NIST 12319); ITI-92 may version a
            # Deprecated one, which stays Deprecated.
            self.error(UPDATE, f"{where}: the latest version {prev.version} is Deprecated", v.lid)
        if obj.unique_id != prev.unique_id:
            self.error(ErrorCode.XDSMetadataIdentifierError, f"{where}: uniqueId {obj.unique_id} differs from the "
                       f"registered {prev.unique_id}", v.lid)
        key = PatientKey.parse(obj.patient_id or "")
        if key is not None and str(key) != prev.patient and (v.propagate or self.restricted):
            # without AssociationPropagation the new version links nothing of the old patient
            self._check_patient_change(v, prev, where)
        before = stored.get(prev.entry_uuid)
        if isinstance(obj, DocumentEntry) and isinstance(before, DocumentEntry):
            self._check_restricted(obj, before, where)

    @RULES.rule("MU-patient", ErrorCode.XDSPatientIDReconciliationError, ref="ITI TF-2b 3.57.4.1.3.3.1.7",
                family="ITI-57 registry")
    def _check_patient_change(self, v: NewVersion, prev: StoredRef, where: str) -> None:
        """Patient ID management (TF-2b 3.57.4.1.3.3.1.7, 3.57.4.1.3.3.3.7): an object may move to another
        patient only while nothing links it to objects of its patient; ITI-92 never moves it."""
        if self.restricted:
            self.error(ErrorCode.XDSPatientIDReconciliationError, f"{where}: patientId cannot change in a "
                       f"Restricted Update (registered: {prev.patient})", v.lid)
            return
        links = [a for a in self.store.associations_touching([prev.entry_uuid])
                 if a.status == APPROVED and (a.association_type in RELATIONSHIPS or a.association_type == HAS_MEMBER)]
        ends = self.store.refs(e for a in links for e in (a.source, a.target))
        linked = [a for a in links if not (ends.get(a.source) and ends[a.source].kind is ObjectKind.SUBMISSION_SET)]
        if linked:
            self.error(ErrorCode.XDSPatientIDReconciliationError, f"{where}: patientId changes from {prev.patient} "
                       f"while {len(linked)} association(s) link it to objects of that patient", v.lid)

    @RULES.rule("MU-identity", ErrorCode.XDSObjectTypeError, UNMODIFIABLE, ref="ITI TF-2b 3.92.4.1.3",
                family="ITI-57 registry")
    def _check_restricted(self, new: DocumentEntry, before: DocumentEntry, where: str) -> None:
        """ITI-92: identity attributes stay as registered (Restricted Metadata Update, 3.92.4.1.3);
        ITI-57: objectType stays."""
        if (new.object_type or "") != (before.object_type or "") and not self.restricted:
            self.error(ErrorCode.XDSObjectTypeError, f"{where}: objectType {new.object_type} differs from the "
                       f"registered {before.object_type}", new.entry_uuid)
        if not self.restricted:
            return
        pairs = (
            ("objectType", new.object_type, before.object_type),
            ("repositoryUniqueId", new.repository_unique_id, before.repository_unique_id),
            ("sourcePatientId", new.source_patient_id, before.source_patient_id),
            ("documentAvailability", new.rim.slot_first(Slot.DOCUMENT_AVAILABILITY) or ONLINE,
             before.rim.slot_first(Slot.DOCUMENT_AVAILABILITY) or ONLINE),
        )
        for name, now_value, was in pairs:
            if (now_value or "") != (was or ""):
                self.error(UNMODIFIABLE, f"{where}: {name} cannot change in a Restricted Update ({was} → {now_value})",
                           new.entry_uuid)
        if new.rim.status is not None and new.rim.status != before.rim.status:
            self.error(UNMODIFIABLE, f"{where}: availabilityStatus cannot be set by a Restricted Update",
                       new.entry_uuid)

    @RULES.rule("MU-status", ErrorCode.UnresolvedReferenceException, UPDATE, ref="ITI TF-2b 3.57.4.1.3.3.2.3",
                family="ITI-57 registry")
    def _check_status(self, c: StatusChange, refs: dict[str, StoredRef]) -> None:
        """Status rules (TF-2b 3.57.4.1.3.3.2.3, 3.57.4.1.3.3.4, 3.57.4.1.3.3.6.3)."""
        target = c.link.target_uuid
        where = f"Association {c.link.entry_uuid} (UpdateAvailabilityStatus of {target})"
        ref = refs.get(target)
        if ref is None:
            self.error(ErrorCode.UnresolvedReferenceException, f"{where}: {target} is not in the registry", target)
            return
        allowed = sorted({APPROVED, DEPRECATED} | self.settings.profile.statuses)
        if c.new not in allowed:
            self.error(UPDATE, f"{where}: NewStatus {c.new} is not one of {', '.join(allowed)}", target)
        if ref.kind is ObjectKind.SUBMISSION_SET:
            self.error(UPDATE, f"{where}: a SubmissionSet's availabilityStatus cannot be changed", target)
            return
        if c.original != ref.status:
            self.error(UPDATE, f"{where}: OriginalStatus is {c.original}, the object is {ref.status}", target)
        if ref.kind is ObjectKind.ASSOCIATION:
            self._check_association_status(ref, where)
        elif ref.lid:
            latest = self.previous.get(ref.lid) or self.store.latest_versions([ref.lid]).get(ref.lid)
            if latest is None or latest.entry_uuid != target:
                self.error(UPDATE, f"{where}: {target} is not the latest version of logical object {ref.lid}", target)
        self.status_targets[target] = c.new

    def _check_association_status(self, ref: StoredRef, where: str) -> None:
        """Only a Folder membership or a document relationship changes status (TF-2b 3.57.4.1.3.3.6.3)."""
        stored = self.store.stored_entries([ref.entry_uuid]).get(ref.entry_uuid)
        if not isinstance(stored, Association):
            return
        if stored.association_type in RELATIONSHIPS:
            return
        source = self.store.refs([stored.source_uuid]).get(stored.source_uuid)
        if stored.association_type == HAS_MEMBER and source is not None and source.kind is ObjectKind.FOLDER:
            return
        self.error(UPDATE, f"{where}: only Folder memberships and document relationships change status, not "
                   f"{stored.association_type.rsplit(':', 1)[-1]} from {stored.source_uuid}", ref.entry_uuid)

    @RULES.rule("MU-submit-association", ErrorCode.UnresolvedReferenceException, UPDATE,
                ErrorCode.XDSPatientIDReconciliationError, ref="ITI TF-2b 3.57.4.1.3.3.6", family="ITI-57 registry")
    def _check_association(self, n: NewAssociation, refs: dict[str, StoredRef]) -> None:
        """SubmitAssociation rules (TF-2b 3.57.4.1.3.3.6.1-2, 3.57.4.1.3.3.6.7)."""
        a = n.association
        where = f"Association {a.entry_uuid} ({a.association_type.rsplit(':', 1)[-1]})"
        source, target = refs.get(a.source_uuid), refs.get(a.target_uuid)
        for end, ref in ((a.source_uuid, source), (a.target_uuid, target)):
            if ref is None:
                self.error(ErrorCode.UnresolvedReferenceException, f"{where}: {end} is not in the registry", end)
        if source is None or target is None:
            return
        for ref in (source, target):
            if ref.kind is ObjectKind.SUBMISSION_SET:
                self.error(UPDATE, f"{where}: a submitted association cannot link SubmissionSet {ref.entry_uuid}",
                           ref.entry_uuid)
                return
            if ref.status != APPROVED:
                self.error(UPDATE, f"{where}: {ref.kind.value} {ref.entry_uuid} is {ref.status.rsplit(':', 1)[-1]}",
                           ref.entry_uuid)
        if a.association_type == HAS_MEMBER:
            if source.kind is not ObjectKind.FOLDER or target.kind is not ObjectKind.DOCUMENT_ENTRY:
                self.error(UPDATE, f"{where}: HasMember links a Folder to a DocumentEntry", a.entry_uuid)
        elif source.kind is not ObjectKind.DOCUMENT_ENTRY or target.kind is not ObjectKind.DOCUMENT_ENTRY:
            self.error(UPDATE, f"{where}: a document relationship links two DocumentEntries", a.entry_uuid)
        if source.patient != target.patient:
            self.error(ErrorCode.XDSPatientIDReconciliationError, f"{where}: {a.source_uuid} belongs to patient "
                       f"{source.patient}, {a.target_uuid} to {target.patient}", a.entry_uuid)
        existing = [s for s in self.store.associations_touching([a.source_uuid])
                    if s.source == a.source_uuid and s.target == a.target_uuid and s.status == APPROVED]
        if existing:
            self.error(UPDATE, f"{where}: Association {existing[0].entry_uuid} already links {a.source_uuid} to "
                       f"{a.target_uuid}", a.entry_uuid)

    # --- changes -----------------------------------------------------------------------------------

    def build(self) -> Changes:
        plan, settings = self.plan, self.settings
        changes = Changes()
        submitted = self._submitted()
        self.id_map = {o.entry_uuid: self.new_uuid() for o in submitted if is_symbolic(o.entry_uuid)}
        versions = {v.obj.entry_uuid: v for v in plan.versions}
        for obj in submitted:
            rim, dropped = finalize(obj, self.id_map, self.new_uuid, settings.keep_extra_metadata, self.now)
            if dropped:
                self.warnings.append(Violation(ErrorCode.XDSExtraMetadataNotSaved, f"{obj.kind.value} {rim.id}: extra "
                                               f"metadata not saved: {', '.join(dropped)}", rim.id, Severity.WARNING))
            v = versions.get(obj.entry_uuid)
            if v is not None:
                prev = self.previous[v.lid]
                rim = replace(rim, lid=v.lid, version_name=str(prev.version + 1), status=prev.status)
            changes.new_objects.append(retype(obj.kind, rim))
        new_by_lid: dict[str, str] = {}
        for v in plan.versions:
            prev = self.previous[v.lid]
            new_id = self.id_map.get(v.obj.entry_uuid, v.obj.entry_uuid)
            new_by_lid[v.lid] = new_id
            changes.status_updates[prev.entry_uuid] = DEPRECATED
            if v.propagate:
                self._propagate(prev, new_id, changes)
        for target, status in self.status_targets.items():
            ref = self.store.refs([target]).get(target)
            # A status change and a new version of one object in one request: the new version takes it.
            moved = new_by_lid.get(ref.lid or "") if ref else None
            if moved and self.previous.get(ref.lid or "") and self.previous[ref.lid or ""].entry_uuid == target:
                changes.status_updates[moved] = status
            else:
                changes.status_updates[target] = status
        for n in plan.new_associations:
            if n.association.association_type == HAS_MEMBER:
                changes.folder_updates[n.association.source_uuid] = self.now
        return changes

    def _propagate(self, prev: StoredRef, new_id: str, changes: Changes) -> None:
        """AssociationPropagation (TF-2b 3.57.4.1.3.3.1.5, 3.57.4.1.3.3.3.5): what links the replaced version
        to Folders, to related documents, or (for a Folder) to its members, links the new version too."""
        links = [a for a in self.store.associations_touching([prev.entry_uuid]) if a.status == APPROVED]
        ends = self.store.refs(e for a in links for e in (a.source, a.target))
        for a in links:
            other = a.target if a.source == prev.entry_uuid else a.source
            kind = ends[other].kind if other in ends else None
            if a.association_type == HAS_MEMBER:
                if prev.kind is ObjectKind.DOCUMENT_ENTRY and kind is ObjectKind.FOLDER:
                    self._link(HAS_MEMBER, other, new_id, changes)
                    changes.folder_updates[other] = self.now
                elif prev.kind is ObjectKind.FOLDER and a.source == prev.entry_uuid and kind is ObjectKind.DOCUMENT_ENTRY:
                    self._link(HAS_MEMBER, new_id, other, changes)
            elif a.association_type in RELATIONSHIPS and prev.kind is ObjectKind.DOCUMENT_ENTRY:
                if a.source == prev.entry_uuid:
                    self._link(a.association_type, new_id, a.target, changes)
                else:
                    self._link(a.association_type, a.source, new_id, changes)

    def _link(self, atype: str, source: str, target: str, changes: Changes) -> None:
        link: RimObject = assoc_codec.write(self.new_uuid(), atype, source, target)
        link = replace(link, lid=link.id, status=APPROVED, version_name="1")
        changes.new_objects.append(assoc_codec.read(link))
