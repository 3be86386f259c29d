"""Cross-object rules of one submission (ITI TF-3 4.1.4-4.1.6, 4.2.2; ITI TF-2b 3.42.4.1.3).

They look at the submission alone: what needs the registry's content (existing targets, deprecation,
uniqueId reuse, known patients) is checked by the registry's stateful rules afterwards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from xdscore.errors import Violation
from xdscore.model import Association, DocumentEntry, Folder, PatientKey, Submission, SubmissionSet
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import DOCUMENT_RELATIONSHIPS, AssociationType, ErrorCode

PatientObject = DocumentEntry | SubmissionSet | Folder


def _patient_objects(sub: Submission, with_submission_sets: bool = True) -> tuple[PatientObject, ...]:
    sets: tuple[PatientObject, ...] = sub.submission_sets if with_submission_sets else ()
    return (*sets, *sub.document_entries, *sub.folders)


MD = ErrorCode.XDSRegistryMetadataError
ITI42_ASSOCIATION_TYPES = frozenset({AssociationType.HAS_MEMBER, *DOCUMENT_RELATIONSHIPS})
_TYPES_BY_VALUE = {t.value: t for t in AssociationType}


def is_symbolic(entry_id: str) -> bool:
    return not entry_id.lower().startswith("urn:uuid:")


@RULES.rule("SUB-refs", ErrorCode.UnresolvedReferenceException, ref="ebRIM 3.0 4.3.2, 4.4.2", family="submission")
def references_resolve(sub: Submission) -> Iterator[Violation]:
    """SUB-refs: a top-level Classification names in classifiedObject, and an ExternalIdentifier in
    registryObject, an object of the submission (ebRIM 3.0 §4.3.2, §4.4.2; ITI TF-3 4.2.1.2: an ITI-42
    classifies and identifies the objects it submits). Anything else is an unresolved reference."""
    for what, element_id, target in sub.dangling_references:
        attribute = "classifiedObject" if what == "Classification" else "registryObject"
        yield Violation(
            ErrorCode.UnresolvedReferenceException,
            f"rim:{what} {element_id or '(no id)'}: {attribute} {target or '(empty)'} is not an object of the submission",
            target or element_id,
        )


@RULES.rule("SUB-one-SS", MD, ref="ITI TF-3 4.1.4", family="submission")
def one_submission_set(sub: Submission) -> Iterator[Violation]:
    """SUB-one-SS: exactly one SubmissionSet per submission (TF-3 4.1.4)."""
    n = len(sub.submission_sets)
    if n != 1:
        yield Violation(MD, f"a submission holds exactly one SubmissionSet, found {n} (ITI TF-3 4.1.4)")


@RULES.rule("SUB-package", MD, ref="ITI TF-3 4.2.1.2", family="submission")
def packages_classified(sub: Submission) -> Iterator[Violation]:
    """SUB-package: a RegistryPackage is classified as SubmissionSet or Folder (TF-3 4.2.1.2)."""
    for p in sub.unclassified_packages:
        yield Violation(MD, f"RegistryPackage {p.id} is classified neither as SubmissionSet nor as Folder", p.id)


@RULES.rule("SUB-ids", MD, ref="ebRIM 3.0 2.5.2", family="submission")
def unique_entry_ids(sub: Submission) -> Iterator[Violation]:
    """SUB-ids: each object id appears once in the submission (ebRIM 3.0 §2.5.2)."""
    counts = Counter(o.entry_uuid for o in sub.all_objects())
    for oid, n in counts.items():
        if n > 1:
            yield Violation(MD, f"id {oid} is used by {n} objects of the submission", oid)


@RULES.rule("SUB-uniqueId", ErrorCode.XDSRegistryDuplicateUniqueIdInMessage, ref="ITI TF-3 4.1.12.2", family="submission")
def unique_unique_ids(sub: Submission) -> Iterator[Violation]:
    """SUB-uniqueId: a uniqueId is used once in the message (TF-3 4.1.12.2)."""
    uids = [o.unique_id for o in _patient_objects(sub) if o.unique_id]
    for uid, n in Counter(uids).items():
        if n > 1:
            yield Violation(
                ErrorCode.XDSRegistryDuplicateUniqueIdInMessage, f"uniqueId {uid} appears {n} times in the submission", uid
            )


@RULES.rule("SUB-patient", ErrorCode.XDSPatientIdDoesNotMatch, ref="ITI TF-3 4.1.4", family="submission")
def same_patient(sub: Submission) -> Iterator[Violation]:
    """SUB-patient: every DocumentEntry and Folder has the SubmissionSet's patientId (TF-3 4.1.4)."""
    ss = sub.submission_set
    if ss is None or not ss.patient_id:
        return
    key = PatientKey.parse(ss.patient_id)
    if key is None:
        return  # malformed: reported by the format rows
    for o in _patient_objects(sub, with_submission_sets=False):
        other = PatientKey.parse(o.patient_id or "")
        if other is not None and other != key:
            yield Violation(
                ErrorCode.XDSPatientIdDoesNotMatch,
                f"{o.kind.value} {o.entry_uuid} has patientId {o.patient_id}, the SubmissionSet has {ss.patient_id}",
                o.entry_uuid,
            )


