"""What the DMP access rules read of a DocumentEntry: its confidentiality flags, authors, type, status.

Confidentiality codes of JDV_J58 (TRE_A07, `1.2.250.1.213.1.1.4.13`, CI-SIS "Partage de documents de
santé" and KIT-MSG TD2.1): MASQUE_PS (masked to professionals), INVISIBLE_PATIENT (hidden from the patient
until the announcement consultation, CSP R1111-53), INVISIBLE_REPRESENTANTS_LEGAUX (hidden from the legal
representatives: a minor's "connexion secrète"). Authors as the DMP compares them (EX_2.1-1140): the
IdNat_PS in authorPerson XCN.1 or the legalAuthenticator's, the Struct_IdNat in authorInstitution XON.10.
A patient-authored document has an authorPerson whose identifier type (XCN.13) is `NH` or whose
authority is an INS authority (`1.2.250.1.213.1.4.*`, dmp-cisis.md §1.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from xdscore.model import DocumentEntry
from xdscore.vocabulary import DmpStatus, Status

MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"
INS_AUTHORITY_PREFIX = "1.2.250.1.213.1.4."
# IHE DSG signature DocumentEntry (the DMP's TD2.1 XAdES entry): its INVISIBLE_PATIENT is not an announcement
# hold but how every client hides signatures (rule 17), so no announcement delay lifts it.
SIGNATURE_CLASS_CODE = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"


class Lifecycle(str, Enum):
    """availabilityStatus as the rights matrix's TD3.2 rows see it."""

    APPROVED = Status.APPROVED.value
    DEPRECATED = Status.DEPRECATED.value  # "documents obsolètes (anciennes versions)"
    ARCHIVED = DmpStatus.ARCHIVED.value
    DELETED = DmpStatus.DELETED.value


@dataclass(frozen=True)
class AccessEntry:
    entry_uuid: str
    masked: bool = False  # MASQUE_PS
    invisible_to_patient: bool = False  # INVISIBLE_PATIENT
    invisible_to_representatives: bool = False  # INVISIBLE_REPRESENTANTS_LEGAUX
    status: Lifecycle = Lifecycle.APPROVED
    author_persons: frozenset[str] = frozenset()  # IdNat_PS (and the legalAuthenticator's)
    author_institutions: frozenset[str] = frozenset()  # Struct_IdNat
    patient_authored: bool = False
    type_code: str = ""
    signature: bool = False  # a DSG signature entry (classCode SIGNATURE_CLASS_CODE)
    # When the document was first registered (its logical document's first version): the announcement
    # timer of INVISIBLE_PATIENT counts from there (R1111-53: one month, notice at two weeks).
    registered_at: datetime | None = None


def xcn_id(xcn: str) -> str:
    return xcn.split("^")[0].strip()


def _xcn_is_patient(xcn: str) -> bool:
    parts = xcn.split("^")
    id_type = parts[12] if len(parts) > 12 else ""
    authority = parts[8] if len(parts) > 8 else ""
    oid = authority.split("&")[1] if "&" in authority else authority
    return id_type == "NH" or oid.startswith(INS_AUTHORITY_PREFIX)


def xon_id(xon: str) -> str:
    parts = xon.split("^")
    return parts[9].strip() if len(parts) > 9 else ""


def _status(value: str | None) -> Lifecycle:
    try:
        return Lifecycle(value or Status.APPROVED.value)
    except ValueError:
        return Lifecycle.APPROVED


def access_entry(entry: DocumentEntry, registered_at: datetime | None = None) -> AccessEntry:
    """The rules' view of a DocumentEntry (as stored: its current availabilityStatus)."""
    codes = {c.code for c in entry.confidentiality_codes}
    persons = {xcn_id(a.person) for a in entry.authors if a.person and not _xcn_is_patient(a.person)}
    if entry.legal_authenticator and not _xcn_is_patient(entry.legal_authenticator):
        persons.add(xcn_id(entry.legal_authenticator))
    institutions = {xon_id(i) for a in entry.authors for i in a.institutions}
    return AccessEntry(
        entry_uuid=entry.entry_uuid,
        masked=MASQUE_PS in codes,
        invisible_to_patient=INVISIBLE_PATIENT in codes,
        invisible_to_representatives=INVISIBLE_REPRESENTANTS_LEGAUX in codes,
        status=_status(entry.availability_status),
        author_persons=frozenset(p for p in persons if p),
        author_institutions=frozenset(i for i in institutions if i),
        patient_authored=any(a.person and _xcn_is_patient(a.person) for a in entry.authors),
        type_code=entry.type_code.code if entry.type_code else "",
        signature=bool(entry.class_code and entry.class_code.code == SIGNATURE_CLASS_CODE),
        registered_at=registered_at,
    )
