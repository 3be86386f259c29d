"""The DMP access decision: a pure function of caller, patient record, entry and operation.

`decide(caller, record, entry, operation, policy, now)` answers allow / hide / refuse with the rule that
decided (rules 1-20 of `../shared/spec/dmp-services.md` §2b, `xdscore.access.rules`). It is called for
every document a transaction touches: TD2.1 (ITI-41 / ITI-42, each submitted entry), TD3.1 (ITI-18, each
returned entry), TD3.2 (ITI-43, each requested document), TD3.3a-d (ITI-57, each updated entry);
`check_call` alone decides what does not depend on an entry (the DMP open, the caller's column, blocking,
emergency oppositions, the authorisation) and is where every decision starts.

Theory of operation. The order is the DMP's: the record first (rule 1), then who the caller is (the rights
matrix column, rule 12, and the patient's side), then the patient's choices about that caller (blocked,
rule 3; emergency oppositions, rule 14), the operation's matrix cell, the authorisation (rule 2), and last
the entry: authorship (rules 4-8), visibility (rules 9, 10, 11, 15, 19). An entry the caller may not see is
HIDE for reads (left out, rule 20: the DMP does not say why) and REFUSE for writes (TD3.3 on it, TD2.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from xdscore.access.caller import Actor, Authentication, Caller
from xdscore.access.entry import AccessEntry, Lifecycle
from xdscore.access.habilitation import DEFAULT_MATRIX, HabilitationMatrix
from xdscore.access.matrix import OPERATION_ROW, Cell, Operation, Row, cell, column_of
from xdscore.access.record import AuthorisationStatus, PatientRecord
from xdscore.access.rules import ALLOW, Decision, allow, hide, refuse
from xdscore.principal import AccessMode

READS = (Operation.SEARCH, Operation.LOOKUP, Operation.RETRIEVE)
# "*" of the matrix: for a patient-authored document only the MT (or the patient) may do these.
PATIENT_DOCUMENT_OPERATIONS = (Operation.DELETE, Operation.ARCHIVE, Operation.UNARCHIVE)
# The rule that governs each TD3.3 operation's matrix row.
OPERATION_RULE = {
    Operation.FEED: 12, Operation.SEARCH: 12, Operation.LOOKUP: 12, Operation.RETRIEVE: 12,
    Operation.MASK: 7, Operation.UNMASK: 7, Operation.SHOW_TO_PATIENT: 8,
    Operation.ARCHIVE: 6, Operation.UNARCHIVE: 6, Operation.DELETE: 5,
}  # fmt: skip


@dataclass(frozen=True)
class AccessPolicy:
    """What a deployment may configure (docs/dmp-access.md)."""

    habilitations: HabilitationMatrix = field(default_factory=lambda: DEFAULT_MATRIX)
    announcement_delay: timedelta = timedelta(days=30)  # R1111-53: "un mois"
    announcement_notice: timedelta = timedelta(days=14)  # R1111-53: "deux semaines"


DEFAULT_POLICY = AccessPolicy()


def _patient_side(caller: Caller) -> bool:
    return caller.actor in (Actor.PATIENT, Actor.LEGAL_REPRESENTATIVE)


def check_call(
    caller: Caller, record: PatientRecord | None, operation: Operation, now: datetime
) -> Decision:
    """The decision that does not depend on an entry: record, column, patient's choices, operation, authorisation."""
    if record is None:
        return refuse(1, "the patient has no DMP")
    if not record.is_open:
        return refuse(1, "the patient's DMP is closed")
    if _patient_side(caller):
        row_cell = cell(caller, OPERATION_ROW[operation])
        if row_cell is Cell.NO:
            return refuse(12, f"{operation.value} is a professional's act; the {caller.actor.value} cannot do it")
        return ALLOW
    if caller.actor is not Actor.STRUCTURE and record.is_blocked(caller.person_id):
        return refuse(3, f"the patient blocked professional {caller.person_id} from the DMP")
    if caller.mode is not AccessMode.NORMAL:
        if record.hidden_from_everyone:
            return refuse(14, "the patient hid every document of the DMP, from emergency access too")
        if caller.mode is AccessMode.BRIS_DE_GLACE and record.opposes_bris_de_glace:
            return refuse(14, "the patient opposed bris de glace access to the DMP")
        if caller.mode is AccessMode.CENTRE_15 and record.opposes_centre_15:
            return refuse(14, "the patient opposed access by the centre 15 (SAMU) to the DMP")
    column = column_of(caller)
    if column is None:
        return refuse(12, f"the rights matrix has no column for {caller.describe()}")
    row_cell = cell(caller, OPERATION_ROW[operation])
    if operation is Operation.RETRIEVE:
        # TD3.2 is refused outright when no kind of document is consultable (médecin du travail, structure, CPE).
        reads = [cell(caller, r) for r in (Row.READ, Row.READ_MASKED)]
        if all(c is Cell.NO for c in reads):
            rule = 13 if caller.actor is Actor.MEDECIN_DU_TRAVAIL else 12
            return refuse(rule, f"{caller.describe()} may not consult documents (TD3.2)")
    elif row_cell is Cell.NO:
        rule = 13 if caller.actor is Actor.MEDECIN_DU_TRAVAIL and operation in READS else OPERATION_RULE[operation]
        return refuse(rule, f"{caller.describe()} may not do {operation.value}")
    if operation in (Operation.SEARCH, Operation.RETRIEVE) and caller.mode is AccessMode.NORMAL:
        status = authorisation(caller, record, now)
        if status is not AuthorisationStatus.VALID:
            return refuse(2, f"{caller.describe()} holds no valid authorisation on the DMP ({status.value})")
    return ALLOW