def _has_member_from_ss(sub: Submission, ss: SubmissionSet) -> set[str]:
    return {
        a.target_uuid
        for a in sub.associations
        if a.association_type == AssociationType.HAS_MEMBER.value and a.source_uuid == ss.entry_uuid
    }


@RULES.rule("SUB-members", MD, ref="ITI TF-3 4.1.4", family="submission")
def members_of_submission_set(sub: Submission) -> Iterator[Violation]:
    """SUB-members: each DocumentEntry and Folder submitted is a member of the SubmissionSet (TF-3 4.1.4)."""
    ss = sub.submission_set
    if ss is None:
        return
    members = _has_member_from_ss(sub, ss)
    for o in _patient_objects(sub, with_submission_sets=False):
        if o.entry_uuid not in members:
            yield Violation(
                MD,
                f"{o.kind.value} {o.entry_uuid} is not linked to the SubmissionSet by a HasMember association",
                o.entry_uuid,
            )


@RULES.rule("ASSOC-shapes", MD, ref="ITI TF-3 4.2.2", family="submission")
def association_shapes(sub: Submission) -> Iterator[Violation]:
    """ASSOC-*: type, ends, HasMember and document-relationship shapes (TF-3 4.2.2)."""
    objects = sub.by_id()
    ss = sub.submission_set
    for a in sub.associations:
        where = f"Association {a.entry_uuid}"
        atype = _TYPES_BY_VALUE.get(a.association_type)
        if atype is None:
            yield Violation(MD, f"{where}: unknown associationType {a.association_type!r}", a.entry_uuid)
            continue
        if atype not in ITI42_ASSOCIATION_TYPES:
            yield Violation(MD, f"{where}: {atype.short} is not allowed in a Register transaction", a.entry_uuid)
            continue
        if not a.source_uuid or not a.target_uuid:
            yield Violation(MD, f"{where}: sourceObject and targetObject are required", a.entry_uuid)
            continue
        if a.source_uuid == a.target_uuid:
            yield Violation(MD, f"{where}: an association cannot link an object to itself", a.entry_uuid)
            continue
        for end in (a.source_uuid, a.target_uuid):
            if is_symbolic(end) and end not in objects:
                yield Violation(MD, f"{where}: {end} is neither in the submission nor a UUID", a.entry_uuid)
        source, target = objects.get(a.source_uuid), objects.get(a.target_uuid)
        if atype is AssociationType.HAS_MEMBER:
            yield from _has_member(a, source, target, ss)
        else:
            yield from _relationship(a, atype, source, target, ss)


def _has_member(a: Association, source: object, target: object, ss: SubmissionSet | None) -> Iterator[Violation]:
    where = f"Association {a.entry_uuid}"
    if a.documentation is not None:
        yield Violation(MD, f"{where}: a HasMember association cannot carry a documentation code", a.entry_uuid)
    if isinstance(source, SubmissionSet):
        if isinstance(target, (Folder, Association)):
            return
        # SubmissionSet -> DocumentEntry (in the submission or already registered)
        if a.submission_set_status is None:
            yield Violation(MD, f"{where}: SubmissionSet HasMember needs the SubmissionSetStatus slot", a.entry_uuid)
        elif a.submission_set_status == "Original" and not isinstance(target, DocumentEntry):
            yield Violation(
                MD, f"{where}: SubmissionSetStatus Original points at {a.target_uuid}, not in this submission", a.entry_uuid
            )
        return
    if isinstance(source, Folder):
        if target is not None and not isinstance(target, DocumentEntry):
            yield Violation(MD, f"{where}: a Folder HasMember must point at a DocumentEntry", a.entry_uuid)
        return
    if source is None and not is_symbolic(a.source_uuid):
        return  # an existing Folder gaining a member: checked against the registry
    yield Violation(MD, f"{where}: HasMember source must be the SubmissionSet or a Folder", a.entry_uuid)


def signs_own_submission_set(atype: AssociationType, target: object, ss: SubmissionSet | None) -> bool:
    """A SubmissionSet Signature (ITI TF-1 37; TF-3 5.5): a `signs` association from the signature's
    DocumentEntry to the SubmissionSet it comes in, as the DMP's clients send it (KIT-MSG TD2.1)."""
    return atype is AssociationType.SIGNS and ss is not None and target is ss


def _relationship(
    a: Association, atype: AssociationType, source: object, target: object, ss: SubmissionSet | None
) -> Iterator[Violation]:
    where = f"Association {a.entry_uuid} ({atype.short})"
    if not isinstance(source, DocumentEntry):
        yield Violation(MD, f"{where}: the source must be a DocumentEntry of this submission", a.entry_uuid)
    if target is not None and not isinstance(target, DocumentEntry) and not signs_own_submission_set(atype, target, ss):
        target_rule = "a DocumentEntry, or for signs the SubmissionSet of this submission" if atype is AssociationType.SIGNS else "a DocumentEntry"
        yield Violation(MD, f"{where}: the target must be {target_rule}", a.entry_uuid)


SubmissionRule = Callable[[Submission], Iterator[Violation]]
SUBMISSION_RULES: tuple[SubmissionRule, ...] = RULES.family("submission")  # in the order they are written above
