"""Who is calling, as the DMP's rights matrix sees it: authentication, actor column, access mode.

The rights matrix (GIE SESAM-Vitale PDT-INF-526 v1.8, and PDT-INF-606 v1.3 for AIR) has one column per
(authentication, actor, access mode): direct authentication with a CPS/CPF card (PS non médecin, médecin,
médecin du travail, médecin traitant DMP), with a CPE card (non-PS staff), indirect authentication with a
structure certificate (certificat ES), and AIR (Authentification Indirecte Renforcée, VIHF
`Authentification_mode` INDIRECTE_RENFORCEE). `caller_of` places a verified `Principal` in that grid,
given the patient's record (the médecin traitant is a per-patient role; the patient and the legal
representatives are recognised by identity).

The patient and legal representatives are not in the matrix: their channel is Mon espace santé, not the
LPS services. This platform lets them call the same services with an assertion whose NameID is their INS
(CX or bare NIR) so their view can be tested; what they may do follows the law (docs/dmp-access.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from xdscore.access.record import PatientRecord, patient_key
from xdscore.principal import AccessMode, Principal

# TRE_G15 ProfessionSante (VIHF 1st role, codeSystem 1.2.250.1.71.1.2.7, also written G15_xx under
# 1.2.250.1.213.1.1.4.5 in J01). 10 = médecin, 21 = pharmacien.
PROFESSION_SYSTEMS = frozenset({"1.2.250.1.71.1.2.7", "1.2.250.1.213.1.1.4.5"})
MEDECIN = "10"
PHARMACIEN = "21"
# Savoir-faire (TRE_R38 / J01) of the médecin du travail: "Médecine du travail" as specialist (SM25),
# competence (C41) and capacity (CAPA11).
MEDECIN_DU_TRAVAIL_SPECIALTIES = frozenset({"SM25", "C41", "CAPA11"})


class Authentication(str, Enum):
    """The matrix's authentication groups (VIHF `Authentification_mode`, card type)."""

    DIRECTE = "DIRECTE"  # CPS / CPF / CPE card
    INDIRECTE = "INDIRECTE"  # structure certificate (certificat ES)
    AIR = "INDIRECTE_RENFORCEE"  # PDT-INF-606


class Actor(str, Enum):
    """The matrix's actor rows, plus the patient's side (not in the matrix)."""

    PS_NON_MEDECIN = "PS non médecin"
    MEDECIN = "médecin"
    MEDECIN_DU_TRAVAIL = "médecin du travail"
    MEDECIN_TRAITANT = "médecin traitant DMP"
    NON_PS = "non PS (CPE)"
    STRUCTURE = "structure (certificat ES)"
    PATIENT = "patient"
    LEGAL_REPRESENTATIVE = "représentant légal"


@dataclass(frozen=True)
class Caller:
    authentication: Authentication
    actor: Actor
    mode: AccessMode
    person_id: str = ""  # IdNat_PS (VIHF NameID); the patient's or representative's id
    structure_id: str = ""  # VIHF Identifiant_Structure
    profession: str = ""  # TRE_G15 code
    specialty: str = ""  # savoir-faire code

    @property
    def is_professional(self) -> bool:
        return self.actor not in (Actor.PATIENT, Actor.LEGAL_REPRESENTATIVE)

    @property
    def acts_for_structure(self) -> bool:
        """Indirect and CPE callers act for their structure: authorship is the structure's (MATRIX (4)(9))."""
        return self.actor in (Actor.STRUCTURE, Actor.NON_PS)

    def describe(self) -> str:
        who = self.person_id or self.structure_id or "?"
        return f"{self.actor.value} {who} ({self.authentication.value}, {self.mode.value})"


def authentication_of(principal: Principal) -> Authentication:
    """VIHF Authentification_mode; a VIHF without it (older clients send it only in AIR) is DIRECTE."""
    mode = principal.authentication_mode
    if mode == Authentication.AIR.value:
        return Authentication.AIR
    if mode == Authentication.INDIRECTE.value:
        return Authentication.INDIRECTE
    return Authentication.DIRECTE


def access_mode_of(principal: Principal) -> AccessMode:
    try:
        return AccessMode(principal.access_mode)
    except ValueError:  # wssec refuses other values; an unknown one is never an emergency
        return AccessMode.NORMAL


def _is_profession(system: str) -> bool:
    return system in PROFESSION_SYSTEMS


def _profession_code(code: str) -> str:
    return code.removeprefix("G15_").split("/")[0]


def is_same_patient(person_id: str, record: PatientRecord) -> bool:
    """The NameID names the record's patient: its INS as a CX, or the bare NIR."""
    if not person_id:
        return False
    if "^" in person_id:
        return patient_key(person_id) == patient_key(record.patient_id)
    return person_id == record.patient_id.split("^")[0]


def caller_of(principal: Principal, record: PatientRecord | None) -> Caller:
    """Place the verified caller in the matrix grid (see the module docstring)."""
    auth = authentication_of(principal)
    mode = access_mode_of(principal)
    person = principal.name_id
    profession = principal.profession
    specialty = principal.specialty
    prof_code = _profession_code(profession.code) if profession and _is_profession(profession.code_system) else ""
    spec_code = specialty.code.split("/")[-1] if specialty else ""

    def as_(actor: Actor) -> Caller:
        return Caller(auth, actor, mode, person, principal.structure_id, prof_code, spec_code)

    if record is not None and is_same_patient(person, record):
        return as_(Actor.PATIENT)
    if record is not None and record.is_legal_representative(person):
        return as_(Actor.LEGAL_REPRESENTATIVE)
    if auth is Authentication.INDIRECTE:
        return as_(Actor.STRUCTURE)
    if not prof_code:
        # No TRE_G15 profession: a CPE holder (non-PS staff, whose IdNat_PS is `3` + structure/internal id).
        return as_(Actor.NON_PS)
    if prof_code == MEDECIN:
        if record is not None and record.is_medecin_traitant(person):
            return as_(Actor.MEDECIN_TRAITANT)
        if spec_code in MEDECIN_DU_TRAVAIL_SPECIALTIES:
            return as_(Actor.MEDECIN_DU_TRAVAIL)
        return as_(Actor.MEDECIN)
    return as_(Actor.PS_NON_MEDECIN)
