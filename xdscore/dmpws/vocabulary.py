"""Wire strings of the DMP's web services: namespaces, wsa:Actions, codes and OIDs (dmp-services.md §2a).

Sources: the DMP WSDL/XSD annex v2.01.04 (`GestionDossierPatientPartage.wsdl`, `Habilitations.wsdl`,
`PatientsSpecific.wsdl`) and the official example messages KIT-MSG v02.05.00, both read in the public
repository k-jefferson/Dehempe (`docs/package dmp/`); the sample client KIT-CS v2.06.01 for TD1.1, TD1.2
and the acknowledgement codes. Each value is written exactly as on the wire.
"""

from __future__ import annotations

from enum import Enum


class DmpNS:
    HL7 = "urn:hl7-org:v3"
    GDP = "asip:ci-sis:gdp:2010"  # GestionDossierPatientPartage.wsdl: the *_Response wrappers
    HABILITATIONS = "urn:si-dmp-habilitations"
    PATIENTS = "urn:si-dmp-patients"  # PatientsSpecific.wsdl
    XSI = "http://www.w3.org/2001/XMLSchema-instance"


class DmpAction(str, Enum):
    """wsa:Action of each request and answer (WSDL wsaw:Action; KIT-MSG headers)."""

    # /patients (GDP, HL7v3)
    GET_DEMOGRAPHICS = "urn:hl7-org:v3:PRPA_IN201307UV02"  # TD0.2 TEST_EXST, TD1.3a CNSLT_DATA
    GET_DEMOGRAPHICS_RESPONSE = "urn:hl7-org:v3:PRPA_IN201308UV02"
    PATIENT_ADD = "urn:hl7-org:v3:PRPA_IN201311UV02"  # TD1.1 CREA_RD
    PATIENT_ADD_RESPONSE = "urn:hl7-org:v3:PRPA_IN201311ResponseUV02"
    PATIENT_REVISE = "urn:hl7-org:v3:PRPA_IN201314UV02"  # TD1.2 REAC, TD1.3b MODIF_DATA, TD1.4 FERM
    PATIENT_REVISE_RESPONSE = "urn:hl7-org:v3:PRPA_IN201314ResponseUV02"
    # /habilitations
    SET_AUTHORIZATION = "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization"  # TD0.3
    SET_AUTHORIZATION_RESPONSE = "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorizationResponse"
    LIST_AUTHORIZATIONS = "urn:si-dmp-habilitations:HabilitationsEndPoint:listAuthorizationByPatient"  # TD1.6
    LIST_AUTHORIZATIONS_RESPONSE = (
        "urn:si-dmp-habilitations:HabilitationsEndPoint:listAuthorizationByPatientResponse"
    )
    # /patientsSpecific
    PATIENT_LIST = "urn:si-dmp-patients:PatientSpecificEndPoint:patientList"  # TD0.4
    PATIENT_LIST_RESPONSE = "urn:si-dmp-patients:PatientSpecificEndPoint:patientListResponse"


# The WSDL's soapAction values, which some clients send as wsa:Action instead (Habilitations.wsdl binding).
ACTION_ALIASES = {
    "urn:hl7-org:v3:setAuthorization": DmpAction.SET_AUTHORIZATION,
    "urn:hl7-org:v3:listAuthorizationByPatient": DmpAction.LIST_AUTHORIZATIONS,
}


class ReasonCode(str, Enum):
    """controlActProcess/reasonCode (code system REASON_SYSTEM) naming the TD of a GDP message."""

    TEST_EXST = "TEST_EXST"  # TD0.2 existence and access conditions
    CNSLT_DATA = "CNSLT_DATA"  # TD1.3a administrative data
    CREA_RD = "CREA_RD"  # TD1.1 create
    REAC = "REAC"  # TD1.2 reactivate
    MODIF_DATA = "MODIF_DATA"  # TD1.3b update administrative data
    FERM = "FERM"  # TD1.4 close

    @property
    def display_name(self) -> str:
        return _REASON_NAMES[self]


_REASON_NAMES = {
    ReasonCode.TEST_EXST: "Test d'existence de dossier",
    ReasonCode.CNSLT_DATA: "Consultation des données de gestion de dossier",
    ReasonCode.CREA_RD: "Création de dossier",
    ReasonCode.REAC: "Réactivation de dossier",
    ReasonCode.MODIF_DATA: "Modification des données de gestion de dossier",
    ReasonCode.FERM: "Fermeture de dossier",
}

