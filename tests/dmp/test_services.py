"""The DMP's services end to end: the registry with the dmp profile behind real uvicorn HTTPS with client
certificates, called as DMP clients call it (DIRECTE: the card on the TLS connection and an unsigned VIHF,
or a VIHF signed with the card; INDIRECTE: the structure's seal). TD0.2 before and after TD0.3, the TD1.x
lifecycle of a record, TD0.4 and TD1.6, each malformed request's answer, the answers' schema validity, the
history of the record and the audit event of each call."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from lxml import etree

from dmp.model import StoredRecord
from registry.app import Registry
from registry.config import RegistrySettings
from tests.dmp import messages as m
from tests.dmp.callers import DOCTOR, STRUCTURE, Client, Vihf, fault_reason
from tests.security import fixtures
from tests.security.server import ServerThread
from xdscore import audit_events as ae
from xdscore import vihf
from xdscore.dmpws.vocabulary import DmpAction, DmpNS
from xdscore.vocabulary import NS
from xdsservice.audit_sender import AuditSenderSettings
from xdsservice.auditing import AuditTrail
from xdsservice.tls import TlsSettings, client_ssl_context, uvicorn_ssl_kwargs
from xuatool.assertion import ACCESS_BRIS_DE_GLACE
from xuatool.pki import TestPki

pki = fixtures.pki
H = f"{{{DmpNS.HL7}}}"
HAB = f"{{{DmpNS.HABILITATIONS}}}"
PS = f"{{{DmpNS.PATIENTS}}}"
GET, ADD, REVISE = (DmpAction.GET_DEMOGRAPHICS.value, DmpAction.PATIENT_ADD.value, DmpAction.PATIENT_REVISE.value)
SET_AUTH, LIST_AUTH, LIST_PATIENTS = (DmpAction.SET_AUTHORIZATION.value, DmpAction.LIST_AUTHORIZATIONS.value,
                                      DmpAction.PATIENT_LIST.value)
SCHEMAS = {DmpNS.HL7: m.schema("hl7v3-gdp.xsd"), DmpNS.GDP: m.schema("gdp.xsd"),
           DmpNS.HABILITATIONS: m.schema("habilitations.xsd"), DmpNS.PATIENTS: m.schema("patients-specific.xsd")}
OTHER_DOCTOR = "810000000002"
DMP_SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).resolve().parents[2] / "schemas" / "dicom-audit-message.xsd")))


class KeptTrail(AuditTrail):
    """The real trail (transport off) keeping the facts, each built into DICOM messages that must validate."""

    def __init__(self) -> None:
        super().__init__(AuditSenderSettings(app_name="xds-registry", transport="off"))
        self.facts: list[ae.AuditFacts] = []

    def record(self, facts: ae.AuditFacts) -> None:
        for message in ae.build(facts):
            DMP_SCHEMA.assertValid(etree.fromstring(message))
        self.facts.append(facts)


@pytest.fixture(scope="module")
def files(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dmp-services-pki")
    pki.write(folder)
    return folder


@pytest.fixture(scope="module")
def served(files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, KeptTrail, Registry]]:
    env = {"XDS_SECURITY": "required", "XDS_TRUST_DIR": str(files / "trust"), "XDS_PROFILE": "dmp",
           "XDS_CONFIG": os.devnull, "XDS_AUDIT_SENDER_TRANSPORT": "off",
           "XDS_DATA_DIR": str(tmp_path_factory.mktemp("dmp-services")), "XDS_REGISTRY_FEED_PORT": "0",
           "XDS_DMP_API_TOKEN": "secret-token"}
    trail = KeptTrail()
    registry = Registry(RegistrySettings.load(env), audit=trail)
    tls = TlsSettings(cert=str(files / "server.pem"), key=str(files / "server.key"), client_ca=str(files / "trust"),
                      client_auth="optional")
    with ServerThread(registry.asgi, **uvicorn_ssl_kwargs(tls)) as server:
        yield server.url("", "https"), trail, registry


@pytest.fixture
def client(pki: TestPki, files: Path, served: tuple[str, KeptTrail, Registry]) -> Client:
    return Client(pki, served[0] + "/si-dmp-server/v2/services", files)


@pytest.fixture
def trail(served: tuple[str, KeptTrail, Registry]) -> KeptTrail:
    return served[1]


def api(served: tuple[str, KeptTrail, Registry], files: Path, method: str, patient: str, path: str = "",
        body: dict[str, object] | None = None, token: str = "secret-token") -> httpx.Response:
    url = f"{served[0]}/dmp/api/patients/{urllib.parse.quote(m.key(patient), safe='')}{path}"
    return httpx.request(method, url, json=body, headers={"authorization": f"Bearer {token}"},
                         verify=client_ssl_context(str(files / "trust")), timeout=30)


def valid(answer: etree._Element) -> etree._Element:
    schema = SCHEMAS[etree.QName(answer).namespace]
    assert schema.validate(answer), schema.error_log
    return answer


def existence(client: Client, patient: str, caller: Vihf | None = None) -> tuple[str, str, str, str]:
    """TD0.2: (queryResponseCode, AUTORISATION, STATUT_MT, patient statusCode)."""
    answer = valid(client.post("patients", m.query("TEST_EXST", patient), GET, caller or Vihf(patient=m.cx(patient))))
    assert answer.find(f"{H}acknowledgement").get("typeCode") == "AA", etree.tostring(answer)
    lines = {line.find(f"{H}keyWordText").get("code"): line.find(f"{H}value") for line in answer.findall(f"{H}attentionLine")}
    status = answer.find(f".//{H}patient/{H}statusCode")
    return (answer.find(f".//{H}queryResponseCode").get("code"),
            lines["AUTORISATION"].get("code") if "AUTORISATION" in lines else "",
            lines["STATUT_MT"].get("value") if "STATUT_MT" in lines else "",
            status.get("code") if status is not None else "")


def set_auth(client: Client, patient: str, action: str = "AJOUT", role: str | None = None,
             caller: Vihf | None = None) -> tuple[str, str]:
    answer = valid(client.post("habilitations", m.set_authorization(action, role), SET_AUTH,
                               caller or Vihf(patient=m.cx(patient))))
    return answer.findtext(f"{HAB}output/{HAB}status"), answer.findtext(f"{HAB}output/{HAB}context") or ""


def ack(answer: etree._Element) -> tuple[str, str, str]:
    """(message, typeCode, acknowledgementDetail code) of an HL7 answer, unwrapped."""
    msg = answer[0] if etree.QName(answer).namespace == DmpNS.GDP else answer
    detail = msg.find(f"{H}acknowledgement/{H}acknowledgementDetail/{H}code")
    return (etree.QName(msg).localname, msg.find(f"{H}acknowledgement").get("typeCode"),
            detail.get("code") if detail is not None else "")


def open_dmp(served: tuple[str, KeptTrail, Registry], files: Path, patient: str) -> None:
    assert api(served, files, "POST", patient, "/open").status_code == 200


# --- TD0.2 and TD0.3 ------------------------------------------------------------------------------------


def test_td02_before_and_after_td03_directe_over_mutual_tls(client: Client, served, files: Path,  # type: ignore[no-untyped-def]
                                                            trail: KeptTrail) -> None:
    patient = "180017512345615"
    assert existence(client, patient) == ("NF", "", "", "")  # no DMP yet
    open_dmp(served, files, patient)
    assert existence(client, patient) == ("OK", "NON_EXISTE", "false", "active")
    assert set_auth(client, patient) == ("DMPOk", "")
    assert existence(client, patient) == ("OK", "VALIDE", "false", "active")
    assert set_auth(client, patient) == ("DMPOk", "Autorisation déjà présente aucune action effectuée")
    assert set_auth(client, patient, role="MEDECIN_TRAITANT") == ("DMPOk", "")
    assert existence(client, patient) == ("OK", "VALIDE", "true", "active")
    # another doctor, signed with the card this time, is not concerned by the first one's authorisation
    other = Vihf(name_id=OTHER_DOCTOR, patient=m.cx(patient), signed=True)
    assert existence(client, patient, other) == ("OK", "NON_EXISTE", "false", "active")
    assert set_auth(client, patient, "SUPPRESSION", "MEDECIN_TRAITANT") == ("DMPOk", "")
    assert existence(client, patient) == ("OK", "VALIDE", "false", "active")
    assert set_auth(client, patient, "SUPPRESSION") == ("DMPOk", "")
    assert existence(client, patient) == ("OK", "NON_EXISTE", "false", "active")
    assert set_auth(client, patient, "SUPPRESSION")[1] == "Aucune autorisation présente aucune action effectuée"
    history = api(served, files, "GET", patient, "/history").json()
    assert [(h["change"], h["via"], h["by"]) for h in history] == [
        ("created", "api", "patient"), ("authorised", "TD0.3", DOCTOR), ("medecin_traitant_named", "TD0.3", DOCTOR),
        ("medecin_traitant_removed", "TD0.3", DOCTOR), ("authorisation_removed", "TD0.3", DOCTOR)]
    events = [f for f in trail.facts if f.patient_ids == (m.key(patient),) and f.dmp and f.dmp.code == "TD0.3"]
    assert [(e.dmp.action, e.dmp.changes, e.principal.name_id) for e in events][:2] == [  # type: ignore[union-attr]
        (ae.EventAction.UPDATE, ("authorised",), DOCTOR), (ae.EventAction.READ, (), DOCTOR)]


def test_a_blocked_professional_is_interdit_and_cannot_authorise_himself(client: Client, served, files: Path) -> None:  # type: ignore[no-untyped-def]
    patient = "180017512345616"
    open_dmp(served, files, patient)
    assert set_auth(client, patient) == ("DMPOk", "")
    blocked = api(served, files, "PUT", patient, f"/blocked/{DOCTOR}", {"first_name": "MAX", "last_name": "LIBRE"})
    assert blocked.status_code == 200 and [c["change"] for c in blocked.json()["changes"]] == ["blocked"]
    assert existence(client, patient) == ("OK", "INTERDIT", "false", "active")
    status, context = set_auth(client, patient)
    assert (status, "blocked" in context) == ("DMPAccessDeniedByRightsService", True)
    api(served, files, "DELETE", patient, f"/blocked/{DOCTOR}")
    assert existence(client, patient) == ("OK", "NON_EXISTE", "false", "active")  # unblocking gives nothing back


def test_indirecte_is_judged_on_its_structure_and_cannot_use_td03(client: Client, served, files: Path) -> None:  # type: ignore[no-untyped-def]
    patient = "180017512345617"
    open_dmp(served, files, patient)
    seal = Vihf(mode=vihf.INDIRECTE, patient=m.cx(patient), name_id="3499900063480001/SECRETARIAT")
    assert existence(client, patient, seal)[:2] == ("OK", "NON_EXISTE")
    status, context = set_auth(client, patient, caller=seal)
    assert status == "DMPAccessDeniedByRightsService" and "DIRECTE" in context
    assert api(served, files, "PUT", patient, f"/authorised/structure/{STRUCTURE}").status_code == 200
    assert existence(client, patient, seal)[:2] == ("OK", "VALIDE")


# --- TD1.x ----------------------------------------------------------------------------------------------


def test_the_lifecycle_of_a_record(client: Client, served, files: Path, trail: KeptTrail) -> None:  # type: ignore[no-untyped-def]
    patient = "180017512345618"
    caller = Vihf(patient=m.cx(patient), signed=True)
    created = valid(client.post("patients", m.create(patient, representative=True), ADD, caller))
    assert ack(created) == ("PRPA_IN201312UV02", "AA", "")
    assert created.find(f".//{H}patient/{H}id").get("extension") == patient
    assert ack(valid(client.post("patients", m.create(patient), ADD, caller))) == ("PRPA_IN201313UV02", "AE", "DMPFound")
    assert existence(client, patient, caller) == ("OK", "VALIDE", "false", "active")  # the creator is authorised
    data = valid(client.post("patients", m.query("CNSLT_DATA", patient), GET, caller))
    person = data.find(f".//{H}patientPerson")
    assert person.findtext(f"{H}name/{H}family") == "PATB-QUATRE" and person.find(f"{H}addr/{H}city").text == "Paris"
    assert person.findtext(f"{H}personalRelationship/{H}relationshipHolder1/{H}name/{H}family") == "REPLEG"
    assert {o.find(f"{H}code").get("code"): o.find(f"{H}value").get("value")
            for o in data.iter(f"{H}administrativeObservation")} == {
        "OPPOSITION_BRIS_DE_GLACE": "false", "OPPOSITION_ACCES_URGENCE": "true"}
    closed = valid(client.post("patients", m.close(patient), REVISE, caller))
    assert ack(closed) == ("PRPA_IN201315UV02", "AA", "")
    assert closed.find(f".//{H}patient/{H}statusCode").get("code") == "terminated"
    assert existence(client, patient, caller)[3] == "terminated"
    assert ack(valid(client.post("patients", m.close(patient), REVISE, caller)))[1:] == ("AE", "DMPClosed")
    assert set_auth(client, patient, caller=caller)[0] == "DMPClosed"
    assert ack(valid(client.post("patients", m.reactivate(patient, consent=False), REVISE, caller)))[1:] == (
        "AE", "DMPInvalidRequest")
    assert ack(valid(client.post("patients", m.reactivate(patient), REVISE, caller))) == ("PRPA_IN201315UV02", "AA", "")
    assert ack(valid(client.post("patients", m.reactivate(patient), REVISE, caller)))[1:] == ("AE", "DMPFound")
    assert existence(client, patient, caller)[3] == "active"
    assert [h["change"] for h in api(served, files, "GET", patient, "/history").json()] == [
        "created", "authorised", "closed", "reactivated"]
    codes = [(f.dmp.code, f.outcome) for f in trail.facts if f.patient_ids == (m.key(patient),) and f.dmp]
    assert ("TD1.1", ae.EventOutcome.SUCCESS) in codes and ("TD1.4", ae.EventOutcome.SERIOUS_FAILURE) in codes


def test_a_dmp_attached_to_mes_is_not_closed_here(client: Client, served: tuple[str, KeptTrail, Registry]) -> None:
    patient = "180017512345619"
    registry = served[2]
    assert registry.records is not None
    with registry.records.write() as tx:
        tx.save(replace(StoredRecord(m.key(patient), created_at="20260101000000", updated_at="20260101000000"),
                        mes_attached=True))
    answer = client.post("patients", m.close(patient), REVISE, Vihf(patient=m.cx(patient)))
    assert ack(answer)[1:] == ("AE", "DMPAccessDeniedByRightsService")
    assert "Mon espace santé" in answer.findtext(f".//{H}acknowledgementDetail/{H}text")


def test_creation_without_consent_and_for_another_patient_than_the_vihf(client: Client) -> None:
    patient = "180017512345620"
    refused = client.post("patients", m.create(patient, consent=False), ADD, Vihf(patient=m.cx(patient)))
    assert ack(refused)[1:] == ("AE", "DMPInvalidRequest")
    assert "CONSENTEMENT_OUVERTURE_DMP" in refused.findtext(f".//{H}acknowledgementDetail/{H}text")
    other = client.post("patients", m.create(patient), ADD, Vihf(patient=m.cx(m.OTHER)))
    assert ack(other)[1:] == ("AE", "DMPAccessDeniedByRightsService")


# --- lists ------------------------------------------------------------------------------------------------


def test_td16_and_td04_lists(client: Client, served, files: Path) -> None:  # type: ignore[no-untyped-def]
    first, second = "180017512345621", "180017512345622"
    for patient in (first, second):
        open_dmp(served, files, patient)
    assert set_auth(client, first, role="MEDECIN_TRAITANT") == ("DMPOk", "")
    assert set_auth(client, second) == ("DMPOk", "")
    api(served, files, "PUT", first, f"/blocked/{OTHER_DOCTOR}", {"first_name": "JEAN", "last_name": "BLOQUE"})

    def listed(mode: str) -> list[tuple[str, str, str]]:
        answer = valid(client.post("habilitations", m.list_authorizations(mode), LIST_AUTH, Vihf(patient=m.cx(first))))
        assert answer.findtext(f"{HAB}output/{HAB}status") == "DMPOk"
        return [(row.findtext(f"{HAB}nationalId"), row.findtext(f"{HAB}mode"), row.findtext(f"{HAB}specificRight") or "")
                for row in answer.iter(f"{HAB}listOfAuthorizationByPatient")]

    assert listed("ACTIVE") == [(DOCTOR, "ACTIVE", "MEDECIN_TRAITANT")]
    assert listed("INTERDITE") == [(OTHER_DOCTOR, "INTERDITE", "")]
    assert listed("TOUTE") == [(DOCTOR, "ACTIVE", "MEDECIN_TRAITANT"), (OTHER_DOCTOR, "INTERDITE", "")]
    row = next(valid(client.post("habilitations", m.list_authorizations("ACTIVE"), LIST_AUTH,
                                 Vihf(patient=m.cx(first)))).iter(f"{HAB}listOfAuthorizationByPatient"))
    # DIRECTE without subject-id: the name is the card holder's (the test card's CN "899700000001/MEDECIN TEST")
    assert (row.findtext(f"{HAB}lastName"), row.findtext(f"{HAB}firstName"), row.findtext(f"{HAB}codeSpeciality")) == (
        "MEDECIN", "TEST", "G15_10/SM26")
    # someone without an authorisation does not get the list
    refused = valid(client.post("habilitations", m.list_authorizations("TOUTE"), LIST_AUTH,
                                Vihf(name_id="810000000003", patient=m.cx(first))))
    assert refused.findtext(f"{HAB}output/{HAB}status") == "DMPAccessDeniedByRightsService"

    def patients(body: etree._Element, caller: Vihf) -> list[tuple[str, str]]:
        answer = valid(client.post("patientsSpecific", body, LIST_PATIENTS, caller))
        assert answer.findtext(f"{PS}output/{PS}status") == "DMPOk"
        return [(row.findtext(f"{PS}patientIdentifier/{PS}nationalId"), row.findtext(f"{PS}MT"))
                for row in answer.iter(f"{PS}patientlistData")]

    mine = patients(m.patient_list(), Vihf(patient=""))
    assert (first, "true") in mine and (second, "false") in mine
    assert patients(m.patient_list("29991231"), Vihf(patient="")) == []  # nothing authorised since then
    assert patients(m.patient_list(date_type="LASTDOC"), Vihf(patient="")) == []  # no document yet
    by_structure = patients(m.patient_list(), Vihf(mode=vihf.INDIRECTE, patient="", name_id="3499900063480001/SEC"))
    assert {first, second} <= {p for p, _ in by_structure}
    assert patients(m.patient_list(owner=DOCTOR), Vihf(name_id="810000000004", patient="", structure="OTHER")) == []


# --- malformed requests -----------------------------------------------------------------------------------


def test_malformed_and_unknown_requests_get_the_dmp_answers(client: Client) -> None:
    patient = m.OTHER
    caller = Vihf(patient=m.cx(patient))
    # a wsa:Action the service does not serve
    reason = fault_reason(client.post("patients", m.query(), "urn:hl7-org:v3:PRPA_IN201305UV02", caller))
    assert "is not served at this endpoint" in reason
    # the body is not what the action says: an AE of the action's interaction
    wrong = client.post("patients", m.create(patient), GET, caller)
    assert ack(valid(wrong))[:3] == ("PRPA_IN201308UV02", "AE", "DMPInvalidRequest")
    assert ack(valid(client.post("patients", etree.Element(f"{H}PRPA_IN201311UV02"), ADD, caller)))[1:] == (
        "AE", "DMPInvalidRequest")
    # a patient id that is not an INS
    bad_root = client.post("patients", m.query(root="1.2.3.4"), GET, caller)
    assert ack(valid(bad_root))[1:] == ("AE", "DMPInvalidRequest")
    assert "not an INS assigning authority" in bad_root.findtext(f".//{H}acknowledgementDetail/{H}text")
    # the VIHF names another patient
    assert ack(client.post("patients", m.query(ins=m.PATIENT), GET, caller))[1:] == ("AE", "DMPAccessDeniedByRightsService")
    # habilitations: an unreadable body is a Sender fault; no patient in the VIHF, another mode: a status
    assert "action 'DONNER'" in fault_reason(client.post("habilitations", m.set_authorization("DONNER"), SET_AUTH, caller))
    assert set_auth(client, patient, caller=Vihf(patient=""))[0] == "DMPInvalidRequest"
    emergency = Vihf(patient=m.cx(patient), purpose=ACCESS_BRIS_DE_GLACE)
    assert set_auth(client, patient, caller=emergency) == (
        "DMPAccessDeniedByRightsService", "setAuthorization is refused in access mode bris_de_glace (normal mode only)")
    assert "startDate" in fault_reason(client.post("patientsSpecific", m.patient_list("hier"), LIST_PATIENTS, caller))
    # no card on the connection for an unsigned DIRECTE VIHF; no XML at all
    assert "FailedAuthentication" in etree.tostring(client.post("patients", m.query(), GET, caller, card=False)).decode()
    garbage = client.raw("patients", b"<not xml")
    assert garbage.status_code == 400 and b"Fault" in garbage.content
    assert client.raw("nothing", b"").status_code == 404


def test_the_registry_answers_at_the_dmp_path(client: Client, served, files: Path) -> None:  # type: ignore[no-untyped-def]
    from xdscore.queries import ReturnType, encode_request
    from xdscore.vocabulary import Action
    from xdscore.vocabulary import StoredQueryId as Q

    patient = "180017512345633"
    open_dmp(served, files, patient)
    body = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": m.key(patient),
                                            "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]},
                          ReturnType.LEAF_CLASS)
    caller = Vihf(patient=m.cx(patient), signed=True)
    refused = client.post("registry", body, Action.STORED_QUERY.value, caller)
    assert refused.tag == f"{{{NS.QUERY}}}AdhocQueryResponse", etree.tostring(refused)[:400]
    assert refused.get("status").endswith("Failure")  # the access rules: no authorisation yet
    assert set_auth(client, patient, caller=caller) == ("DMPOk", "")
    answer = client.post("registry", body, Action.STORED_QUERY.value, caller)
    assert answer.get("status").endswith("Success"), etree.tostring(answer)[:600]


# --- the patient API --------------------------------------------------------------------------------------


def test_the_patient_api_needs_its_token_and_audits_each_choice(served, files: Path, trail: KeptTrail) -> None:  # type: ignore[no-untyped-def]
    patient = "180017512345623"
    assert api(served, files, "POST", patient, "/open", token="wrong").status_code == 401
    assert api(served, files, "GET", patient).status_code == 404
    open_dmp(served, files, patient)
    changed = api(served, files, "PUT", patient, "/oppositions", {"bris_de_glace": True})
    assert changed.status_code == 200 and changed.json()["record"]["opposes_bris_de_glace"] is True
    assert api(served, files, "PUT", patient, "/oppositions", {"bris_de_glace": "oui"}).status_code == 400
    assert api(served, files, "PUT", patient, "/oppositions", {}).status_code == 400
    named = api(served, files, "PUT", patient, f"/medecin-traitant/{DOCTOR}", {"first_name": "MAX", "last_name": "LIBRE"})
    assert [c["change"] for c in named.json()["changes"]] == ["authorised", "medecin_traitant_named"]
    assert api(served, files, "PUT", patient, f"/blocked/{DOCTOR}").json()["record"]["medecins_traitants"] == []
    assert api(served, files, "PUT", patient, f"/medecin-traitant/{DOCTOR}").status_code == 409  # blocked
    assert api(served, files, "PUT", patient, "/hidden", {"hidden": True}).json()["record"]["hidden_from_everyone"]
    assert api(served, files, "PUT", patient, "/masked-in-emergency", {"visible": True}).status_code == 200
    again = api(served, files, "PUT", patient, "/hidden", {"hidden": True})
    assert again.json()["changes"] == []  # already so: nothing written, nothing audited
    assert api(served, files, "PUT", patient, "/authorised/robot/1").status_code == 404
    record = api(served, files, "GET", patient).json()
    assert (record["status"], record["blocked_professionals"][0]["id"], record["masked_visible_in_emergency"]) == (
        "active", DOCTOR, True)
    view = served[2].records.record_for(m.cx(patient))  # what the access rules read
    assert view.opposes_bris_de_glace and view.hidden_from_everyone and view.blocked == {DOCTOR}
    choices = [f.dmp.changes for f in trail.facts if f.patient_ids == (m.key(patient),) and f.dmp
               and f.dmp.code == "CHOIX_PATIENT"]
    assert choices == [("created",), ("opposition_bris_de_glace",), ("authorised", "medecin_traitant_named"),
                       ("blocked", "medecin_traitant_removed"), ("hidden_from_everyone",), ("masked_visible_in_emergency",)]
