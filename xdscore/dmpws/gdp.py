"""The DMP's patient-record messages on `/patients` (GestionDossierPatientPartage.wsdl, HL7v3 NE2009):
TD0.2 existence test and TD1.3a administrative data (PRPA_IN201307UV02 → PRPA_IN201308UV02), TD1.1 create
(PRPA_IN201311UV02 → PRPA_IN201311UV02_Response: PRPA_IN201312UV02 accept / PRPA_IN201313UV02 refuse),
TD1.2 reactivate, TD1.3b update, TD1.4 close (PRPA_IN201314UV02 → PRPA_IN201314UV02_Response:
PRPA_IN201315UV02 / PRPA_IN201316UV02). Read and written without I/O.

Element names, codes and layout follow the official example messages (KIT-MSG v02.05.00 TD0.2, TD1.3a,
TD1.4) and the sample client (KIT-CS v2.06.01: TD1.1, TD1.2, the AE acknowledgement read as
`acknowledgement/acknowledgementDetail/code/@code` and `text`). A message we cannot act on raises
`GdpError`, which the service answers with an AE acknowledgement naming what is wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from xdscore.dmpws.vocabulary import (
    AUTORISATION,
    AUTORISATION_SYSTEM,
    AUTORISATION_VALUE_SYSTEM,
    COMPTE_INTERNET_OUVERT,
    COMPTE_INTERNET_SYSTEM,
    DMP_DEVICE,
    DMP_SOFTWARE,
    INS_C_ROOT,
    INTERACTION_SYSTEM,
    OBSERVATION_SYSTEM,
    OPPOSITION_ACCES_URGENCE,
    OPPOSITION_BRIS_DE_GLACE,
    RATTACHEMENT_ENS,
    REASON_SYSTEM,
    STATUT_MT,
    STATUT_MT_SYSTEM,
    AckDetail,
    Authorization,
    DmpNS,
    ReasonCode,
)

_H = f"{{{DmpNS.HL7}}}"
_XSI_TYPE = f"{{{DmpNS.XSI}}}type"

QUERY = "PRPA_IN201307UV02"
QUERY_RESPONSE = "PRPA_IN201308UV02"
ADD = "PRPA_IN201311UV02"
ADD_ACCEPT, ADD_REFUSE = "PRPA_IN201312UV02", "PRPA_IN201313UV02"
REVISE = "PRPA_IN201314UV02"
REVISE_ACCEPT, REVISE_REFUSE = "PRPA_IN201315UV02", "PRPA_IN201316UV02"
REQUESTS = frozenset({QUERY, ADD, REVISE})
# Which reason codes each interaction carries.
REASONS = {
    QUERY: frozenset({ReasonCode.TEST_EXST, ReasonCode.CNSLT_DATA}),
    ADD: frozenset({ReasonCode.CREA_RD}),
    REVISE: frozenset({ReasonCode.REAC, ReasonCode.MODIF_DATA, ReasonCode.FERM}),
}


class GdpError(Exception):
    """A request the DMP answers with an AE acknowledgement: `detail` is the acknowledgementDetail code."""

    def __init__(self, detail: AckDetail, text: str) -> None:
        super().__init__(text)
        self.detail = detail
        self.text = text


# --- the model ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    """HL7v3 PN: civility prefix, given names, used name (family qualifier SP), birth name (BR)."""

    family: str = ""
    given: tuple[str, ...] = ()
    prefix: str = ""
    birth_family: str = ""


@dataclass(frozen=True)
class Address:
    lines: tuple[str, ...] = ()
    postal_code: str = ""
    city: str = ""
    country: str = ""
    additional_locator: str = ""


@dataclass(frozen=True)
class Telecom:
    value: str  # tel:… / mailto:…
    use: str = ""  # HP, MC, …


@dataclass(frozen=True)
class Relationship:
    """A legal representative (`personalRelationship`, code e.g. FTH / MTH)."""

    code: str
    name: Name
    address: Address | None = None
    telecoms: tuple[Telecom, ...] = ()
    id: str = ""  # personalRelationship/id/@extension: how the representative is identified (e.g. an INS)


@dataclass(frozen=True)
class Person:
    """The administrative data of a DMP (`patientPerson`)."""

    name: Name = Name()
    gender: str = ""  # administrativeGenderCode: M, F, U
    birth_time: str = ""  # YYYYMMDD
    addresses: tuple[Address, ...] = ()
    telecoms: tuple[Telecom, ...] = ()
    relationships: tuple[Relationship, ...] = ()


@dataclass(frozen=True)
class Header:
    """What an answer echoes of a request: its id (acknowledgement/targetMessage) and its sender (our
    receiver), and the query id (queryAck) of a PRPA_IN201307UV02."""

    interaction: str
    id_root: str = ""
    id_extension: str = ""
    sender_id: str = ""
    sender_name: str = ""
    query_id_root: str = ""
    query_id_extension: str = ""


@dataclass(frozen=True)
class GdpRequest:
    header: Header
    reason: ReasonCode
    patient_root: str  # the INS: assigning authority OID and NIR / NIA
    patient_id: str
    person: Person | None = None  # TD1.1, TD1.2, TD1.3b, TD1.4
    patient_status: str = ""  # PRPA_IN201314UV02 patient/statusCode: active, terminated
    observations: dict[str, bool] = field(default_factory=dict)  # administrativeObservation code -> BL value
    closure_reason: str = ""  # TD1.4 detectedIssueEvent code
    author_id: str = ""  # registrationRequest/author/assignedEntity/id/@extension (IdNat_PS)


@dataclass(frozen=True)
class PatientView:
    """What an answer says of the DMP of one patient."""

    patient_root: str
    patient_id: str
    active: bool  # statusCode active / terminated
    person: Person = Person()
    ins_c: str = ""  # INS-C, when the DMP has one
    observations: tuple[tuple[str, str, bool], ...] = ()  # (code, codeSystem, value) administrativeObservations


@dataclass(frozen=True)
class ExistenceAnswer:
    """TD0.2: the DMP (None: not found), the caller's authorisation and médecin traitant flag."""

    patient: PatientView | None
    authorization: Authorization = Authorization.NON_EXISTE
    medecin_traitant: bool = False