def authorisation(caller: Caller, record: PatientRecord, now: datetime) -> AuthorisationStatus:
    """TD0.2's AUTORISATION for the caller: a DIRECTE professional's own; in AIR and indirect modes the
    structure's counts too (PDT-INF-606 note (1): the authorisation is given to the structure)."""
    structure = caller.structure_id if caller.authentication is not Authentication.DIRECTE else ""
    return record.authorisation_of(now, caller.person_id, structure)


def is_author(caller: Caller, entry: AccessEntry) -> bool:
    """EX_2.1-1140: DIRECTE / AIR by the caller's IdNat_PS, indirect / CPE by its structure's id."""
    if _patient_side(caller):
        return caller.actor is Actor.PATIENT and entry.patient_authored
    if caller.acts_for_structure:
        return bool(caller.structure_id) and caller.structure_id in entry.author_institutions
    return bool(caller.person_id) and caller.person_id in entry.author_persons


def _cell_allows(value: Cell | None, caller: Caller, record: PatientRecord, entry: AccessEntry) -> bool:
    if value is Cell.YES:
        return True
    if value is Cell.OWN:
        return is_author(caller, entry)
    if value is Cell.STRUCTURE:
        return bool(caller.structure_id) and caller.structure_id in entry.author_institutions
    if value is Cell.IF_PATIENT_ALLOWS:
        return record.masked_visible_in_emergency
    return False


