"""The DMP services' settings and the rest of the patient-record transactions, over HTTP with VIHFs signed
by the card: a DMP opened by the patient feed (`open_on_feed`) with the feed's identity, creation turned off
(`allow_creation`), authorisations that expire (`authorization_days`) and are renewed by TD0.3, and TD1.3b
updating the administrative data TD1.3a reads."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from lxml import etree

from dmp.model import Actor, StoredRecord
from registry.app import Registry
from registry.config import RegistrySettings
from tests.dmp import messages as m
from tests.dmp.callers import DOCTOR, Client, Vihf
from tests.security import fixtures
from tests.security.server import ServerThread
from xdscore.access.record import ActorKind
from xdscore.dmpws.vocabulary import DmpAction, DmpNS
from xuatool.pki import TestPki

pki = fixtures.pki
H = f"{{{DmpNS.HL7}}}"
HL7 = m.schema("hl7v3-gdp.xsd")
FED = "180017512345630"


@pytest.fixture(scope="module")
def served(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Registry]]:
    data = tmp_path_factory.mktemp("dmp-options")
    env = {"XDS_SECURITY": "optional", "XDS_TRUST_DIR": str(pki.write(data / "pki")), "XDS_PROFILE": "dmp",
           "XDS_CONFIG": os.devnull, "XDS_AUDIT_SENDER_TRANSPORT": "off", "XDS_DATA_DIR": str(data),
           "XDS_REGISTRY_FEED_PORT": "0", "XDS_DMP_OPEN_ON_FEED": "true", "XDS_DMP_ALLOW_CREATION": "false",
           "XDS_DMP_AUTHORIZATION_DAYS": "365"}
    registry = Registry(RegistrySettings.load(env))
    with ServerThread(registry.asgi) as server:
        yield Client(pki, server.url("/si-dmp-server/v2/services")), registry


def card(patient: str) -> Vihf:
    return Vihf(patient=m.cx(patient), signed=True)


def existence(client: Client, patient: str) -> etree._Element:
    answer = client.post("patients", m.query("TEST_EXST", patient), DmpAction.GET_DEMOGRAPHICS.value, card(patient))
    assert HL7.validate(answer), HL7.error_log
    return answer


def authorisation(answer: etree._Element) -> str:
    return next(line.find(f"{H}value").get("code") for line in answer.findall(f"{H}attentionLine")
                if line.find(f"{H}keyWordText").get("code") == "AUTORISATION")


def test_the_feed_opens_a_dmp_with_the_feed_s_identity(served: tuple[Client, Registry]) -> None:
    client, registry = served
    adt = (f"MSH|^~\\&|HIS|H|XDS|X|20260101||ADT^A01^ADT_A01|1|P|2.5\rPID|||{FED}^^^&1.2.250.1.213.1.4.10&ISO^NH||"
           "PAT-TROIS^DOMINIQUE||19790328|F|||1 rue de la Paix^^Paris^^75002^FRA\r")
    assert b"MSA|AA" in registry.feed.handle(adt.encode())
    answer = existence(client, FED)
    person = answer.find(f".//{H}patientPerson")
    assert (person.findtext(f"{H}name/{H}family"), person.findtext(f"{H}name/{H}given"),
            person.find(f"{H}birthTime").get("value"), person.find(f"{H}administrativeGenderCode").get("code")) == (
        "PAT-TROIS", "DOMINIQUE", "19790328", "F")
    assert registry.records is not None
    with registry.records.read() as tx:
        assert [(h.change.value, h.who.via) for h in tx.history(m.key(FED))] == [("created", "ITI-8")]
    data = client.post("patients", m.query("CNSLT_DATA", FED), DmpAction.GET_DEMOGRAPHICS.value, card(FED))
    assert data.findtext(f".//{H}patientPerson/{H}addr/{H}city") == "Paris"
    assert b"MSA|AA" in registry.feed.handle(adt.replace("|1|P|", "|2|P|").encode())  # fed again: still one DMP
    with registry.records.read() as tx:
        assert len(tx.history(m.key(FED))) == 1


def test_creation_can_be_turned_off(served: tuple[Client, Registry]) -> None:
    client, _ = served
    patient = "180017512345631"
    answer = client.post("patients", m.create(patient), DmpAction.PATIENT_ADD.value, card(patient))
    refused = answer[0]
    assert refused.tag == f"{H}PRPA_IN201313UV02"
    assert refused.find(f".//{H}acknowledgementDetail/{H}code").get("code") == "DMPAccessDeniedByRightsService"


def test_an_old_authorisation_expires_and_td03_renews_it(served: tuple[Client, Registry]) -> None:
    client, registry = served
    patient = "180017512345632"
    assert registry.records is not None
    with registry.records.write() as tx:
        tx.save(StoredRecord(m.key(patient), created_at="20200101000000", updated_at="20200101000000"))
        tx.save_actor(m.key(patient), Actor(ActorKind.PROFESSIONAL, DOCTOR, authorised_at="20200101000000"))
    assert authorisation(existence(client, patient)) == "EXPIRE"
    answer = client.post("habilitations", m.set_authorization(), DmpAction.SET_AUTHORIZATION.value, card(patient))
    assert answer.findtext(f".//{{{DmpNS.HABILITATIONS}}}status") == "DMPOk"
    assert authorisation(existence(client, patient)) == "VALIDE"


def test_td13b_updates_what_td13a_reads(served: tuple[Client, Registry]) -> None:
    client, _ = served
    update = m.registration("PRPA_IN201314UV02", "MODIF_DATA", FED, family="PAT-TROIS-QUATRE", given="DOMINIQUE",
                            observations={"OPPOSITION_BRIS_DE_GLACE": True})
    answer = client.post("patients", update, DmpAction.PATIENT_REVISE.value, card(FED))
    assert answer[0].tag == f"{H}PRPA_IN201315UV02"
    data = client.post("patients", m.query("CNSLT_DATA", FED), DmpAction.GET_DEMOGRAPHICS.value, card(FED))
    assert data.findtext(f".//{H}patientPerson/{H}name/{H}family") == "PAT-TROIS-QUATRE"
    assert {o.find(f"{H}code").get("code"): o.find(f"{H}value").get("value")
            for o in data.iter(f"{H}administrativeObservation")}["OPPOSITION_BRIS_DE_GLACE"] == "true"