# --- reading --------------------------------------------------------------------------------------------


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _attr(el: etree._Element | None, name: str) -> str:
    return (el.get(name) or "").strip() if el is not None else ""


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def read_header(body: etree._Element) -> Header:
    """The echoable part of any GDP request; never raises (an AE answer needs it even for a bad message)."""
    interaction = _local(body) if etree.QName(body).namespace == DmpNS.HL7 else ""
    msg_id = body.find(f"{_H}id")
    device = body.find(f"{_H}sender/{_H}device")
    query_id = body.find(f"{_H}controlActProcess/{_H}queryByParameter/{_H}queryId")
    return Header(
        interaction=interaction,
        id_root=_attr(msg_id, "root"),
        id_extension=_attr(msg_id, "extension"),
        sender_id=_attr(device.find(f"{_H}id") if device is not None else None, "root"),
        sender_name=_text(device.find(f"{_H}softwareName") if device is not None else None),
        query_id_root=_attr(query_id, "root"),
        query_id_extension=_attr(query_id, "extension"),
    )


def _invalid(text: str) -> GdpError:
    return GdpError(AckDetail.DMP_INVALID_REQUEST, text)


def _required(parent: etree._Element, path: str, what: str) -> etree._Element:
    el = parent.find(path)
    if el is None:
        raise _invalid(f"{what} is missing")
    return el


def _read_name(el: etree._Element | None) -> Name:
    if el is None:
        return Name()
    family = birth = ""
    for fam in el.findall(f"{_H}family"):
        qualifiers = _attr(fam, "qualifier").split()
        if "BR" in qualifiers:
            birth = _text(fam)
        elif not family:
            family = _text(fam)
    return Name(family, tuple(_text(g) for g in el.findall(f"{_H}given") if _text(g)), _text(el.find(f"{_H}prefix")), birth)


def _read_address(el: etree._Element) -> Address:
    return Address(
        tuple(_text(line) for line in el.findall(f"{_H}streetAddressLine") if _text(line)),
        _text(el.find(f"{_H}postalCode")),
        _text(el.find(f"{_H}city")),
        _text(el.find(f"{_H}country")),
        _text(el.find(f"{_H}additionalLocator")),
    )


def _read_telecoms(el: etree._Element) -> tuple[Telecom, ...]:
    return tuple(Telecom(_attr(t, "value"), _attr(t, "use")) for t in el.findall(f"{_H}telecom") if _attr(t, "value"))


def _read_person(el: etree._Element | None) -> Person | None:
    if el is None:
        return None
    relationships = []
    for rel in el.findall(f"{_H}personalRelationship"):
        addr = rel.find(f"{_H}addr")
        relationships.append(Relationship(
            _attr(rel.find(f"{_H}code"), "code"),
            _read_name(rel.find(f"{_H}relationshipHolder1/{_H}name")),
            _read_address(addr) if addr is not None else None,
            _read_telecoms(rel),
            _attr(rel.find(f"{_H}id"), "extension"),
        ))
    return Person(
        _read_name(el.find(f"{_H}name")),
        _attr(el.find(f"{_H}administrativeGenderCode"), "code"),
        _attr(el.find(f"{_H}birthTime"), "value"),
        tuple(_read_address(a) for a in el.findall(f"{_H}addr")),
        _read_telecoms(el),
        tuple(relationships),
    )


