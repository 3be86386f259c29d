"""XDS metadata of a French CDA R2 document (CI-SIS Volet Partage de Documents de Santé, the CDA -> XDS
metadata table; ITI TF-3 4.2.3.2 DocumentEntry, 4.2.3.3 SubmissionSet).

`derive(data, options)` reads the header and returns the typed DocumentEntry and SubmissionSet (each with
its ebRIM object), plus notes for what the header could not give, each with its XPath. `submission_objects`
puts them in submission order with their HasMember associations. Nothing here generates ids or reads a
clock: the caller passes entry ids, the SubmissionSet uniqueId, sourceId and submission time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from lxml import etree

from xdscore import xmlsafe
from xdscore.cda import tables as t
from xdscore.cda.header import (
    CdaDocument,
    NotACda,
    Problem,
    attr,
    coded,
    cx,
    dtm,
    escape,
    find,
    findall,
    first,
    locate,
    person_name,
    text,
    xcn,
    xon,
    xpath_of,
)
from xdscore.ebrim import association, document_entry, submission_set
from xdscore.errors import SoapFault
from xdscore.model import Author, Code, DocumentEntry, RimObject, SubmissionSet
from xdscore.vocabulary import AssociationType, ObjectType

CDA_MIME_TYPE = "text/xml"
# HL7V2-IG (CI-SIS mapping table): a self-presenting CDA (an XSL stylesheet embedding the document).
SELF_PRESENTING_MIME_TYPE = "application/xslt+xml"
MAX_CDA_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Options:
    """What the header does not say: ids of the submission and its source (the caller's to choose)."""

    submission_set_unique_id: str
    source_id: str
    submission_time: str  # UTC DTM
    document_id: str = "Document01"
    submission_set_id: str = "SubmissionSet01"
    content_type: Code | None = None  # contentTypeCode; derived from the encounter when None
    extra_confidentiality: tuple[Code, ...] = ()  # DMP masking codes (TRE_A07) after the CDA's own


@dataclass(frozen=True)
class Derivation:
    document: CdaDocument
    document_entry: DocumentEntry
    submission_set: SubmissionSet
    notes: tuple[Problem, ...]  # attributes the header could not give (the entry lacks them)


def parse(data: bytes) -> CdaDocument:
    """Parse CDA bytes safely (no DTD, no entities) and locate the ClinicalDocument; raises NotACda."""
    try:
        root = xmlsafe.parse_bytes(data, MAX_CDA_BYTES, "CDA document")
    except SoapFault as exc:
        raise NotACda(exc.reason) from None
    return locate(root)


def _code(el: etree._Element | None) -> Code | None:
    found = coded(el)
    return Code(*found) if found else None


def _patient_ids(cda: etree._Element) -> tuple[list[etree._Element], list[etree._Element]]:
    """(INS ids, other ids with an extension) of recordTarget/patientRole."""
    ids = [i for i in findall(cda, "hl7:recordTarget/hl7:patientRole/hl7:id") if attr(i, "extension") and attr(i, "root")]
    ins = [i for i in ids if attr(i, "root") in t.INS_AUTHORITIES]
    return ins, [i for i in ids if i not in ins]


def _xpn(name: etree._Element, family_q: tuple[str, ...], given_q: str, name_type: str) -> str | None:
    family = first(*[find(name, f"hl7:family[@qualifier='{q}']") for q in family_q])
    if family is None:
        return None
    given = text(find(name, f"hl7:given[@qualifier='{given_q}']"))
    # Birth name (L): XPN.3 carries the list of birth given names (the unqualified `given`), as INS asks.
    unqualified = [g for g in findall(name, "hl7:given") if g.get("qualifier") is None]
    others = text(unqualified[0]) if name_type == "L" and unqualified else None
    return f"{escape(text(family))}^{escape(given)}^{escape(others)}^^^^{name_type}"


def source_patient_info(cda: etree._Element) -> tuple[str, ...]:
    """PID-5 (birth name L; used name D, family@qualifier CL or SP), PID-7 (birth date), PID-8 (sex) from
    recordTarget's patient; the two names are repetitions (~) of one PID-5."""
    patient = find(cda, "hl7:recordTarget/hl7:patientRole/hl7:patient")
    if patient is None:
        return ()
    values: list[str] = []
    name = find(patient, "hl7:name")
    if name is not None:
        names = [n for n in (_xpn(name, ("BR",), "BR", "L"), _xpn(name, ("CL", "SP"), "CL", "D")) if n]
        if not names:  # no qualified names: the name as written
            plain = person_name(patient)
            names = [f"{escape(plain.family)}^{escape(plain.given)}^^^^^L"] if plain.family else []
        if names:
            values.append("PID-5|" + "~".join(names))
    birth = attr(find(patient, "hl7:birthTime"), "value")
    if birth:
        values.append(f"PID-7|{birth[:8]}")
    sex = attr(find(patient, "hl7:administrativeGenderCode"), "code")
    if sex:
        values.append(f"PID-8|{sex}")
    return tuple(values)


def _is_patient_author(assigned: etree._Element) -> bool:
    roots = {attr(i, "root") for i in findall(assigned, "hl7:id")}
    return bool(roots & t.INS_AUTHORITIES) or attr(find(assigned, "hl7:code"), "code") == t.EXP_PATIENT


def _author(author: etree._Element) -> Author | None:
    assigned = find(author, "hl7:assignedAuthor")
    if assigned is None:
        return None
    ident = first(*[i for i in findall(assigned, "hl7:id") if attr(i, "extension")])
    device = find(assigned, "hl7:assignedAuthoringDevice")
    person = xcn(ident, person_name(find(assigned, "hl7:assignedPerson")), device=device is not None)
    patient_author = _is_patient_author(assigned)
    institution = None if patient_author else xon(find(assigned, "hl7:representedOrganization"))
    specialty = coded(find(assigned, "hl7:code"))
    function = find(author, "hl7:functionCode")
    role = attr(function, "displayName") or attr(function, "code")
    return Author(
        person=person,
        institutions=(institution,) if institution else (),
        roles=(role,) if role else (),
        # authorSpecialty as KIT-MSG writes it: code^displayName^codeSystem
        specialties=(f"{escape(specialty[0])}^{escape(specialty[2])}^{escape(specialty[1])}",) if specialty else (),
    )


def is_patient_authored(cda: etree._Element) -> bool:
    """Every author is the patient (CI-SIS "expression personnelle du patient")."""
    authors = findall(cda, "hl7:author/hl7:assignedAuthor")
    return bool(authors) and all(_is_patient_author(a) for a in authors)


def _content_type(cda: etree._Element) -> Code:
    if is_patient_authored(cda):
        return Code(t.EXP_PATIENT, t.TRE_A00, "Patient")
    encounter = attr(find(cda, "hl7:componentOf/hl7:encompassingEncounter/hl7:code"), "code")
    return t.ENCOUNTER_TO_ACTIVITY.get(encounter or "", t.DEFAULT_ACTIVITY)


def _unique_id(cda: etree._Element) -> str | None:
    ident = find(cda, "hl7:id")
    root, ext = attr(ident, "root"), attr(ident, "extension")
    if not root:
        return None
    return f"{root}^{ext}" if ext else root


def derive(data: bytes, options: Options, document: CdaDocument | None = None) -> Derivation:
    """The DocumentEntry and SubmissionSet of one CDA document (raises NotACda for anything else)."""
    doc = document or parse(data)
    cda = doc.root
    notes: list[Problem] = []

    def need(value: object, rule: str, where: str, what: str) -> None:
        if value is None:
            el = find(cda, where) if where != "." else cda
            notes.append(Problem(rule, xpath_of(el) if el is not None else f"{xpath_of(cda)}/{where}", what))

    type_code = _code(find(cda, "hl7:code"))
    class_code = t.class_code_for(type_code.scheme, type_code.code) if type_code else None
    need(type_code, "META-typeCode", "hl7:code", "no document code (@code, @codeSystem): no typeCode")
    if type_code is not None:
        need(class_code, "META-classCode", "hl7:code",
             f"type {type_code.code} ({type_code.scheme}) has no class in ASS_X04-CorrespondanceType-Classe: no classCode")
    roots = [r for r in (attr(x, "root") for x in findall(cda, "hl7:templateId")) if r]
    media_type = attr(find(cda, "hl7:component/hl7:nonXMLBody/hl7:text"), "mediaType")
    format_code = t.format_code_for(roots, media_type)
    if format_code is None:
        notes.append(Problem("META-formatCode", xpath_of(cda) + "/hl7:templateId",
                             "no templateId of ASS_A11 (nor a level 1 body of ASS_A12): formatCode "
                             f"{t.OUT_OF_PROFILE_FORMAT.code} (model not referenced by the CI-SIS)"))
        format_code = t.OUT_OF_PROFILE_FORMAT
    ins, local = _patient_ids(cda)
    main_id = first(*ins, *local)
    patient_id = cx(attr(main_id, "extension") or "", attr(main_id, "root") or "", "NH" if ins else None) if main_id is not None else None
    need(patient_id, "META-patientId", "hl7:recordTarget/hl7:patientRole", "no patient id (recordTarget/patientRole/id)")
    source_patient = cx(attr(local[0], "extension") or "", attr(local[0], "root") or "", "PI") if local else patient_id
    authors = tuple(a for a in (_author(el) for el in findall(cda, "hl7:author")) if a is not None)
    legal = find(cda, "hl7:legalAuthenticator/hl7:assignedEntity")
    legal_xcn = None
    if legal is not None:
        legal_id = first(*[i for i in findall(legal, "hl7:id") if attr(i, "extension")])
        legal_xcn = xcn(legal_id, person_name(find(legal, "hl7:assignedPerson")))
    event = find(cda, "hl7:documentationOf/hl7:serviceEvent")
    practice = _code(find(cda, "hl7:documentationOf/hl7:serviceEvent/hl7:performer/hl7:assignedEntity"
                               "/hl7:representedOrganization/hl7:standardIndustryClassCode"))
    need(practice, "META-practiceSettingCode", "hl7:documentationOf",
         "no serviceEvent/performer/assignedEntity/representedOrganization/standardIndustryClassCode")
    facility = _code(find(cda, "hl7:componentOf/hl7:encompassingEncounter/hl7:location/hl7:healthCareFacility/hl7:code"))
    need(facility, "META-healthcareFacilityTypeCode", "hl7:componentOf",
         "no encompassingEncounter/location/healthCareFacility/code")
    confidentiality = _code(find(cda, "hl7:confidentialityCode"))
    need(confidentiality, "META-confidentialityCode", "hl7:confidentialityCode", "no confidentialityCode")
    creation = dtm(attr(find(cda, "hl7:effectiveTime"), "value"))
    need(creation, "META-creationTime", "hl7:effectiveTime", "no effectiveTime/@value (a TS): no creationTime")

    de = DocumentEntry(
        entry_uuid=options.document_id,
        rim=RimObject(tag="ExtrinsicObject", id=options.document_id),
        unique_id=_unique_id(cda),
        patient_id=patient_id,
        mime_type=SELF_PRESENTING_MIME_TYPE if doc.self_presenting else CDA_MIME_TYPE,
        object_type=ObjectType.STABLE_DOCUMENT.value,
        title=text(find(cda, "hl7:title")),
        class_code=class_code,
        type_code=type_code,
        format_code=format_code,
        healthcare_facility_type_code=facility,
        practice_setting_code=practice,
        confidentiality_codes=tuple(c for c in (confidentiality, *options.extra_confidentiality) if c is not None),
        authors=authors,
        creation_time=creation,
        service_start_time=dtm(attr(find(event, "hl7:effectiveTime/hl7:low"), "value")) if event is not None else None,
        service_stop_time=dtm(attr(find(event, "hl7:effectiveTime/hl7:high"), "value")) if event is not None else None,
        hash=hashlib.sha1(data).hexdigest(),
        size=str(len(data)),
        language_code=attr(find(cda, "hl7:languageCode"), "code"),
        legal_authenticator=legal_xcn,
        source_patient_id=source_patient,
        source_patient_info=source_patient_info(cda),
    )
    de = replace(de, rim=document_entry.write(de))
    ss = SubmissionSet(
        entry_uuid=options.submission_set_id,
        rim=RimObject(tag="RegistryPackage", id=options.submission_set_id),
        unique_id=options.submission_set_unique_id,
        patient_id=patient_id,
        source_id=options.source_id,
        submission_time=options.submission_time,
        content_type_code=options.content_type or _content_type(cda),
        title=de.title,
        authors=authors[:1],  # PDSM4DMP SubmissionSet: author 1..1
    )
    ss = replace(ss, rim=submission_set.write(ss))
    return Derivation(doc, de, ss, tuple(notes))


def submission_objects(ss: SubmissionSet, entries: list[DocumentEntry],
                       signs: tuple[tuple[str, str], ...] = ()) -> list[RimObject]:
    """SubmissionSet, DocumentEntries, a HasMember (Original) for each, then `signs` (source, target) pairs."""
    objects = [ss.rim, *(e.rim for e in entries)]
    for i, e in enumerate(entries, 1):
        objects.append(association.write(f"HasMember{i:02d}", AssociationType.HAS_MEMBER.value, ss.entry_uuid,
                                         e.entry_uuid, submission_set_status="Original"))
    for i, (source, target) in enumerate(signs, 1):
        objects.append(association.write(f"Signs{i:02d}", AssociationType.SIGNS.value, source, target))
    return objects
