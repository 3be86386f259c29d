"""The authenticated caller of a transaction, as read from a verified SAML assertion (ITI-40 XUA; VIHF).

Built only by `xdscore.wssec` from the element whose signature was verified. Transactions use it for
access decisions (DMP rules) and the audit builders for the human-requestor ActiveParticipant.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CodedValue:
    code: str
    code_system: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class Principal:
    subject_id: str  # the human (XUA subject-id) or NameID
    name_id: str = ""
    issuer: str = ""
    sp_provided_id: str = ""
    organization: str = ""
    organization_id: str = ""
    roles: tuple[CodedValue, ...] = ()
    purpose_of_use: tuple[CodedValue, ...] = ()
    resource_id: str = ""  # the patient the assertion is about (CX), when given
    # French VIHF attributes (CI-SIS "Authentification des acteurs" / DMP): see docs/security.md
    vihf_version: str = ""
    authentication_mode: str = ""
    structure_id: str = ""  # Identifiant_Structure
    activity_sector: str = ""  # Secteur_Activite
    access_mode: str = "normal"  # normal | bris_de_glace | centre_15
    software: dict[str, str] = field(default_factory=dict)  # LPS_* attributes
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # every attribute, by name

    @property
    def audit_user_id(self) -> str:
        """`SPProvidedID<NameID@Issuer>` as IHE XUA asks ATNA to record the human requestor."""
        return f"{self.sp_provided_id}<{self.name_id or self.subject_id}@{self.issuer}>"
