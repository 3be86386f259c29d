"""French VIHF attributes (CI-SIS "Vecteur d'Identification et d'Habilitation Formelles", VIHF 3.0/4.0).

The VIHF is an IHE XUA assertion carried on every DMP SOAP call. In DIRECTE mode the professional's card
authenticates the caller: it signs the VIHF, or (as in the official requests) the VIHF is unsigned and
the card is the TLS client certificate of the connection. In INDIRECTE / INDIRECTE_RENFORCEE mode the
VIHF is signed with the structure's seal certificate.
Attribute names and rules from the ANS HL7v2 IG VIHF mapping and its signed example, and the DRIMbox
client (../shared/spec/dmp-cisis.md §2). Checked here: required attributes, VIHF_Version, the
authentication mode, Ressource_URN = urn:dmp, Secteur_Activite as `code^codeSystem`, at least one role,
and exactly one purposeofuse whose code is an access mode of TRE_R248 (`normal`, `bris_de_glace`,
`centre_15`). Both OIDs seen for TRE_R248 are accepted (.248 in ANS's example, .336 on the terminology
server).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdscore import xua
from xdscore.principal import AccessMode, CodedValue
from xdscore.saml import SamlAttribute
from xdscore.wsse_faults import SecurityFault, WsseFault

VIHF_VERSION = "VIHF_Version"
# The official DMP example messages (KIT-MSG v02.05.00: TD2.1, the four VIHF samples) write
# "Authentification_mode"; the ANS HL7v2 IG's table writes "Authentification_Mode". Both are read.
AUTHENTIFICATION_MODE = "Authentification_mode"
AUTHENTIFICATION_MODE_IG = "Authentification_Mode"
IDENTIFIANT_STRUCTURE = "Identifiant_Structure"
SECTEUR_ACTIVITE = "Secteur_Activite"
RESSOURCE_URN = "Ressource_URN"
LPS_ID = "LPS_ID"
LPS_NOM = "LPS_Nom"
LPS_VERSION = "LPS_Version"
LPS_ID_HOMOLOGATION_DMP = "LPS_ID_HOMOLOGATION_DMP"
CONFIDENTIALITY_CODE = "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code"

LPS_ATTRIBUTES = (LPS_ID, LPS_NOM, LPS_VERSION, LPS_ID_HOMOLOGATION_DMP)

VERSIONS = frozenset({"3.0", "4.0"})
DIRECTE, INDIRECTE, INDIRECTE_RENFORCEE = "DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE"
AUTHENTICATION_MODES = frozenset({DIRECTE, INDIRECTE, INDIRECTE_RENFORCEE})
RESOURCE_URN_DMP = "urn:dmp"
ACCESS_MODE_CODE_SYSTEMS = frozenset({"1.2.250.1.213.1.1.4.248", "1.2.250.1.213.1.1.4.336"})

# Required by the VIHF profile (DRIMbox VIHFField flags; ANS HL7v2 IG table). Optional: LPS_ID,
# LPS_Version, resource-id, the confidentiality code, and Authentification_mode (older clients send it
# only in AIR mode). subject-id is not required in DIRECTE: the official DIRECTE requests carry none, the
# professional's card (its TLS client certificate or its signature) names the caller.
REQUIRED = frozenset(
    {
        VIHF_VERSION,
        IDENTIFIANT_STRUCTURE,
        SECTEUR_ACTIVITE,
        RESSOURCE_URN,
        LPS_NOM,
        LPS_ID_HOMOLOGATION_DMP,
        xua.SUBJECT_ID,
        xua.ROLE,
        xua.PURPOSE_OF_USE,
    }
)


def _token(reason: str) -> SecurityFault:
    return SecurityFault(WsseFault.INVALID_SECURITY_TOKEN, reason)


def authentication_mode(attributes: dict[str, SamlAttribute]) -> str:
    """The Authentification_mode value, under either spelling (empty when absent)."""
    present = [name for name in (AUTHENTIFICATION_MODE, AUTHENTIFICATION_MODE_IG) if name in attributes]
    if len(present) > 1:
        raise _token(f"the VIHF carries both {AUTHENTIFICATION_MODE} and {AUTHENTIFICATION_MODE_IG}; send one")
    return xua.single_text(attributes, present[0]) if present else ""


def required(attributes: dict[str, SamlAttribute]) -> frozenset[str]:
    """The attributes a VIHF must carry, given its authentication mode."""
    return REQUIRED - {xua.SUBJECT_ID} if authentication_mode(attributes) == DIRECTE else REQUIRED


@dataclass(frozen=True)
class VihfClaims:
    version: str
    authentication_mode: str
    structure_id: str
    activity_sector: str
    resource_urn: str
    access_mode: str
    confidentiality_codes: tuple[CodedValue, ...]
    software: dict[str, str]


def _confidentiality(attr: SamlAttribute | None) -> tuple[CodedValue, ...]:
    # The wire form is not pinned down in the public material (an hl7 CE or the bare J64 code):
    # accept both, keep the code.
    if attr is None:
        return ()
    out = []
    for value in attr.values:
        if value.element is not None:
            out.append(CodedValue(value.element.get("code", ""), value.element.get("codeSystem", "")))
        elif value.text:
            out.append(CodedValue(value.text))
    return tuple(out)


def is_vihf(attributes: dict[str, SamlAttribute]) -> bool:
    return VIHF_VERSION in attributes


def read_claims(attributes: dict[str, SamlAttribute], claims: xua.XuaClaims) -> VihfClaims:
    """Check the VIHF attribute values (presence is checked by the caller's required set)."""
    version = xua.single_text(attributes, VIHF_VERSION)
    if version not in VERSIONS:
        raise _token(f"VIHF_Version {version!r} is not supported (expected one of {sorted(VERSIONS)})")
    mode = authentication_mode(attributes)
    if mode and mode not in AUTHENTICATION_MODES:
        raise _token(f"Authentification_mode {mode!r} is not one of {sorted(AUTHENTICATION_MODES)}")
    urn = xua.single_text(attributes, RESSOURCE_URN)
    if urn and urn != RESOURCE_URN_DMP:
        raise _token(f"Ressource_URN {urn!r} is not {RESOURCE_URN_DMP}")
    sector = xua.single_text(attributes, SECTEUR_ACTIVITE)
    if sector and (sector.count("^") != 1 or not all(sector.split("^"))):
        raise _token(f"Secteur_Activite {sector!r} is not written code^codeSystem")
    if xua.ROLE in attributes and not claims.roles:
        raise _token("the VIHF role attribute has no value")
    access_mode = AccessMode.NORMAL.value
    if xua.PURPOSE_OF_USE in attributes:
        if len(claims.purpose_of_use) != 1:
            raise _token(f"the VIHF carries {len(claims.purpose_of_use)} purposeofuse values; exactly one is allowed")
        purpose = claims.purpose_of_use[0]
        if purpose.code not in {m.value for m in AccessMode}:
            raise _token(
                f"purposeofuse code {purpose.code!r} is not a DMP access mode ({', '.join(m.value for m in AccessMode)})"
            )
        if purpose.code_system not in ACCESS_MODE_CODE_SYSTEMS:
            raise _token(f"purposeofuse codeSystem {purpose.code_system!r} is not TRE_R248 ModeAcces")
        access_mode = purpose.code
    confidentiality = _confidentiality(attributes.get(CONFIDENTIALITY_CODE))
    software = {name: xua.single_text(attributes, name) for name in LPS_ATTRIBUTES if name in attributes}
    return VihfClaims(
        version=version,
        authentication_mode=mode,
        structure_id=xua.single_text(attributes, IDENTIFIANT_STRUCTURE),
        activity_sector=sector,
        resource_urn=urn,
        access_mode=access_mode,
        confidentiality_codes=confidentiality,
        software=software,
    )