REASON_SYSTEM = "1.2.250.1.213.1.1.4.11"
INTERACTION_SYSTEM = "2.16.840.1.113883.1.6"
DMP_DEVICE = "1.2.250.1.213.4.1.1.1"  # the DMP as sender / receiver / custodian
DMP_SOFTWARE = "DMP"

# TD0.2 attentionLine keywords and the AUTORISATION values.
AUTORISATION = "AUTORISATION"
AUTORISATION_SYSTEM = "1.2.250.1.213.4.1.2.6.1"
AUTORISATION_VALUE_SYSTEM = "1.2.250.1.213.4.1.2.6.2"
STATUT_MT = "STATUT_MT"
STATUT_MT_SYSTEM = "1.2.250.1.213.4.1.2.6.3"


class Authorization(str, Enum):
    """TD0.2 AUTORISATION: the caller's consultation authorisation on this DMP."""

    VALIDE = "VALIDE"
    NON_EXISTE = "NON_EXISTE"
    EXPIRE = "EXPIRE"
    INTERDIT = "INTERDIT"  # the patient blocked this professional


# administrativeObservation codes (code system OBSERVATION_SYSTEM, except the internet account's).
OBSERVATION_SYSTEM = "1.2.250.1.213.4.1.2.3"
OPPOSITION_BRIS_DE_GLACE = "OPPOSITION_BRIS_DE_GLACE"
OPPOSITION_ACCES_URGENCE = "OPPOSITION_ACCES_URGENCE"
CONSENTEMENT_OUVERTURE_DMP = "CONSENTEMENT_OUVERTURE_DMP"
CONSENTEMENT_REACTIVATION_DMP = "CONSENTEMENT_REACTIVATION_DMP"
RATTACHEMENT_ENS = "RATTACHEMENT_ENS"
COMPTE_INTERNET_OUVERT = "COMPTE_INTERNET_OUVERT"
COMPTE_INTERNET_SYSTEM = "1.2.250.1.213.4.1.2.9"
CLOSURE_REASON_SYSTEM = "1.2.250.1.213.4.1.2.4"  # detectedIssueEvent code of TD1.4
FERMETURE_DEMANDE_PATIENT = "FERMETURE_DEMANDE_PATIENT"

# Identifier roots.
INS_C_ROOT = "1.2.250.1.213.1.4.2"
IDNAT_PS_ROOT = "1.2.250.1.71.4.2.1"  # TD1.6 nationalIdType of a professional
IDNAT_STRUCT_ROOT = "1.2.250.1.71.4.2.2"


class AckDetail(str, Enum):
    """acknowledgementDetail codes of an AE acknowledgement. DMPFound and DMPClosed are the DMP's (KIT-CS:
    create or reactivate an existing DMP, close a closed one); the DMP's complete error table is not public,
    so the others are this platform's, named in the same style (docs/dmp-services.md)."""

    DMP_FOUND = "DMPFound"
    DMP_CLOSED = "DMPClosed"
    DMP_NOT_FOUND = "DMPNotFound"  # ours
    DMP_ACCESS_DENIED = "DMPAccessDeniedByRightsService"  # the DMP's, seen on Web PS creation (PDT-INF-527)
    DMP_INVALID_REQUEST = "DMPInvalidRequest"  # ours: a message we cannot act on


class ServiceStatus(str, Enum):
    """`status` of the habilitation and patientsSpecific answers. DMPOk is the DMP's (KIT-MSG); the others
    are this platform's (same naming; see AckDetail)."""

    OK = "DMPOk"
    NOT_FOUND = "DMPNotFound"
    CLOSED = "DMPClosed"
    ACCESS_DENIED = "DMPAccessDeniedByRightsService"
    INVALID_REQUEST = "DMPInvalidRequest"


class HabilitationAction(str, Enum):
    AJOUT = "AJOUT"
    SUPPRESSION = "SUPPRESSION"


class HabilitationRole(str, Enum):
    MEDECIN_TRAITANT = "MEDECIN_TRAITANT"


class AuthorizationMode(str, Enum):
    """TD1.6 mode: ACTIVE (authorised), INTERDITE (blocked by the patient), TOUTE (request: both)."""

    ACTIVE = "ACTIVE"
    INTERDITE = "INTERDITE"
    TOUTE = "TOUTE"


class DateType(str, Enum):
    """TD0.4 dateType: list by date of last authorisation or of last document."""

    LASTAUTORIZATION = "LASTAUTORIZATION"
    LASTDOC = "LASTDOC"
