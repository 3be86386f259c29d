"""Fixture builders: one valid submission, as typed objects, RimObjects and SubmitObjectsRequest XML.

Rule tests take `valid_submission()`, change one thing, and expect exactly one code. The codes used are
those of the NIST test kit's codes.xml, so a submission is valid under the `ihe` and `nist` profiles.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field, replace

from lxml import etree

from xdscore.ebrim import association, document_entry, folder, submission_set, submit_objects
from xdscore.model import Author, Code, DocumentEntry, Folder, RimObject, RimSlot, Submission, SubmissionSet
from xdscore.profiles import Profile
from xdscore.profiles.ihe import PROFILE as IHE
from xdscore.vocabulary import AssociationType, ObjectType

AUTHORITY = "1.3.6.1.4.1.21367.2005.3.7"
_counter = itertools.count(1)


def new_patient_id() -> str:
    return f"P{uuid.uuid4().hex[:12]}^^^&{AUTHORITY}&ISO"


def new_oid() -> str:
    return f"1.2.3.{uuid.uuid4().int % 10**12}.{next(_counter)}"


CLASS = Code("REPORTS", "1.3.6.1.4.1.19376.1.2.6.1", "Reports")
TYPE = Code("11369-6", "2.16.840.1.113883.6.1", "History of Immunization")
FORMAT = Code("urn:ihe:rad:TEXT", "1.3.6.1.4.1.19376.1.2.3", "Radiology XDS-I Text")
HCFT = Code("225728007", "2.16.840.1.113883.6.96", "Accident and Emergency department")
PRACTICE = Code("Practice-C", "1.3.6.1.4.1.21367.2017.3", "Laboratory")
CONF_N = Code("N", "2.16.840.1.113883.5.25", "Normal")
CONF_R = Code("R", "2.16.840.1.113883.5.25", "Restricted")
CONTENT = Code("225728007", "2.16.840.1.113883.6.96", "Accident and Emergency department")
FOLDER_CODE = Code("Referrals", "1.3.6.1.4.1.21367.2017.3", "Referrals")


def document(
    patient_id: str,
    entry_id: str = "Document01",
    content: bytes = b"hello",
    unique_id: str | None = None,
    **changes: object,
) -> DocumentEntry:
    de = DocumentEntry(
        entry_uuid=entry_id,
        rim=RimObject(tag="ExtrinsicObject", id=entry_id),
        unique_id=unique_id or new_oid(),
        patient_id=patient_id,
        mime_type="text/plain",
        object_type=ObjectType.STABLE_DOCUMENT.value,
        title="Discharge summary",
        class_code=CLASS,
        type_code=TYPE,
        format_code=FORMAT,
        healthcare_facility_type_code=HCFT,
        practice_setting_code=PRACTICE,
        confidentiality_codes=(CONF_N,),
        authors=(Author(person="^Smitty^Gerald^^^", institutions=("Cleveland Clinic",), roles=("Attending",)),),
        creation_time="20240102030405",
        service_start_time="20240101",
        service_stop_time="20240102",
        hash=hashlib.sha1(content).hexdigest(),
        size=str(len(content)),
        repository_unique_id="1.19.6.24.109.42.1",
        language_code="en-us",
        source_patient_id="local1^^^&1.2.3.4&ISO",
        source_patient_info=("PID-3|local1^^^&1.2.3.4&ISO", "PID-5|Doe^John^^^", "PID-7|19560527", "PID-8|M"),
    )
    return replace(de, **changes)  # type: ignore[arg-type]


def submission_set_for(patient_id: str, entry_id: str = "SubmissionSet01", **changes: object) -> SubmissionSet:
    ss = SubmissionSet(
        entry_uuid=entry_id,
        rim=RimObject(tag="RegistryPackage", id=entry_id),
        unique_id=new_oid(),
        patient_id=patient_id,
        source_id="1.3.6.1.4.1.21367.2009.1.2.1",
        submission_time="20240102030405",
        content_type_code=CONTENT,
        title="Submission",
        authors=(Author(person="^Smitty^Gerald^^^"),),
    )
    return replace(ss, **changes)  # type: ignore[arg-type]


def folder_for(patient_id: str, entry_id: str = "Folder01", **changes: object) -> Folder:
    fd = Folder(
        entry_uuid=entry_id,
        rim=RimObject(tag="RegistryPackage", id=entry_id),
        unique_id=new_oid(),
        patient_id=patient_id,
        codes=(FOLDER_CODE,),
        title="Referral folder",
    )
    return replace(fd, **changes)  # type: ignore[arg-type]


@dataclass
class SubmissionBuilder:
    """Collects RimObjects in submission order; `.submission()` parses them back like the registry does."""

    patient_id: str
    objects: list[RimObject] = field(default_factory=list)
    ss_id: str = "SubmissionSet01"
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    def with_submission_set(self, **changes: object) -> SubmissionBuilder:
        self.objects.insert(0, submission_set.write(submission_set_for(self.patient_id, self.ss_id, **changes)))
        return self

    def add_document(self, entry_id: str | None = None, status: str = "Original", **changes: object) -> str:
        entry_id = entry_id or f"Document{next(self._n):02d}"
        extra = changes.pop("extra_slots", ())
        patient_id = str(changes.pop("patient_id", self.patient_id))
        self.objects.append(document_entry.write(document(patient_id, entry_id, **changes), extra_slots=extra))  # type: ignore[arg-type]
        self.link(self.ss_id, entry_id, status)
        return entry_id

    def add_folder(self, entry_id: str = "Folder01", **changes: object) -> str:
        self.objects.append(folder.write(folder_for(self.patient_id, entry_id, **changes)))
        self.link(self.ss_id, entry_id, None)
        return entry_id

    def link(
        self, source: str, target: str, ss_status: str | None = "Original",
        atype: AssociationType = AssociationType.HAS_MEMBER, **kw: object,
    ) -> str:
        aid = f"Assoc{next(self._n):02d}"
        self.objects.append(association.write(aid, atype.value, source, target, ss_status, **kw))  # type: ignore[arg-type]
        return aid

    def relate(self, source: str, target: str, atype: AssociationType) -> str:
        return self.link(source, target, None, atype)

    def xml(self) -> etree._Element:
        return submit_objects.write(self.objects)

    def submission(self) -> Submission:
        return submit_objects.read(etree.fromstring(etree.tostring(self.xml())))

    def replace_object(self, entry_id: str, **changes: object) -> None:
        for i, o in enumerate(self.objects):
            if o.id == entry_id:
                self.objects[i] = replace(o, **changes)  # type: ignore[arg-type]
                return
        raise KeyError(entry_id)

    def get(self, entry_id: str) -> RimObject:
        return next(o for o in self.objects if o.id == entry_id)


def single_document(patient_id: str | None = None, **doc_changes: object) -> SubmissionBuilder:
    b = SubmissionBuilder(patient_id or new_patient_id()).with_submission_set()
    b.add_document(**doc_changes)
    return b


def extra_slot(name: str, *values: str) -> RimSlot:
    return RimSlot(name, values)


# --- the French DMP: a submission shaped like the official TD2.1 example (one CDA + its XAdES signature) ---

DMP_PATIENT = "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH^^20100907"  # the kit's test INS, CX.7 included
DMP_PS = "899900063480^MAX^LIBRE^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
DMP_STRUCTURE = "CABINET DR LIBRE^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^499900063480001"
DMP_AUTHOR = Author(person=DMP_PS, institutions=(DMP_STRUCTURE,),
                    specialties=("G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5",))
DMP_CONF_N = Code("N", "2.16.840.1.113883.5.25", "Normal")
MASQUE_PS = Code("MASQUE_PS", "1.2.250.1.213.1.1.4.13", "Masqué aux professionnels de santé")
INVISIBLE_PATIENT = Code("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13", "Non visible par le patient")
DMP_DOCUMENT: dict[str, object] = {
    "class_code": Code("10", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
    "type_code": Code("11490-0", "2.16.840.1.113883.6.1", "Lettre de liaison à la sortie d'un établissement de soins"),
    "format_code": Code("urn:ihe:iti:xds-sd:text:2008", "1.3.6.1.4.1.19376.1.2.3", "Texte brut"),
    "healthcare_facility_type_code": Code("SA01", "1.2.250.1.71.4.2.4", "Etablissement public de santé"),
    "practice_setting_code": Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etablissement de santé"),
    "confidentiality_codes": (DMP_CONF_N,),
    "authors": (DMP_AUTHOR,),
    "legal_authenticator": DMP_PS,
    "language_code": "fr-FR",
    "mime_type": "text/xml",
    "source_patient_id": "0456789999^^^&1.2.250.1.999.1.1.7898.2&ISO^PI",
}
DMP_SIGNATURE: dict[str, object] = {
    **DMP_DOCUMENT,
    "class_code": Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature"),
    "type_code": Code("E1762", "ASTM", "Full Document"),
    "format_code": Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style"),
    "confidentiality_codes": (DMP_CONF_N, MASQUE_PS, INVISIBLE_PATIENT),
    "language_code": "art",
    "title": "Source",
}
DMP_CONTENT_TYPE = Code("04", "1.2.250.1.213.2.2", "Hospitalisation de jour")


def dmp_submission(patient_id: str = DMP_PATIENT, signed: bool = True, author: Author = DMP_AUTHOR,
                   **document: object) -> SubmissionBuilder:
    """A DMP TD2.1 submission by `author` (authorPerson and legalAuthenticator: the DMP checks that the caller
    is an author); `document` changes the document's metadata (e.g. confidentiality_codes)."""
    by = {"authors": (author,), "legal_authenticator": author.person}
    b = SubmissionBuilder(patient_id).with_submission_set(
        content_type_code=DMP_CONTENT_TYPE, authors=(author,), source_id="1.2.250.1.999.1.1.7898")
    b.add_document("Document01", **{**DMP_DOCUMENT, **by, **document})
    if signed:
        b.add_document("Signature01", **{**DMP_SIGNATURE, **by})
        b.link("Signature01", b.ss_id, "Original", AssociationType.SIGNS)
    return b


def iti41_profile() -> Profile:
    """The IHE rows as a Document Source's ITI-41 metadata must meet them: hash, size and repositoryUniqueId
    are the repository's to add (ITI TF-3 Table 4.3.1-3), so they may be absent."""
    added_by_the_repository = {"DE-hash", "DE-size", "DE-repositoryUniqueId"}
    return Profile("ihe-iti41", tuple(replace(r, min=0) if r.rule_id in added_by_the_repository else r for r in IHE.rows))