def _read_observations(patient: etree._Element) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for obs in patient.findall(f"{_H}subjectOf/{_H}administrativeObservation"):
        code = _attr(obs.find(f"{_H}code"), "code")
        value = _attr(obs.find(f"{_H}value"), "value").lower()
        if not code:
            continue
        if value not in ("true", "false"):
            raise _invalid(f"administrativeObservation {code}: value/@value must be true or false, not {value!r}")
        found[code] = value == "true"
    return found


def _patient_id(ids: Iterable[etree._Element]) -> tuple[str, str]:
    """The INS among the patient ids: the one that is not an INS-C (KIT-MSG sends INS-C then INS)."""
    candidates = [(_attr(i, "root"), _attr(i, "extension")) for i in ids]
    chosen = [c for c in candidates if c[0] != INS_C_ROOT] or candidates
    if not chosen or not chosen[0][0] or not chosen[0][1]:
        raise _invalid("the patient's INS (id with root and extension) is missing")
    return chosen[0]


def read_request(body: etree._Element) -> GdpRequest:
    """A PRPA_IN201307UV02, PRPA_IN201311UV02 or PRPA_IN201314UV02 body (raises GdpError)."""
    header = read_header(body)
    if header.interaction not in REQUESTS:
        raise _invalid(f"{etree.QName(body).text} is not a request of this service "
                       f"(expected one of {', '.join(sorted(REQUESTS))} in {DmpNS.HL7})")
    interaction_id = body.find(f"{_H}interactionId")
    if interaction_id is not None and _attr(interaction_id, "extension") not in ("", header.interaction):
        raise _invalid(f"interactionId {_attr(interaction_id, 'extension')} does not match the message "
                       f"{header.interaction}")
    control = _required(body, f"{_H}controlActProcess", "controlActProcess")
    reason_el = _required(control, f"{_H}reasonCode", "controlActProcess/reasonCode")
    code = _attr(reason_el, "code")
    allowed = REASONS[header.interaction]
    reason = next((r for r in allowed if r.value == code), None)
    if reason is None:
        raise _invalid(f"reasonCode {code!r} is not one of {', '.join(sorted(r.value for r in allowed))} "
                       f"for {header.interaction}")
    system = _attr(reason_el, "codeSystem")
    if system and system != REASON_SYSTEM:
        raise _invalid(f"reasonCode codeSystem {system} is not {REASON_SYSTEM}")
    if header.interaction == QUERY:
        values = control.findall(f"{_H}queryByParameter/{_H}parameterList/{_H}patientIdentifier/{_H}value")
        if len(values) != 1:
            raise _invalid("queryByParameter/parameterList must hold exactly one patientIdentifier/value (the INS)")
        root, ext = _patient_id(values)
        return GdpRequest(header, reason, root, ext)
    registration = _required(control, f"{_H}subject/{_H}registrationRequest", "controlActProcess/subject/registrationRequest")
    patient = _required(registration, f"{_H}subject1/{_H}patient", "registrationRequest/subject1/patient")
    root, ext = _patient_id(patient.findall(f"{_H}id"))
    author = registration.find(f"{_H}author/{_H}assignedEntity/{_H}id")
    issue = control.find(f"{_H}reasonOf/{_H}detectedIssueEvent/{_H}code")
    return GdpRequest(
        header,
        reason,
        root,
        ext,
        person=_read_person(patient.find(f"{_H}patientPerson")),
        patient_status=_attr(patient.find(f"{_H}statusCode"), "code"),
        observations=_read_observations(patient),
        closure_reason=_attr(issue, "code"),
        author_id=_attr(author, "extension"),
    )


# --- writing --------------------------------------------------------------------------------------------


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{_H}{tag}", {k: v for k, v in attrs.items() if v})
    if text:
        el.text = text
    return el


def _device(parent: etree._Element, tag: str, type_code: str, device_id: str, name: str) -> None:
    wrapper = _el(parent, tag, typeCode=type_code)
    device = _el(wrapper, "device", classCode="DEV", determinerCode="INSTANCE")
    _el(device, "id", root=device_id or "unknown")
    if name:
        _el(device, "softwareName", name)