def visibility(
    caller: Caller, record: PatientRecord, entry: AccessEntry, operation: Operation,
    policy: AccessPolicy, now: datetime,
) -> Decision:
    """May the caller see this entry at all (in a search, a lookup, a retrieve, before acting on it)?"""
    if _patient_side(caller):
        if entry.status is Lifecycle.DELETED:
            return hide(11, "deleted documents are not shown to the patient")
        if entry.invisible_to_patient and not announced(entry, policy, now):
            return hide(10, "INVISIBLE_PATIENT: not yet announced to the patient")
        if caller.actor is Actor.LEGAL_REPRESENTATIVE and entry.invisible_to_representatives:
            return hide(19, "INVISIBLE_REPRESENTANTS_LEGAUX: hidden from the legal representatives")
        return ALLOW
    author = is_author(caller, entry)
    if record.hidden_from_everyone and not author:
        return hide(9, "the patient hid every document from professionals")
    consults = cell(caller, Row.READ) is not Cell.NO
    if not consults:
        # Callers with no TD3.2 (médecin du travail; structure and CPE) see metadata or references only:
        # the médecin du travail never a masked document (MATRIX note, L1111-16), a structure or a CPE
        # only its own structure's documents (the lookup is "en vue de sa suppression", MATRIX (5)).
        if caller.acts_for_structure:
            return allow() if is_author(caller, entry) else hide(12, "not a document of the caller's structure")
        return hide(9, "masked to professionals") if entry.masked and not author else ALLOW
    rows = [(Row.READ_MASKED, 9) if entry.masked else (Row.READ, 12)]
    if entry.invisible_to_patient or entry.invisible_to_representatives:
        rows.append((Row.READ_INVISIBLE, 10))
    if entry.status is Lifecycle.ARCHIVED:
        rows.append((Row.READ_ARCHIVED, 11))
    elif entry.status is Lifecycle.DEPRECATED:
        rows.append((Row.READ_DEPRECATED, 11))
    elif entry.status is Lifecycle.DELETED:
        rows.append((Row.READ_DELETED, 11))
    for row, rule in rows:
        if not _cell_allows(cell(caller, row), caller, record, entry):
            return hide(rule, f"{row.value}: not for {caller.describe()}")
    if not author and not policy.habilitations.allows(caller.profession, entry.type_code):
        return hide(15, f"document type {entry.type_code} is not in profession {caller.profession}'s habilitations")
    return ALLOW


def announced(entry: AccessEntry, policy: AccessPolicy, now: datetime) -> bool:
    """R1111-53: an INVISIBLE_PATIENT document becomes visible to the patient one month after it was
    registered (a professional may make it visible earlier: TD3.3b removes the code); not a signature entry."""
    if entry.signature:  # rule 17: signatures stay hidden from the patient
        return False
    return entry.registered_at is not None and now >= entry.registered_at + policy.announcement_delay


def decide(
    caller: Caller, record: PatientRecord | None, entry: AccessEntry, operation: Operation,
    now: datetime, policy: AccessPolicy = DEFAULT_POLICY,
) -> Decision:
    """Allow, hide or refuse `operation` on `entry` (see the module docstring for the order)."""
    call = check_call(caller, record, operation, now)
    if not call.allowed or record is None:
        return call
    if operation is Operation.FEED:
        if is_author(caller, entry):
            return ALLOW
        who = "structure " + caller.structure_id if caller.acts_for_structure else caller.person_id or "?"
        return refuse(4, f"only an author adds or replaces a document; {who} is not an author of {entry.entry_uuid}")
    seen = visibility(caller, record, entry, operation, policy, now)
    if operation in READS:
        return seen
    if not seen.allowed:
        return refuse(20, f"document {entry.entry_uuid} is not available to {caller.describe()}")
    return _update(caller, record, entry, operation, now)


def _update(caller: Caller, record: PatientRecord, entry: AccessEntry, operation: Operation, now: datetime) -> Decision:
    """TD3.3a-d on an entry the caller can see."""
    rule = OPERATION_RULE[operation]
    if entry.patient_authored and operation in PATIENT_DOCUMENT_OPERATIONS:
        if caller.actor in (Actor.MEDECIN_TRAITANT, Actor.PATIENT, Actor.LEGAL_REPRESENTATIVE):
            return ALLOW
        return refuse(5, f"{operation.value} of a patient's own document: only the médecin traitant or the patient")
    if not _cell_allows(cell(caller, OPERATION_ROW[operation]), caller, record, entry):
        scope = "its structure's" if caller.acts_for_structure else "its own"
        return refuse(rule, f"{caller.describe()} may do {operation.value} on {scope} documents only")
    if _patient_side(caller) or is_author(caller, entry) or caller.mode is not AccessMode.NORMAL:
        return ALLOW
    if caller.authentication is Authentication.INDIRECTE or caller.actor is Actor.NON_PS:
        return ALLOW  # their cells are structure-scoped: they act on what they fed (MATRIX (9))
    status = authorisation(caller, record, now)
    if status is not AuthorisationStatus.VALID:
        return refuse(2, f"{caller.describe()} holds no valid authorisation on the DMP ({status.value})")
    return ALLOW
