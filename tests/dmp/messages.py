"""Requests to the DMP's services, built as the official example messages lay them out (KIT-MSG v02.05.00
TD0.2, TD0.3, TD0.4, TD1.3a, TD1.4, TD1.6; KIT-CS v2.06.01 TD1.1, TD1.2), in the HL7 Normative Edition's
element order so that they validate against schemas/dmp."""

from __future__ import annotations

import uuid
from pathlib import Path

from lxml import etree

from xdscore.dmpws.vocabulary import DmpNS

H = f"{{{DmpNS.HL7}}}"
XSI = f"{{{DmpNS.XSI}}}"
TEST_INS_ROOT = "1.2.250.1.213.1.4.10"
PATIENT = "207058575627097"  # KIT-MSG's patb-quatre LAURENCE
OTHER = "279035121518989"  # xuatool's default resource-id
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "dmp"


def cx(ins: str, root: str = TEST_INS_ROOT) -> str:
    return f"{ins}^^^&{root}&ISO^NH"


def key(ins: str, root: str = TEST_INS_ROOT) -> str:
    return f"{ins}^^^&{root}&ISO"


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{H}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _wrapper(interaction: str) -> etree._Element:
    msg = etree.Element(f"{H}{interaction}", {"ITSVersion": "XML_1.0"}, nsmap={None: DmpNS.HL7, "xsi": DmpNS.XSI})
    _el(msg, "id", root="1.3.6.1.4.1.48364.1.1", extension=str(uuid.uuid4()))
    _el(msg, "creationTime", value="20210519174507")
    _el(msg, "interactionId", root="2.16.840.1.113883.1.6", extension=interaction)
    _el(msg, "processingCode", code="D")
    _el(msg, "processingModeCode", code="T")
    _el(msg, "acceptAckCode", code="AL")
    for tag, type_code, root, name in (("receiver", "RCV", "1.2.250.1.213.4.1.1.1", "DMP"),
                                       ("sender", "SND", "1.3.6.1.4.1.48364", "LPS TEST")):
        device = _el(_el(msg, tag, typeCode=type_code), "device", classCode="DEV", determinerCode="INSTANCE")
        _el(device, "id", root=root)
        _el(device, "softwareName", name)
    return msg