def _transmission(interaction: str, header: Header, now: str, root_ns: bool = True) -> etree._Element:
    msg = etree.Element(f"{_H}{interaction}", {"ITSVersion": "XML_1.0"},
                        nsmap={None: DmpNS.HL7, "xsi": DmpNS.XSI} if root_ns else None)
    _el(msg, "id", root=DMP_DEVICE + ".1", extension=str(uuid.uuid4()))
    _el(msg, "creationTime", value=now)
    _el(msg, "interactionId", root=INTERACTION_SYSTEM, extension=interaction)
    _el(msg, "processingCode", code="P")
    _el(msg, "processingModeCode", code="T")
    _el(msg, "acceptAckCode", code="NE")
    _device(msg, "receiver", "RCV", header.sender_id, header.sender_name)
    _device(msg, "sender", "SND", DMP_DEVICE, DMP_SOFTWARE)
    return msg


def _acknowledgement(msg: etree._Element, header: Header, error: GdpError | None) -> None:
    ack = _el(msg, "acknowledgement", typeCode="AE" if error else "AA")
    target = _el(ack, "targetMessage")
    _el(target, "id", root=header.id_root or "unknown", extension=header.id_extension)
    if error is not None:
        detail = _el(ack, "acknowledgementDetail", typeCode="E")
        _el(detail, "code", code=error.detail.value)
        _el(detail, "text", error.text)


def _reason(control: etree._Element, reason: ReasonCode) -> None:
    _el(control, "reasonCode", code=reason.value, codeSystem=REASON_SYSTEM, displayName=reason.display_name)


def _write_name(parent: etree._Element, name: Name, tag: str = "name") -> None:
    el = _el(parent, tag)
    if name.prefix:
        _el(el, "prefix", name.prefix)
    for given in name.given:
        _el(el, "given", given)
    if name.family:
        _el(el, "family", name.family, qualifier="SP")
    if name.birth_family:
        _el(el, "family", name.birth_family, qualifier="BR")


def _write_address(parent: etree._Element, address: Address) -> None:
    el = _el(parent, "addr")
    for line in address.lines:
        _el(el, "streetAddressLine", line)
    if address.additional_locator:
        _el(el, "additionalLocator", address.additional_locator)
    for tag, value in (("postalCode", address.postal_code), ("city", address.city), ("country", address.country)):
        if value:
            _el(el, tag, value)


def _write_telecoms(parent: etree._Element, telecoms: Iterable[Telecom]) -> None:
    for t in telecoms:
        _el(parent, "telecom", use=t.use, value=t.value)


