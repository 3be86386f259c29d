"""The authenticated caller of a transaction, as read from a verified SAML assertion (ITI-40 XUA; VIHF).

Built only by `xdscore.wssec` from the element whose signature was verified (never from a search in the
message). It names the caller in the audit trail: the audit builders make the human-requestor
ActiveParticipant from it (ITI TF-2b 3.40.4.2: UserID `SPProvidedID<NameID@Issuer>`, RoleIDCode from the
role attribute, PurposeOfUse), and the repository takes the patient of an ITI-43 from its resource-id.
Under XDS_PROFILE=dmp the DMP access rules decide on it (`xdscore.access.caller_of` places it in the rights
matrix: authentication mode, profession, structure, access mode; docs/dmp-access.md).

The French VIHF (CI-SIS, "Vecteur d'Identification et d'Habilitation Formelles") is a XUA assertion with
extra attributes: `docs/security.md` maps each attribute to a field below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class AccessMode(str, Enum):
    """VIHF purposeofuse codes (TRE_R248 ModeAcces / JDV_J38). The value is the wire code."""

    NORMAL = "normal"
    BRIS_DE_GLACE = "bris_de_glace"  # emergency access (Code de la santé publique R1111-48)
    CENTRE_15 = "centre_15"  # access by a SAMU regulation centre


class AuthenticatedBy(str, Enum):
    """How the caller was authenticated: the assertion's own XML signature, or (DMP DIRECTE with an
    unsigned VIHF) the TLS client certificate of the connection, the professional's card."""

    SIGNATURE = "signature"
    TLS_CLIENT_CERTIFICATE = "tls-client-certificate"


@dataclass(frozen=True)
class CodedValue:
    """An HL7 v3 CE as carried in XUA attributes (hl7:Role, hl7:PurposeOfUse)."""

    code: str
    code_system: str = ""
    display_name: str = ""
    code_system_name: str = ""


@dataclass(frozen=True)
class SignerCertificate:
    """Who signed the assertion: the professional's card (CPS) or the organisation's seal certificate."""

    subject: str  # RFC 4514
    issuer: str  # RFC 4514
    serial_number: int
    sha256: str  # hex fingerprint of the DER certificate


@dataclass(frozen=True)
class Principal:
    # --- SAML core (verified assertion) ---
    subject_id: str  # XUA subject-id attribute (the person's name), else the NameID
    name_id: str = ""
    issuer: str = ""
    sp_provided_id: str = ""
    assertion_id: str = ""
    authn_context: str = ""  # AuthnContextClassRef
    authn_instant: str = ""
    signer: SignerCertificate | None = None  # the assertion's signer, or the TLS client certificate (below)
    authenticated_by: AuthenticatedBy = AuthenticatedBy.SIGNATURE
    # --- IHE XUA attributes ---
    organization: str = ""
    organization_id: str = ""
    roles: tuple[CodedValue, ...] = ()
    purpose_of_use: tuple[CodedValue, ...] = ()
    resource_id: str = ""  # the patient the assertion is about (CX), when given
    # --- French VIHF attributes (CI-SIS "Authentification des acteurs" / DMP): see docs/security.md ---
    vihf_version: str = ""  # empty when the assertion is plain XUA
    authentication_mode: str = ""  # DIRECTE | INDIRECTE | INDIRECTE_RENFORCEE
    structure_id: str = ""  # Identifiant_Structure
    activity_sector: str = ""  # Secteur_Activite, "code^codeSystem"
    resource_urn: str = ""  # Ressource_URN ("urn:dmp")
    access_mode: str = AccessMode.NORMAL.value  # normal | bris_de_glace | centre_15
    confidentiality_codes: tuple[CodedValue, ...] = ()  # "connexion secrète" (J64)
    software: dict[str, str] = field(default_factory=dict)  # LPS_* attributes
    # every attribute by name; hl7 CE values are written "code^codeSystem". Read-only by convention.
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def audit_user_id(self) -> str:
        """`SPProvidedID<NameID@Issuer>` as IHE XUA asks ATNA to record the human requestor."""
        return f"{self.sp_provided_id}<{self.name_id or self.subject_id}@{self.issuer}>"

    @property
    def is_vihf(self) -> bool:
        return bool(self.vihf_version)

    @property
    def is_emergency_access(self) -> bool:
        """True for the two DMP emergency modes, which skip the authorisation check but are traced."""
        return self.access_mode in (AccessMode.BRIS_DE_GLACE.value, AccessMode.CENTRE_15.value)

    @property
    def profession(self) -> CodedValue | None:
        """VIHF: the first role is the profession (TRE_G15) or the non-PS category."""
        return self.roles[0] if self.roles else None

    @property
    def specialty(self) -> CodedValue | None:
        """VIHF: the second role, mandatory for médecins and pharmaciens (savoir-faire / CNOP section)."""
        return self.roles[1] if len(self.roles) > 1 else None