def query(reason: str = "TEST_EXST", ins: str = PATIENT, root: str = TEST_INS_ROOT) -> etree._Element:
    """PRPA_IN201307UV02: TD0.2 (TEST_EXST) or TD1.3a (CNSLT_DATA)."""
    msg = _wrapper("PRPA_IN201307UV02")
    control = _el(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    _el(control, "reasonCode", code=reason, codeSystem="1.2.250.1.213.1.1.4.11")
    qbp = _el(control, "queryByParameter")
    _el(qbp, "queryId", root="1.3.6.1.4.1.48364.2", extension=str(uuid.uuid4()))
    _el(qbp, "statusCode", code="new")
    ident = _el(_el(qbp, "parameterList"), "patientIdentifier")
    _el(ident, "value", root=root, extension=ins)
    _el(ident, "semanticsText", "Patient.id")
    return msg


def _observation(patient: etree._Element, code: str, value: bool) -> None:
    obs = _el(_el(patient, "subjectOf", typeCode="SBJ"), "administrativeObservation", classCode="OBS", moodCode="EVN")
    _el(obs, "code", code=code, codeSystem="1.2.250.1.213.4.1.2.3")
    _el(obs, "value", value="true" if value else "false", **{f"{XSI}type": "BL"})


def registration(interaction: str, reason: str, ins: str = PATIENT, status: str = "active",
                 observations: dict[str, bool] | None = None, family: str = "PATB-QUATRE", given: str = "LAURENCE",
                 representative: bool = False, closure: str = "") -> etree._Element:
    """PRPA_IN201311UV02 (TD1.1 CREA_RD) or PRPA_IN201314UV02 (TD1.2 REAC, TD1.3b MODIF_DATA, TD1.4 FERM)."""
    msg = _wrapper(interaction)
    control = _el(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    _el(control, "reasonCode", code=reason, codeSystem="1.2.250.1.213.1.1.4.11")
    request = _el(_el(control, "subject", typeCode="SUBJ", contextConductionInd="false"), "registrationRequest",
                  classCode="REG", moodCode="RQO")
    _el(request, "statusCode", code="active")
    patient = _el(_el(request, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
    _el(patient, "id", root=TEST_INS_ROOT, extension=ins)
    _el(patient, "statusCode", code=status)
    person = _el(patient, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
    name = _el(person, "name")
    _el(name, "prefix", "MME")
    _el(name, "given", given)
    _el(name, "family", family, qualifier="SP")
    _el(person, "telecom", value="tel:0102030405", use="HP")
    _el(person, "administrativeGenderCode", code="F")
    _el(person, "birthTime", value="19070525")
    addr = _el(person, "addr")
    _el(addr, "streetAddressLine", "1, rue du Chat qui pêche")
    _el(addr, "postalCode", "75005")
    _el(addr, "city", "Paris")
    if representative:
        rel = _el(person, "personalRelationship", classCode="PRS")
        _el(rel, "id", root=TEST_INS_ROOT, extension="153078987658513")
        _el(rel, "code", code="FTH", codeSystem="2.16.840.1.113883.1.11.19579")
        holder = _el(rel, "relationshipHolder1", classCode="PSN", determinerCode="INSTANCE")
        rname = _el(holder, "name")
        _el(rname, "given", "Jean")
        _el(rname, "family", "REPLEG")
    for code, value in (observations or {}).items():
        _observation(patient, code, value)
    author = _el(_el(request, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED")
    _el(author, "id", root="1.2.250.1.71.4.2.1", extension="899900063480")
    if closure:
        issue = _el(_el(control, "reasonOf", typeCode="RSON"), "detectedIssueEvent", classCode="ALRT", moodCode="EVN")
        _el(issue, "code", code=closure, codeSystem="1.2.250.1.213.4.1.2.4")
        _el(issue, "text", closure)
    return msg


def create(ins: str = PATIENT, consent: bool = True, **kw: object) -> etree._Element:
    obs = {"CONSENTEMENT_OUVERTURE_DMP": consent, "OPPOSITION_BRIS_DE_GLACE": False, "OPPOSITION_ACCES_URGENCE": True}
    return registration("PRPA_IN201311UV02", "CREA_RD", ins, observations=obs, **kw)  # type: ignore[arg-type]


def close(ins: str = PATIENT, status: str = "terminated") -> etree._Element:
    return registration("PRPA_IN201314UV02", "FERM", ins, status=status, closure="FERMETURE_DEMANDE_PATIENT")


def reactivate(ins: str = PATIENT, consent: bool = True) -> etree._Element:
    return registration("PRPA_IN201314UV02", "REAC", ins, observations={"CONSENTEMENT_REACTIVATION_DMP": consent})


def set_authorization(action: str = "AJOUT", role: str | None = None) -> etree._Element:
    n = f"{{{DmpNS.HABILITATIONS}}}"
    body = etree.Element(f"{n}setAuthorization", nsmap={None: DmpNS.HABILITATIONS})
    etree.SubElement(body, f"{n}action").text = action
    if role is not None:
        etree.SubElement(body, f"{n}role").text = role
    return body


def list_authorizations(mode: str | None = "TOUTE") -> etree._Element:
    n = f"{{{DmpNS.HABILITATIONS}}}"
    body = etree.Element(f"{n}listAuthorizationByPatient", nsmap={None: DmpNS.HABILITATIONS})
    if mode is not None:
        etree.SubElement(body, f"{n}mode").text = mode
    return body


def patient_list(start: str | None = "20101010202010", date_type: str | None = "LASTAUTORIZATION",
                 owner: str | None = None) -> etree._Element:
    n = f"{{{DmpNS.PATIENTS}}}"
    body = etree.Element(f"{n}patientList", nsmap={None: DmpNS.PATIENTS})
    for name, value in (("startDate", start), ("dateType", date_type), ("psOwnerId", owner)):
        if value is not None:
            etree.SubElement(body, f"{n}{name}").text = value
    return body
