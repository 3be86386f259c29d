"""The DMP patient record the access rules read: status, the patient's choices, who may act on it.

One record per patient (INS). `dmp/` keeps the records (SQL, with their history) and fills this model;
the registry and the repository read it through the `PatientRecords` port and hand it to
`xdscore.access.decide`. Sources (`../shared/spec/dmp-services.md` §2a/§2b,
`../shared/spec/dmp-access-and-scale.md` §2):
- status open / closed: TD0.2 `statusCode` active / terminated, TD1.4 close, TD1.2 reactivate (rule 1);
- oppositions to emergency access: TD1.3a OPPOSITION_BRIS_DE_GLACE / OPPOSITION_ACCES_URGENCE
  (CSP L1111-17 I; rule 14);
- hidden from everyone: the Mon espace santé setting hiding every document, emergency access included
  (service-public.fr, dmp-access-and-scale.md §2.2 item 9);
- médecin traitant DMP: TD0.3 `setAuthorization` role MEDECIN_TRAITANT, TD0.2 STATUT_MT (CSP L1111-16);
- authorised professionals and structures: TD0.3 AJOUT / SUPPRESSION, TD1.6 mode ACTIVE (rule 2);
- blocked professionals: TD1.6 mode INTERDITE (rule 3, CSP L1111-19);
- legal representatives: TD1.3a `personalRelationship` (rule 10, R1111-53; rule 19).

Identifiers are compared as the DMP writes them: a professional is its IdNat_PS (`8` + RPPS, `0` + ADELI,
`3` + internal id; the VIHF NameID and an author's XCN.1), a structure its Struct_IdNat (the VIHF
`Identifiant_Structure` and an authorInstitution's XON.10). A patient is keyed by `patient_key` of its
INS CX, so `NIR^^^&1.2.250.1.213.1.4.10&ISO^NH` and `NIR^^^&1.2.250.1.213.1.4.10&ISO` are one patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from xdscore.model import PatientKey


class RecordStatus(str, Enum):
    """The DMP's state, with TD0.2's HL7 v3 `statusCode` values."""

    OPEN = "active"
    CLOSED = "terminated"


class AuthorisationStatus(str, Enum):
    """TD0.2 attentionLine AUTORISATION (`1.2.250.1.213.4.1.2.6.1`): the caller's authorisation on the DMP."""

    VALID = "VALIDE"
    NONE = "NON_EXISTE"
    EXPIRED = "EXPIRE"
    FORBIDDEN = "INTERDIT"  # the patient blocked this professional


class ActorKind(str, Enum):
    """Who an authorisation names: a professional (TD0.3 in DIRECTE mode) or a structure (TD0.4 indirect)."""

    PROFESSIONAL = "PS"
    STRUCTURE = "STRUCTURE"


@dataclass(frozen=True)
class Authorisation:
    """A professional or structure the patient authorised (TD0.3 AJOUT, TD1.6 mode ACTIVE)."""

    actor_id: str  # IdNat_PS or Struct_IdNat
    actor_kind: ActorKind = ActorKind.PROFESSIONAL
    granted_at: datetime | None = None
    expires_at: datetime | None = None  # None: no end date (the current duration is [U])

    def valid_at(self, at: datetime) -> bool:
        return self.expires_at is None or at < self.expires_at


@dataclass(frozen=True)
class LegalRepresentative:
    """A person holding parental authority or a legal protection measure (TD1.3a personalRelationship)."""

    person_id: str  # as the caller is identified (VIHF NameID), e.g. the representative's own INS
    name: str = ""
    relationship: str = ""  # HL7 RoleCode of the personalRelationship, when known


@dataclass(frozen=True)
class PatientRecord:
    """A patient's DMP as the access rules see it; immutable, a fresh one per request."""

    patient_id: str  # the INS as a CX, `NIR^^^&authority&ISO^NH`
    status: RecordStatus = RecordStatus.OPEN
    opposes_bris_de_glace: bool = False
    opposes_centre_15: bool = False
    hidden_from_everyone: bool = False  # every document hidden from every professional, emergencies included
    # MASQUE_PS documents shown in the emergency modes (MATRIX TD3.2 notes (6)(7): "only if the patient
    # authorised it"); the DMP's default is not to show them.
    masked_visible_in_emergency: bool = False
    medecins_traitants: frozenset[str] = frozenset()  # IdNat_PS; usually one
    authorised: tuple[Authorisation, ...] = ()
    blocked: frozenset[str] = frozenset()  # IdNat_PS
    legal_representatives: tuple[LegalRepresentative, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status is RecordStatus.OPEN

    def is_blocked(self, professional_id: str) -> bool:
        return bool(professional_id) and professional_id in self.blocked

    def is_medecin_traitant(self, professional_id: str) -> bool:
        return bool(professional_id) and professional_id in self.medecins_traitants

    def is_legal_representative(self, person_id: str) -> bool:
        return bool(person_id) and any(r.person_id == person_id for r in self.legal_representatives)

    def authorisation_of(
        self, at: datetime, professional_id: str = "", structure_id: str = ""
    ) -> AuthorisationStatus:
        """TD0.2's answer for a caller: INTERDIT if blocked, VALIDE if the professional or the structure
        holds a current authorisation, EXPIRE if only an ended one, else NON_EXISTE. The médecin traitant is
        authorised by that role (TD0.3). Pass `structure_id` only for callers whose authorisation is their
        structure's (indirect authentication, AIR: PDT-INF-606 note (1), "l'autorisation est donnée à la
        structure"); a DIRECTE professional's authorisation is its own."""
        if self.is_blocked(professional_id):
            return AuthorisationStatus.FORBIDDEN
        if self.is_medecin_traitant(professional_id):
            return AuthorisationStatus.VALID
        found = [
            a
            for a in self.authorised
            if (a.actor_kind is ActorKind.PROFESSIONAL and professional_id and a.actor_id == professional_id)
            or (a.actor_kind is ActorKind.STRUCTURE and structure_id and a.actor_id == structure_id)
        ]
        if any(a.valid_at(at) for a in found):
            return AuthorisationStatus.VALID
        return AuthorisationStatus.EXPIRED if found else AuthorisationStatus.NONE


def patient_key(cx: str) -> str:
    """The part of an INS CX that names the patient, `id^^^&authority&ISO` (`xdscore.model.PatientKey`:
    CX.1 and the CX.4 OID; CX.5 `NH`, CX.7 dates and the CX.4 spelling do not matter). A value that is no
    CX is its own key."""
    key = PatientKey.parse(cx.strip())
    return str(key) if key is not None else cx.strip()


class PatientRecords(Protocol):
    """The port the registry and the repository read patient records through; `dmp/` implements it."""

    def record_for(self, patient_id: str) -> PatientRecord | None:
        """The record of the patient whose INS CX is `patient_id` (matched by `patient_key`), None when the
        patient has no DMP."""
        ...
