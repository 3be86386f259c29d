"""xdscore.dmpws: the DMP services' messages read and written, against the XSD fragments of schemas/dmp
(requests built as the official examples lay them out, answers as we write them), and each malformed
request refused with the code and the reason the service answers with."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.dmp import messages as m
from xdscore.dmpws import gdp, habilitations, patient_list
from xdscore.dmpws.vocabulary import (
    AckDetail,
    Authorization,
    AuthorizationMode,
    DateType,
    DmpNS,
    HabilitationAction,
    HabilitationRole,
    ReasonCode,
    ServiceStatus,
)

H = f"{{{DmpNS.HL7}}}"
NOW = "20261201120000"
HL7 = m.schema("hl7v3-gdp.xsd")
GDP = m.schema("gdp.xsd")
HAB = m.schema("habilitations.xsd")
PS = m.schema("patients-specific.xsd")


def valid(schema: etree.XMLSchema, element: etree._Element) -> bool:
    ok = schema.validate(element)
    assert ok, schema.error_log
    return ok


@pytest.mark.parametrize("request_", [
    m.query("TEST_EXST"), m.query("CNSLT_DATA"), m.create(representative=True), m.close(), m.reactivate(),
    m.registration("PRPA_IN201314UV02", "MODIF_DATA"),
], ids=["TD0.2", "TD1.3a", "TD1.1", "TD1.4", "TD1.2", "TD1.3b"])
def test_the_hl7_requests_validate(request_: etree._Element) -> None:
    assert valid(HL7, request_)


@pytest.mark.parametrize("body", [m.set_authorization(), m.set_authorization("SUPPRESSION", "MEDECIN_TRAITANT"),
                                  m.list_authorizations(), m.list_authorizations(None)])
def test_the_habilitation_requests_validate(body: etree._Element) -> None:
    assert valid(HAB, body)


def test_the_patient_list_request_validates() -> None:
    assert valid(PS, m.patient_list(owner="899900063480"))


def test_schemas_refuse_what_the_wsdl_refuses() -> None:
    assert not HAB.validate(m.set_authorization("AJOUTER"))
    assert not PS.validate(m.patient_list(date_type="LASTACCESS"))
    bad = m.query()
    bad.remove(bad.find(f"{H}interactionId"))
    assert not HL7.validate(bad)


def test_a_td02_request_is_read() -> None:
    request = gdp.read_request(m.query("TEST_EXST"))
    assert (request.reason, request.patient_root, request.patient_id) == (ReasonCode.TEST_EXST, m.TEST_INS_ROOT, m.PATIENT)
    assert request.header.interaction == "PRPA_IN201307UV02" and request.header.sender_name == "LPS TEST"
    assert request.header.query_id_root == "1.3.6.1.4.1.48364.2"


def test_a_creation_is_read_with_its_person_and_observations() -> None:
    request = gdp.read_request(m.create(representative=True))
    assert request.reason is ReasonCode.CREA_RD and request.author_id == "899900063480"
    assert request.observations == {"CONSENTEMENT_OUVERTURE_DMP": True, "OPPOSITION_BRIS_DE_GLACE": False,
                                    "OPPOSITION_ACCES_URGENCE": True}
    person = request.person
    assert person is not None and person.name == gdp.Name("PATB-QUATRE", ("LAURENCE",), "MME")
    assert (person.gender, person.birth_time, person.addresses[0].city) == ("F", "19070525", "Paris")
    rel = person.relationships[0]
    assert (rel.code, rel.id, rel.name.family) == ("FTH", "153078987658513", "REPLEG")


def test_a_closure_is_read() -> None:
    request = gdp.read_request(m.close())
    assert (request.reason, request.patient_status, request.closure_reason) == (
        ReasonCode.FERM, "terminated", "FERMETURE_DEMANDE_PATIENT")


def _drop(path: str):  # type: ignore[no-untyped-def]
    def mutate(msg: etree._Element) -> None:
        el = msg.find(path)
        el.getparent().remove(el)
    return mutate


def _set(path: str, attribute: str, value: str):  # type: ignore[no-untyped-def]
    return lambda msg: msg.find(path).set(attribute, value)


CAP = f"{H}controlActProcess"
PARAM = f"{CAP}/{H}queryByParameter/{H}parameterList"


@pytest.mark.parametrize("build,mutate,reason", [
    (m.query, _drop(CAP), "controlActProcess is missing"),
    (m.query, _drop(f"{CAP}/{H}reasonCode"), "controlActProcess/reasonCode is missing"),
    (m.query, _set(f"{CAP}/{H}reasonCode", "code", "CREA_RD"), "reasonCode 'CREA_RD' is not one of CNSLT_DATA, TEST_EXST"),
    (m.query, _set(f"{CAP}/{H}reasonCode", "codeSystem", "1.2.3"), "reasonCode codeSystem 1.2.3 is not"),
    (m.query, _drop(f"{PARAM}/{H}patientIdentifier"), "exactly one patientIdentifier/value"),
    (m.query, _set(f"{PARAM}/{H}patientIdentifier/{H}value", "extension", ""), "the patient's INS"),
    (m.query, _set(f"{H}interactionId", "extension", "PRPA_IN201305UV02"), "interactionId PRPA_IN201305UV02"),
    (m.create, _drop(f"{CAP}/{H}subject"), "controlActProcess/subject/registrationRequest is missing"),
    (m.create, _set(f"{CAP}//{H}administrativeObservation/{H}value", "value", "oui"), "must be true or false"),
])
def test_a_malformed_request_is_refused_with_its_reason(build, mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    msg = build()
    mutate(msg)
    with pytest.raises(gdp.GdpError) as info:
        gdp.read_request(msg)
    assert info.value.detail is AckDetail.DMP_INVALID_REQUEST and reason in info.value.text


def test_an_unknown_body_is_refused() -> None:
    with pytest.raises(gdp.GdpError, match="is not a request of this service"):
        gdp.read_request(etree.Element(f"{H}PRPA_IN201305UV02"))


def _view(active: bool = True) -> gdp.PatientView:
    person = gdp.Person(gdp.Name("PATB-QUATRE", ("LAURENCE",), "MME"), "F", "19070525",
                        (gdp.Address(("1 rue",), "75005", "Paris"),), (gdp.Telecom("tel:0102030405", "MC"),),
                        (gdp.Relationship("FTH", gdp.Name("REPLEG", ("Jean",))),))
    return gdp.PatientView(m.TEST_INS_ROOT, m.PATIENT, active, person, "1197854176879056415520",
                           gdp.existence_observations(False, True))


def test_the_existence_answer_carries_authorisation_mt_and_status() -> None:
    request = gdp.read_request(m.query())
    answer = gdp.query_response(request, gdp.ExistenceAnswer(_view(), Authorization.VALIDE, True), NOW)
    assert valid(HL7, answer)
    lines = answer.findall(f"{H}attentionLine")
    assert [(line.find(f"{H}keyWordText").get("code"), line.find(f"{H}value").get("code") or
             line.find(f"{H}value").get("value")) for line in lines] == [("AUTORISATION", "VALIDE"), ("STATUT_MT", "true")]
    assert answer.find(f"{H}acknowledgement").get("typeCode") == "AA"
    patient = answer.find(f".//{H}patient")
    assert [(i.get("root"), i.get("extension")) for i in patient.findall(f"{H}id")] == [
        ("1.2.250.1.213.1.4.2", "1197854176879056415520"), (m.TEST_INS_ROOT, m.PATIENT)]
    assert patient.find(f"{H}statusCode").get("code") == "active"
    assert answer.find(f".//{H}queryAck/{H}queryResponseCode").get("code") == "OK"
    assert answer.find(f".//{H}queryAck/{H}queryId").get("extension") == request.header.query_id_extension
    assert patient.find(f".//{H}addr") is None  # TD0.2 gives the identity, not the addresses


def test_the_administrative_answer_has_addresses_representatives_and_oppositions() -> None:
    request = gdp.read_request(m.query("CNSLT_DATA"))
    view = _view(False)
    view = gdp.PatientView(view.patient_root, view.patient_id, False, view.person, "",
                           gdp.opposition_observations(True, False))
    answer = gdp.query_response(request, gdp.ExistenceAnswer(view), NOW)
    assert valid(HL7, answer)
    assert answer.find(f"{H}attentionLine") is None
    assert answer.find(f".//{H}patient/{H}statusCode").get("code") == "terminated"
    assert answer.find(f".//{H}personalRelationship/{H}relationshipHolder1/{H}name/{H}family").text == "REPLEG"
    obs = {o.find(f"{H}code").get("code"): o.find(f"{H}value").get("value")
           for o in answer.iter(f"{H}administrativeObservation")}
    assert obs == {"OPPOSITION_BRIS_DE_GLACE": "true", "OPPOSITION_ACCES_URGENCE": "false"}


def test_no_dmp_is_nf_and_an_error_is_ae() -> None:
    request = gdp.read_request(m.query())
    nf = gdp.query_response(request, gdp.ExistenceAnswer(None), NOW)
    assert valid(HL7, nf) and nf.find(f".//{H}queryResponseCode").get("code") == "NF"
    assert nf.find(f"{H}acknowledgement").get("typeCode") == "AA" and nf.find(f".//{H}subject") is None
    error = gdp.query_error(request.header, ReasonCode.TEST_EXST, gdp.GdpError(AckDetail.DMP_ACCESS_DENIED, "no"), NOW)
    assert valid(HL7, error)
    detail = error.find(f"{H}acknowledgement/{H}acknowledgementDetail")
    assert (error.find(f"{H}acknowledgement").get("typeCode"), detail.find(f"{H}code").get("code"),
            detail.find(f"{H}text").text) == ("AE", "DMPAccessDeniedByRightsService", "no")


@pytest.mark.parametrize("build,accepted,refused", [
    (m.create, "PRPA_IN201312UV02", "PRPA_IN201313UV02"), (m.close, "PRPA_IN201315UV02", "PRPA_IN201316UV02")])
def test_registration_answers_are_wrapped_as_the_wsdl_says(build, accepted: str, refused: str) -> None:  # type: ignore[no-untyped-def]
    request = gdp.read_request(build())
    ok = gdp.registration_response(request.header, request.reason, _view(), None, NOW)
    assert valid(GDP, ok) and ok[0].tag == f"{H}{accepted}"
    assert ok[0].find(f"{H}acknowledgement").get("typeCode") == "AA"
    ko = gdp.registration_response(request.header, request.reason, None, gdp.GdpError(AckDetail.DMP_FOUND, "exists"), NOW)
    assert valid(GDP, ko) and ko[0].tag == f"{H}{refused}"
    assert ko[0].find(f".//{H}acknowledgementDetail/{H}code").get("code") == "DMPFound"


def test_habilitation_messages_read_and_written() -> None:
    assert habilitations.read_set_authorization(m.set_authorization("AJOUT", "MEDECIN_TRAITANT")) == \
        habilitations.SetAuthorization(HabilitationAction.AJOUT, HabilitationRole.MEDECIN_TRAITANT)
    assert habilitations.read_list_authorizations(m.list_authorizations(None)) is AuthorizationMode.TOUTE
    answer = habilitations.set_authorization_response(ServiceStatus.OK, "Autorisation déjà présente")
    assert valid(HAB, answer) and answer.findtext(f".//{{{DmpNS.HABILITATIONS}}}status") == "DMPOk"
    entry = habilitations.AuthorizationEntry("899900063480", "1.2.250.1.71.4.2.1", "MAX", "LIBRE", ("G15_10/SM26",),
                                             ("Médecin - Qualifié en Médecine générale (SM)",), "20210601135804",
                                             "20210601140606", AuthorizationMode.ACTIVE, True)
    listed = habilitations.list_authorizations_response([entry], ServiceStatus.OK)
    assert valid(HAB, listed)
    assert listed.findtext(f".//{{{DmpNS.HABILITATIONS}}}specificRight") == "MEDECIN_TRAITANT"


@pytest.mark.parametrize("body,reason", [
    (m.set_authorization("AJOUTER"), "action 'AJOUTER' is not one of AJOUT, SUPPRESSION"),
    (m.set_authorization("AJOUT", "PHARMACIEN"), "role 'PHARMACIEN' is not one of MEDECIN_TRAITANT"),
    (etree.Element(f"{{{DmpNS.HABILITATIONS}}}setAuthorization"), "action is missing"),
    (m.list_authorizations(), "the body element is"),
])
def test_malformed_set_authorization(body: etree._Element, reason: str) -> None:
    with pytest.raises(habilitations.MessageError, match=reason):
        habilitations.read_set_authorization(body)


def test_extra_or_repeated_elements_are_refused() -> None:
    body = m.set_authorization()
    etree.SubElement(body, f"{{{DmpNS.HABILITATIONS}}}patient").text = "x"
    with pytest.raises(habilitations.MessageError, match="unexpected element"):
        habilitations.read_set_authorization(body)
    body = m.list_authorizations("ACTIVE")
    etree.SubElement(body, f"{{{DmpNS.HABILITATIONS}}}mode").text = "TOUTE"
    with pytest.raises(habilitations.MessageError, match="given 2 times"):
        habilitations.read_list_authorizations(body)


@pytest.mark.parametrize("start,expected", [("20101010202010", "20101010202010"), ("20180101", "20180101000000"),
                                            ("01012018", "20180101000000"), (None, "0" * 14)])
def test_patient_list_dates(start: str | None, expected: str) -> None:
    request = patient_list.read_patient_list(m.patient_list(start, "LASTDOC"))
    assert (request.start_date, request.date_type) == (expected, DateType.LASTDOC)


@pytest.mark.parametrize("body,reason", [
    (m.patient_list("2018-01-01"), "is not a date"),
    (m.patient_list(date_type="LASTACCESS"), "dateType 'LASTACCESS'"),
    (m.set_authorization(), "the body element is"),
])
def test_malformed_patient_list(body: etree._Element, reason: str) -> None:
    with pytest.raises(habilitations.MessageError, match=reason):
        patient_list.read_patient_list(body)


def test_the_patient_list_answer_validates() -> None:
    entry = patient_list.PatientListEntry(((m.PATIENT, m.TEST_INS_ROOT),), "PATB-QUATRE", "LAURENCE", "", "MME",
                                          "19070525", True, False, "20210521101631", "20210506124503", "20210521101631")
    answer = patient_list.patient_list_response([entry], ServiceStatus.OK)
    assert valid(PS, answer)
    assert answer.findtext(f".//{{{DmpNS.PATIENTS}}}MT") == "true"
