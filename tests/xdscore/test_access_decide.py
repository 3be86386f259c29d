"""The DMP access decision, table-driven: one row per rule and caller (docs/dmp-access.md has the rules).

Each row: a caller (built as the VIHF would carry it, then placed by `caller_of`), a change to the patient's
record, an entry, an operation, and the expected effect and rule id.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from xdscore.access.caller import Actor, Authentication, caller_of
from xdscore.access.decide import AccessPolicy, decide
from xdscore.access.entry import AccessEntry, Lifecycle
from xdscore.access.habilitation import HabilitationMatrix
from xdscore.access.matrix import Operation as Op
from xdscore.access.record import (
    ActorKind,
    Authorisation,
    LegalRepresentative,
    PatientRecord,
    RecordStatus,
)
from xdscore.access.rules import RULES, Effect
from xdscore.principal import CodedValue, Principal

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
PATIENT = "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"
REPRESENTATIVE = "153078987658513^^^&1.2.250.1.213.1.4.10&ISO^NH"
AUTHOR, DOCTOR, MT, PHARMACIST, NURSE = "899900063480", "810000000001", "810000000002", "810000000003", "810000000004"
WORK_DOCTOR, EMERGENCY, BLOCKED, STRANGER = "810000000005", "810000000006", "810000000009", "810000000007"
STRUCTURE, OTHER_STRUCTURE = "499900063480001", "499900000000002"
CPE = "3499900063480001/CPE01"

G15 = "1.2.250.1.71.1.2.7"
MEDECIN = CodedValue("10", G15)
MG = CodedValue("SM26", "1.2.250.1.71.4.2.5")
TRAVAIL = CodedValue("SM25", "1.2.250.1.71.4.2.5")
PHARMACIEN = CodedValue("21", G15)
OFFICINE = CodedValue("G15_21/SECTION_A", "1.2.250.1.213.1.1.4.5")
INFIRMIER = CodedValue("60", G15)
SECRETAIRE = CodedValue("SECRETARIAT_MEDICAL", "1.2.250.1.213.1.1.4.6")

RECORD = PatientRecord(
    patient_id=PATIENT,
    medecins_traitants=frozenset({MT}),
    authorised=(
        Authorisation(AUTHOR), Authorisation(DOCTOR), Authorisation(PHARMACIST), Authorisation(NURSE),
        Authorisation(WORK_DOCTOR), Authorisation(BLOCKED), Authorisation(STRUCTURE, ActorKind.STRUCTURE),
        Authorisation(STRANGER, expires_at=NOW - timedelta(days=1)),
    ),
    blocked=frozenset({BLOCKED}),
    legal_representatives=(LegalRepresentative(REPRESENTATIVE),),
)


def vihf(
    name_id: str, *roles: CodedValue, mode: str = "DIRECTE", access: str = "normal", structure: str = STRUCTURE
) -> Principal:
    return Principal(subject_id=name_id, name_id=name_id, roles=roles, authentication_mode=mode,
                     access_mode=access, structure_id=structure, vihf_version="3.0")


CALLERS = {
    "patient": vihf(PATIENT),
    "representative": vihf(REPRESENTATIVE),
    "author": vihf(AUTHOR, MEDECIN, MG),
    "doctor": vihf(DOCTOR, MEDECIN, MG),
    "mt": vihf(MT, MEDECIN, MG),
    "mt-bdg": vihf(MT, MEDECIN, MG, access="bris_de_glace"),
    "mt-c15": vihf(MT, MEDECIN, MG, access="centre_15"),
    "pharmacist": vihf(PHARMACIST, PHARMACIEN, OFFICINE),
    "nurse": vihf(NURSE, INFIRMIER),
    "nurse-c15": vihf(NURSE, INFIRMIER, access="centre_15"),
    "work-doctor": vihf(WORK_DOCTOR, MEDECIN, TRAVAIL),
    "blocked": vihf(BLOCKED, MEDECIN, MG),
    "stranger": vihf(STRANGER, MEDECIN, MG),
    "bdg": vihf(EMERGENCY, MEDECIN, MG, access="bris_de_glace"),
    "c15": vihf(EMERGENCY, MEDECIN, MG, access="centre_15"),
    "indirecte": vihf(STRUCTURE, mode="INDIRECTE"),
    "indirecte-other": vihf(OTHER_STRUCTURE, mode="INDIRECTE", structure=OTHER_STRUCTURE),
    "indirecte-bdg": vihf(STRUCTURE, mode="INDIRECTE", access="bris_de_glace"),
    "indirecte-c15": vihf(STRUCTURE, mode="INDIRECTE", access="centre_15"),
    "air": vihf(DOCTOR, MEDECIN, MG, mode="INDIRECTE_RENFORCEE"),
    "air-author": vihf(AUTHOR, MEDECIN, MG, mode="INDIRECTE_RENFORCEE"),
    "air-work-doctor": vihf(WORK_DOCTOR, MEDECIN, TRAVAIL, mode="INDIRECTE_RENFORCEE"),
    "cpe": vihf(CPE, SECRETAIRE),
    "cpe-bdg": vihf(CPE, SECRETAIRE, access="bris_de_glace"),
}

DOC = AccessEntry("urn:uuid:doc", author_persons=frozenset({AUTHOR}), author_institutions=frozenset({STRUCTURE}),
                  type_code="11488-4", registered_at=NOW - timedelta(days=2))
ENTRIES = {
    "doc": DOC,
    "masked": replace(DOC, masked=True),
    "invisible": replace(DOC, invisible_to_patient=True),
    "invisible-15d": replace(DOC, invisible_to_patient=True, registered_at=NOW - timedelta(days=15)),
    "invisible-31d": replace(DOC, invisible_to_patient=True, registered_at=NOW - timedelta(days=31)),
    "secret": replace(DOC, invisible_to_representatives=True),
    "signature": replace(DOC, masked=True, invisible_to_patient=True, type_code="E1762", signature=True),
    "signature-31d": replace(DOC, masked=True, invisible_to_patient=True, type_code="E1762", signature=True,
                             registered_at=NOW - timedelta(days=31)),
    "archived": replace(DOC, status=Lifecycle.ARCHIVED),
    "deprecated": replace(DOC, status=Lifecycle.DEPRECATED),
    "deleted": replace(DOC, status=Lifecycle.DELETED),
    "directives": replace(DOC, type_code="EXPPAT_3"),
    "residence": replace(DOC, type_code="ATTEST-RESID"),
    "patient-doc": AccessEntry("urn:uuid:pat", patient_authored=True, type_code="DOCPAT01"),
    "other-structure": AccessEntry("urn:uuid:other", author_persons=frozenset({STRANGER}),
                                   author_institutions=frozenset({OTHER_STRUCTURE}), type_code="11488-4"),
}

A, H, R = Effect.ALLOW, Effect.HIDE, Effect.REFUSE
# (caller, record change, entry, operation, effect, rule)
ROWS: list[tuple[str, dict[str, object], str, Op, Effect, int]] = [
    # rule 1: an open DMP
    ("doctor", {"status": RecordStatus.CLOSED}, "doc", Op.SEARCH, R, 1),
    ("author", {"status": RecordStatus.CLOSED}, "doc", Op.FEED, R, 1),
    ("patient", {"status": RecordStatus.CLOSED}, "doc", Op.RETRIEVE, R, 1),
    # rule 2: a valid authorisation to consult; not to feed; not in the emergency modes
    ("doctor", {}, "doc", Op.SEARCH, A, 0),
    ("doctor", {}, "doc", Op.RETRIEVE, A, 0),
    ("stranger", {}, "doc", Op.SEARCH, R, 2),
    ("stranger", {}, "doc", Op.RETRIEVE, R, 2),
    ("doctor", {"authorised": ()}, "doc", Op.RETRIEVE, R, 2),
    ("mt", {"authorised": ()}, "doc", Op.RETRIEVE, A, 0),
    ("c15", {}, "doc", Op.RETRIEVE, A, 0),
    ("bdg", {}, "doc", Op.RETRIEVE, A, 0),
    ("author", {"authorised": ()}, "doc", Op.FEED, A, 0),
    ("air", {}, "doc", Op.RETRIEVE, A, 0),
    ("stranger", {}, "doc", Op.MASK, R, 2),
    # rule 3: a blocked professional never gets in, authorised or not
    ("blocked", {}, "doc", Op.SEARCH, R, 3),
    ("blocked", {}, "doc", Op.FEED, R, 3),
    ("mt", {"blocked": frozenset({MT})}, "doc", Op.RETRIEVE, R, 3),
    # rule 4: only an author feeds (DIRECTE by IdNat_PS, indirect / CPE by structure)
    ("author", {}, "doc", Op.FEED, A, 0),
    ("doctor", {}, "doc", Op.FEED, R, 4),
    ("indirecte", {}, "doc", Op.FEED, A, 0),
    ("indirecte-other", {}, "doc", Op.FEED, R, 4),
    ("cpe", {}, "doc", Op.FEED, A, 0),
    ("patient", {}, "patient-doc", Op.FEED, A, 0),
    ("patient", {}, "doc", Op.FEED, R, 4),
    # rule 12: AIR does not feed; indirect looks up references only; CPE neither searches nor retrieves
    ("air-author", {}, "doc", Op.FEED, R, 12),
    ("indirecte", {}, "doc", Op.SEARCH, R, 12),
    ("indirecte", {}, "doc", Op.RETRIEVE, R, 12),
    ("indirecte", {}, "doc", Op.LOOKUP, A, 0),
    ("indirecte", {}, "other-structure", Op.LOOKUP, H, 12),
    ("indirecte-bdg", {}, "doc", Op.LOOKUP, R, 12),
    ("indirecte-c15", {}, "doc", Op.LOOKUP, A, 0),
    ("cpe", {}, "doc", Op.SEARCH, R, 12),
    ("cpe", {}, "doc", Op.RETRIEVE, R, 12),
    ("cpe", {}, "signature", Op.LOOKUP, A, 0),
    ("cpe-bdg", {}, "doc", Op.FEED, R, 12),
    ("air", {}, "doc", Op.SEARCH, A, 0),
    ("air-work-doctor", {}, "doc", Op.SEARCH, R, 12),
    # rule 13: médecin du travail: metadata yes (masked ones hidden), retrieve no
    ("work-doctor", {}, "doc", Op.SEARCH, A, 0),
    ("work-doctor", {}, "masked", Op.SEARCH, H, 9),
    ("work-doctor", {}, "doc", Op.RETRIEVE, R, 13),
    ("work-doctor", {}, "doc", Op.MASK, A, 0),
    ("work-doctor", {}, "doc", Op.SHOW_TO_PATIENT, A, 0),
    # rule 5: delete own documents; structure documents for indirect / CPE; a patient's by the MT or patient
    ("author", {}, "doc", Op.DELETE, A, 0),
    ("doctor", {}, "doc", Op.DELETE, R, 5),
    ("mt", {}, "doc", Op.DELETE, R, 5),
    ("bdg", {}, "doc", Op.DELETE, R, 5),
    ("indirecte", {}, "doc", Op.DELETE, A, 0),
    ("indirecte-other", {}, "doc", Op.DELETE, R, 20),
    ("cpe", {}, "signature", Op.DELETE, A, 0),
    ("mt", {}, "patient-doc", Op.DELETE, A, 0),
    ("doctor", {}, "patient-doc", Op.DELETE, R, 5),
    ("patient", {}, "patient-doc", Op.DELETE, A, 0),
    ("patient", {}, "doc", Op.DELETE, R, 5),
    # rule 6: archive own documents in normal mode, the MT any, médecins in régulation / bris de glace
    ("author", {}, "doc", Op.ARCHIVE, A, 0),
    ("doctor", {}, "doc", Op.ARCHIVE, R, 6),
    ("mt", {}, "doc", Op.ARCHIVE, A, 0),
    ("mt-bdg", {}, "doc", Op.UNARCHIVE, A, 0),
    ("c15", {}, "doc", Op.ARCHIVE, A, 0),
    ("nurse-c15", {}, "doc", Op.ARCHIVE, R, 6),
    ("air", {}, "doc", Op.ARCHIVE, A, 0),
    ("indirecte", {}, "doc", Op.ARCHIVE, R, 6),
    ("patient", {}, "doc", Op.ARCHIVE, R, 12),
    ("mt", {}, "patient-doc", Op.ARCHIVE, A, 0),
    ("author", {}, "patient-doc", Op.ARCHIVE, R, 5),
    # rule 7: any PS masks in normal mode; unmask own, the MT any
    ("doctor", {}, "doc", Op.MASK, A, 0),
    ("nurse", {}, "doc", Op.MASK, A, 0),
    ("bdg", {}, "doc", Op.MASK, R, 7),
    ("indirecte", {}, "doc", Op.MASK, R, 7),
    ("author", {}, "masked", Op.UNMASK, A, 0),
    ("mt", {}, "masked", Op.UNMASK, A, 0),
    ("doctor", {}, "masked", Op.UNMASK, R, 20),
    ("patient", {}, "masked", Op.UNMASK, A, 0),
    ("patient", {}, "doc", Op.MASK, A, 0),
    # rule 8: make visible to the patient
    ("doctor", {}, "invisible", Op.SHOW_TO_PATIENT, A, 0),
    ("mt", {}, "invisible", Op.SHOW_TO_PATIENT, A, 0),
    ("c15", {}, "invisible", Op.SHOW_TO_PATIENT, R, 8),
    ("patient", {}, "invisible-31d", Op.SHOW_TO_PATIENT, R, 12),
    # rule 9: masked documents: author and MT; emergency only if the patient allowed it
    ("author", {}, "masked", Op.RETRIEVE, A, 0),
    ("mt", {}, "masked", Op.RETRIEVE, A, 0),
    ("doctor", {}, "masked", Op.SEARCH, H, 9),
    ("doctor", {}, "masked", Op.RETRIEVE, H, 9),
    ("pharmacist", {}, "masked", Op.RETRIEVE, H, 9),
    ("bdg", {}, "masked", Op.RETRIEVE, H, 9),
    ("bdg", {"masked_visible_in_emergency": True}, "masked", Op.RETRIEVE, A, 0),
    ("c15", {"masked_visible_in_emergency": True}, "masked", Op.SEARCH, A, 0),
    ("mt-bdg", {}, "masked", Op.RETRIEVE, H, 9),
    ("mt-bdg", {"masked_visible_in_emergency": True}, "masked", Op.RETRIEVE, A, 0),
    ("patient", {}, "masked", Op.RETRIEVE, A, 0),
    ("doctor", {"hidden_from_everyone": True}, "doc", Op.SEARCH, H, 9),
    ("author", {"hidden_from_everyone": True}, "doc", Op.SEARCH, A, 0),
    ("patient", {"hidden_from_everyone": True}, "doc", Op.SEARCH, A, 0),
    # rule 10: INVISIBLE_PATIENT: every consulting PS sees it, the patient only once announced (D+30)
    ("doctor", {}, "invisible", Op.RETRIEVE, A, 0),
    ("patient", {}, "invisible", Op.SEARCH, H, 10),
    ("patient", {}, "invisible-15d", Op.RETRIEVE, H, 10),
    ("patient", {}, "invisible-31d", Op.RETRIEVE, A, 0),
    ("representative", {}, "invisible", Op.SEARCH, H, 10),
    # rule 11: archived / obsolete / deleted stay consultable by PS; deleted ones not by the patient
    ("doctor", {}, "archived", Op.RETRIEVE, A, 0),
    ("doctor", {}, "deprecated", Op.RETRIEVE, A, 0),
    ("nurse", {}, "deleted", Op.RETRIEVE, A, 0),
    ("patient", {}, "archived", Op.RETRIEVE, A, 0),
    ("patient", {}, "deleted", Op.SEARCH, H, 11),
    # rule 14: emergency modes, unless the patient opposed them
    ("bdg", {"opposes_bris_de_glace": True}, "doc", Op.RETRIEVE, R, 14),
    ("c15", {"opposes_bris_de_glace": True}, "doc", Op.RETRIEVE, A, 0),
    ("c15", {"opposes_centre_15": True}, "doc", Op.SEARCH, R, 14),
    ("bdg", {"hidden_from_everyone": True}, "doc", Op.SEARCH, R, 14),
    ("doctor", {"opposes_bris_de_glace": True}, "doc", Op.RETRIEVE, A, 0),
    # rule 15: the profession × document-type matrix
    ("pharmacist", {}, "doc", Op.RETRIEVE, A, 0),
    ("pharmacist", {}, "directives", Op.SEARCH, H, 15),
    ("pharmacist", {}, "directives", Op.RETRIEVE, H, 15),
    ("doctor", {}, "directives", Op.RETRIEVE, A, 0),
    ("doctor", {}, "residence", Op.SEARCH, H, 15),
    ("author", {}, "residence", Op.SEARCH, A, 0),
    # rule 17: signature entries (MASQUE_PS + INVISIBLE_PATIENT): their author (and the MT) only
    ("author", {}, "signature", Op.SEARCH, A, 0),
    ("doctor", {}, "signature", Op.SEARCH, H, 9),
    ("patient", {}, "signature", Op.SEARCH, H, 10),
    ("patient", {}, "signature-31d", Op.SEARCH, H, 10),
    # rule 19: INVISIBLE_REPRESENTANTS_LEGAUX
    ("representative", {}, "secret", Op.RETRIEVE, H, 19),
    ("patient", {}, "secret", Op.RETRIEVE, A, 0),
    ("doctor", {}, "secret", Op.RETRIEVE, A, 0),
    ("representative", {}, "doc", Op.RETRIEVE, A, 0),
    # rule 20: acting on a document one cannot see is refused as if it did not exist
    ("pharmacist", {}, "directives", Op.MASK, R, 20),
    ("doctor", {}, "signature", Op.DELETE, R, 20),
]


@pytest.mark.parametrize(
    ("who", "change", "what", "operation", "effect", "rule"),
    ROWS,
    ids=[f"{w}-{op.name}-{e}-{eff.value}-r{r}" + ("-" + ",".join(c) if c else "") for w, c, e, op, eff, r in ROWS],
)
def test_decision(who: str, change: dict[str, object], what: str, operation: Op, effect: Effect, rule: int) -> None:
    record = replace(RECORD, **change)  # type: ignore[arg-type]
    caller = caller_of(CALLERS[who], record)
    decision = decide(caller, record, ENTRIES[what], operation, NOW)
    assert (decision.effect, decision.rule) == (effect, rule), decision.reason
    assert bool(decision.reason) == (effect is not Effect.ALLOW)


def test_every_enforced_rule_has_a_row() -> None:
    """Rules 16 (versioning) and 18 (value sets) are not access decisions (ITI-57, the dmp profile); rule 17
    is what rules 9 and 10 do to signature entries (its rows above)."""
    covered = {rule for *_, rule in ROWS} - {0}
    assert set(RULES) - covered == {16, 17, 18}


@pytest.mark.parametrize(
    ("who", "actor", "authentication"),
    [
        ("patient", Actor.PATIENT, Authentication.DIRECTE),
        ("representative", Actor.LEGAL_REPRESENTATIVE, Authentication.DIRECTE),
        ("doctor", Actor.MEDECIN, Authentication.DIRECTE),
        ("mt", Actor.MEDECIN_TRAITANT, Authentication.DIRECTE),
        ("pharmacist", Actor.PS_NON_MEDECIN, Authentication.DIRECTE),
        ("work-doctor", Actor.MEDECIN_DU_TRAVAIL, Authentication.DIRECTE),
        ("indirecte", Actor.STRUCTURE, Authentication.INDIRECTE),
        ("air", Actor.MEDECIN, Authentication.AIR),
        ("cpe", Actor.NON_PS, Authentication.DIRECTE),
    ],
)
def test_caller_of(who: str, actor: Actor, authentication: Authentication) -> None:
    caller = caller_of(CALLERS[who], RECORD)
    assert (caller.actor, caller.authentication) == (actor, authentication)


def test_patient_recognised_by_bare_nir() -> None:
    assert caller_of(vihf("207058575627097"), RECORD).actor is Actor.PATIENT


def test_no_record_refuses_everyone() -> None:
    decision = decide(caller_of(CALLERS["doctor"], None), None, DOC, Op.SEARCH, NOW)
    assert (decision.effect, decision.rule) == (Effect.REFUSE, 1)


def test_habilitations_and_delays_are_configurable() -> None:
    policy = AccessPolicy(habilitations=HabilitationMatrix.from_mapping({"60": ["11488-4"]}),
                          announcement_delay=timedelta(days=1))
    nurse = caller_of(CALLERS["nurse"], RECORD)
    assert decide(nurse, RECORD, DOC, Op.RETRIEVE, NOW, policy).effect is Effect.HIDE
    assert decide(caller_of(CALLERS["pharmacist"], RECORD), RECORD, ENTRIES["directives"], Op.RETRIEVE, NOW,
                  policy).effect is Effect.ALLOW
    patient = caller_of(CALLERS["patient"], RECORD)
    assert decide(patient, RECORD, ENTRIES["invisible"], Op.RETRIEVE, NOW, policy).effect is Effect.ALLOW