def _write_person(patient: etree._Element, person: Person, full: bool) -> None:
    """patientPerson as TD0.2 (identity) or, `full`, TD1.3a (addresses, legal representatives)."""
    el = _el(patient, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
    _write_name(el, person.name)
    _write_telecoms(el, person.telecoms)
    if person.gender:
        _el(el, "administrativeGenderCode", code=person.gender)
    if person.birth_time:
        _el(el, "birthTime", value=person.birth_time)
    if not full:
        return
    for address in person.addresses:
        _write_address(el, address)
    for rel in person.relationships:
        r = _el(el, "personalRelationship", classCode="PRS")
        if rel.id:
            _el(r, "id", extension=rel.id)
        _el(r, "code", code=rel.code, codeSystem="2.16.840.1.113883.1.11.19579")
        if rel.address is not None:
            _write_address(r, rel.address)
        _write_telecoms(r, rel.telecoms)
        holder = _el(r, "relationshipHolder1", classCode="PSN", determinerCode="INSTANCE")
        _write_name(holder, rel.name)


def _observation(patient: etree._Element, code: str, system: str, value: bool) -> None:
    obs = _el(_el(patient, "subjectOf", typeCode="SBJ"), "administrativeObservation", classCode="OBS", moodCode="EVN")
    _el(obs, "code", code=code, codeSystem=system)
    _el(obs, "value", value="true" if value else "false", **{_XSI_TYPE: "BL"})


def _registration(control: etree._Element, view: PatientView, full: bool, ids: bool = True) -> None:
    subject = _el(control, "subject", typeCode="SUBJ", contextConductionInd="false")
    event = _el(subject, "registrationEvent", classCode="REG", moodCode="EVN")
    _el(event, "statusCode", code="completed")
    patient = _el(_el(event, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
    if ids:
        if view.ins_c:
            _el(patient, "id", root=INS_C_ROOT, extension=view.ins_c)
        _el(patient, "id", root=view.patient_root, extension=view.patient_id)
    _el(patient, "statusCode", code="active" if view.active else "terminated")
    _write_person(patient, view.person, full)
    for code, system, value in view.observations:
        _observation(patient, code, system, value)
    custodian = _el(event, "custodian", typeCode="CST")
    _el(_el(custodian, "assignedEntity", classCode="ASSIGNED"), "id", root=DMP_DEVICE)


def _query_ack(control: etree._Element, header: Header, code: str) -> None:
    ack = _el(control, "queryAck")
    _el(ack, "queryId", root=header.query_id_root or "unknown", extension=header.query_id_extension)
    _el(ack, "queryResponseCode", code=code)


def existence_observations(mes_attached: bool, internet_account: bool) -> tuple[tuple[str, str, bool], ...]:
    """TD0.2's observations (KIT-MSG order): the patient's internet account, the attachment to MES."""
    return ((COMPTE_INTERNET_OUVERT, COMPTE_INTERNET_SYSTEM, internet_account), (RATTACHEMENT_ENS, OBSERVATION_SYSTEM, mes_attached))


def opposition_observations(bris_de_glace: bool, acces_urgence: bool) -> tuple[tuple[str, str, bool], ...]:
    """TD1.3a's observations: the patient's oppositions to emergency access."""
    return ((OPPOSITION_BRIS_DE_GLACE, OBSERVATION_SYSTEM, bris_de_glace), (OPPOSITION_ACCES_URGENCE, OBSERVATION_SYSTEM, acces_urgence))


def query_response(request: GdpRequest, answer: ExistenceAnswer, now: str) -> etree._Element:
    """PRPA_IN201308UV02: OK with the DMP, or NF when the patient has none (ack AA both times). TD0.2
    adds the caller's AUTORISATION and STATUT_MT attention lines (only when a DMP was found)."""
    header = request.header
    msg = _transmission(QUERY_RESPONSE, header, now)
    if request.reason is ReasonCode.TEST_EXST and answer.patient is not None:
        line = _el(msg, "attentionLine")
        _el(line, "keyWordText", code=AUTORISATION, codeSystem=AUTORISATION_SYSTEM)
        _el(line, "value", code=answer.authorization.value, codeSystem=AUTORISATION_VALUE_SYSTEM, **{_XSI_TYPE: "CV"})
        line = _el(msg, "attentionLine")
        _el(line, "keyWordText", code=STATUT_MT, codeSystem=STATUT_MT_SYSTEM)
        _el(line, "value", value="true" if answer.medecin_traitant else "false", **{_XSI_TYPE: "BL"})
    _acknowledgement(msg, header, None)
    control = _el(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    _reason(control, request.reason)
    if answer.patient is not None:
        _registration(control, answer.patient, full=request.reason is ReasonCode.CNSLT_DATA)
    _query_ack(control, header, "OK" if answer.patient is not None else "NF")
    return msg


def query_error(header: Header, reason: ReasonCode | None, error: GdpError, now: str) -> etree._Element:
    """PRPA_IN201308UV02 with an AE acknowledgement (queryResponseCode AE)."""
    msg = _transmission(QUERY_RESPONSE, header, now)
    _acknowledgement(msg, header, error)
    control = _el(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    if reason is not None:
        _reason(control, reason)
    _query_ack(control, header, "AE")
    return msg


def _wrapped(wrapper: str, interaction: str, header: Header, now: str) -> tuple[etree._Element, etree._Element]:
    """The WSDL's response wrapper (in asip:ci-sis:gdp:2010) around the HL7 answer, as KIT-MSG TD1.4."""
    outer = etree.Element(f"{{{DmpNS.GDP}}}{wrapper}", nsmap={None: DmpNS.HL7, "gdp": DmpNS.GDP, "xsi": DmpNS.XSI})
    msg = _transmission(interaction, header, now, root_ns=False)
    outer.append(msg)
    return outer, msg


def registration_response(request_header: Header, reason: ReasonCode | None, view: PatientView | None,
                          error: GdpError | None, now: str) -> etree._Element:
    """The answer to PRPA_IN201311UV02 (TD1.1) or PRPA_IN201314UV02 (TD1.2, TD1.3b, TD1.4): accepted
    (AA, the DMP as it now is) or refused (AE with its acknowledgementDetail)."""
    add = request_header.interaction == ADD
    wrapper = "PRPA_IN201311UV02_Response" if add else "PRPA_IN201314UV02_Response"
    interaction = (ADD_REFUSE if add else REVISE_REFUSE) if error else (ADD_ACCEPT if add else REVISE_ACCEPT)
    outer, msg = _wrapped(wrapper, interaction, request_header, now)
    _acknowledgement(msg, request_header, error)
    control = _el(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    if reason is not None:
        _reason(control, reason)
    if view is not None and error is None:
        # KIT-MSG TD1.4's answer names the patient without ids; the accepted creation gives them back.
        _registration(control, view, full=False, ids=add)
    return outer
