"""Who calls the DMP's services, as the verified VIHF says (xdscore.principal.Principal; docs/security.md):
the professional's national id (NameID, IdNat_PS), the structure (Identifiant_Structure), the
authentication mode (DIRECTE: the card; INDIRECTE / INDIRECTE_RENFORCEE: the structure's seal), the access
mode (normal, bris_de_glace, centre_15), the profession and speciality, and the patient (resource-id).
"""

from __future__ import annotations

from dataclasses import dataclass

from dmp.model import Actor
from xdscore import vihf
from xdscore.access.record import ActorKind
from xdscore.dmpws.vocabulary import AuthorizationMode
from xdscore.model import PatientKey
from xdscore.principal import AccessMode, Principal


@dataclass(frozen=True)
class Caller:
    national_id: str  # IdNat_PS (VIHF NameID)
    structure_id: str = ""
    authentication_mode: str = ""  # DIRECTE | INDIRECTE | INDIRECTE_RENFORCEE
    access_mode: str = AccessMode.NORMAL.value
    first_name: str = ""
    last_name: str = ""
    profession: str = ""  # TRE_G15 code, e.g. 10 (médecin)
    profession_label: str = ""
    speciality: str = ""  # e.g. SM26
    speciality_label: str = ""
    patient: str = ""  # str(PatientKey) of the VIHF resource-id, empty when absent

    @classmethod
    def of(cls, principal: Principal) -> Caller:
        last, first = split_name(principal.subject_id if principal.subject_id != principal.name_id else "")
        profession, speciality = principal.profession, principal.specialty
        key = PatientKey.parse(principal.resource_id) if principal.resource_id else None
        return cls(
            national_id=principal.name_id or principal.subject_id,
            structure_id=principal.structure_id,
            authentication_mode=principal.authentication_mode,
            access_mode=principal.access_mode,
            first_name=first,
            last_name=last,
            profession=profession.code if profession else "",
            profession_label=profession.display_name if profession else "",
            speciality=speciality.code if speciality else "",
            speciality_label=speciality.display_name if speciality else "",
            patient=str(key) if key else "",
        )

    @property
    def indirect(self) -> bool:
        """Authenticated by the structure's seal: acts for the structure, not as a named professional."""
        return self.authentication_mode in (vihf.INDIRECTE, vihf.INDIRECTE_RENFORCEE)

    @property
    def normal_mode(self) -> bool:
        return self.access_mode == AccessMode.NORMAL.value

    @property
    def speciality_code(self) -> str:
        """TD1.6 codeSpeciality as KIT-MSG writes it: G15_<profession>/<speciality>."""
        if not self.profession:
            return ""
        return f"G15_{self.profession}" + (f"/{self.speciality}" if self.speciality else "")

    @property
    def speciality_text(self) -> str:
        return " - ".join(p for p in (self.profession_label, self.speciality_label) if p)

    def authorised(self, now: str) -> Actor:
        """This professional's row on a record once authorised now (TD1.1, TD0.3)."""
        return Actor(
            ActorKind.PROFESSIONAL, self.national_id, AuthorizationMode.ACTIVE, self.first_name, self.last_name,
            ((self.speciality_code, self.speciality_text),) if self.speciality_code else (),
            structure_id=self.structure_id, authorised_at=now, last_action_at=now, last_access_at=now)


def split_name(subject: str) -> tuple[str, str]:
    """(last name, first name) of a VIHF subject-id: "LAST, First" (XUA), or a card holder's CN
    "IdNat/LAST FIRST" (the CPS certificates), else the whole text as the last name."""
    if "," in subject:
        last, _, first = subject.partition(",")
        return last.strip(), first.strip()
    if "/" in subject:
        last, _, first = subject.split("/", 1)[1].strip().partition(" ")
        return last, first.strip()
    return subject.strip(), ""
