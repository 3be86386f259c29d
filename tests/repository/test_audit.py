"""The repository's audit facts (repository.app): ITI-41 Import and ITI-43 Export events built from the
transactions' outcomes, checked down to the DICOM messages the builders make from them.

The first part needs no socket: request contexts and outcomes in, `AuditFacts` and schema-valid
AuditMessages out. The second part runs the endpoint in-process against the real registry process and
checks that each exchange records its facts once the reply is out (success, refusal, SOAP fault).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from harness.builders import new_patient_id
from harness.services import Service
from repository.app import Repository
from repository.audit_facts import provide_audit_facts, requested_patient, retrieve_audit_facts
from repository.provide import SubmissionFacts
from repository.retrieve import DocumentRequest, DocumentResult
from tests.repository.conftest import REPO_ID, repository_settings
from tests.repository.test_app import post, provide, retrieve
from xdscore import audit_events as ae
from xdscore.principal import CodedValue, Principal
from xdscore.vocabulary import Action, ErrorCode, ResponseStatus
from xdsservice.audit_sender import AuditSenderSettings
from xdsservice.auditing import AuditTrail
from xdsservice.soapapp import RequestContext

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "http://repository.example.org:8082/xds/repository"
CLIENT_REPLY_TO = "http://consumer.example.org/reply"
PATIENT = "P000000000001^^^&1.2.250.1.213.1.4.8&ISO"
OTHER = "P000000000002^^^&1.2.250.1.213.1.4.8&ISO"
SOURCE, DESTINATION = "110153", "110152"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ROOT / "schemas" / "dicom-audit-message.xsd")))


@pytest.fixture
def trail() -> Iterator[AuditTrail]:
    trail = AuditTrail(AuditSenderSettings(app_name="xds-repository", transport="off"))  # nothing is sent
    assert trail.sender is None
    yield trail
    trail.close()


def doctor(resource_id: str = "") -> Principal:
    return Principal(
        subject_id="DUPONT Jean", name_id="810002345678", issuer="https://idp.ch-exemple.fr",
        roles=(CodedValue("10", "1.2.250.1.71.1.2.7", "Médecin"),), resource_id=resource_id,
        structure_id="10B0012345",
    )


def context(principal: Principal | None = None) -> RequestContext:
    return RequestContext(client_host="192.0.2.7", client_port=50123, endpoint=ENDPOINT, headers={},
                          principal=principal, reply_to=CLIENT_REPLY_TO)


def result(uid: str, patient: str = "", error: ErrorCode | None = None, repo: str = REPO_ID, home: str | None = None) -> DocumentResult:
    return DocumentResult(DocumentRequest(repo, uid, home), patient, error)


def messages(facts: list[ae.AuditFacts] | ae.AuditFacts, schema: etree.XMLSchema) -> list[etree._Element]:
    out = []
    for one in facts if isinstance(facts, list) else [facts]:
        for message in ae.build(one):
            root = etree.fromstring(message)
            schema.assertValid(root)
            out.append(root)
    return out


def roles(root: etree._Element) -> dict[str, str]:
    """UserID → RoleIDCode of each ActiveParticipant (the human's role codes joined)."""
    return {p.get("UserID"): ",".join(r.get("csd-code") for r in p.findall("RoleIDCode")) for p in root.iter("ActiveParticipant")}


def requestors(root: etree._Element) -> list[str]:
    return [p.get("UserID") for p in root.iter("ActiveParticipant") if p.get("UserIsRequestor") == "true"]


def objects(root: etree._Element, role: str) -> list[etree._Element]:
    return [o for o in root.iter("ParticipantObjectIdentification") if o.get("ParticipantObjectTypeCodeRole") == role]


def details(obj: etree._Element) -> dict[str, str]:
    return {d.get("type"): base64.b64decode(d.get("value")).decode() for d in obj.findall("ParticipantObjectDetail")}


def outcome(root: etree._Element) -> str:
    return root.find("EventIdentification").get("EventOutcomeIndicator")


# ------------------------------------------------------------------------------------------------
# ITI-41


@pytest.mark.parametrize(("status", "indicator"), [
    (ResponseStatus.SUCCESS, "0"), (ResponseStatus.PARTIAL_SUCCESS, "4"), (ResponseStatus.FAILURE, "8"),
])
def test_provide_facts_import_with_patient_and_submission_set(trail: AuditTrail, schema: etree.XMLSchema, status: ResponseStatus, indicator: str) -> None:
    facts = provide_audit_facts(trail, context(), SubmissionFacts(PATIENT, "1.2.3.4.5"), status)
    assert (facts.transaction, facts.patient_ids, facts.submission_set_unique_id) == (ae.Transaction.ITI_41, (PATIENT,), "1.2.3.4.5")
    [root] = messages(facts, schema)
    ident = root.find("EventIdentification")
    assert (ident.find("EventID").get("csd-code"), ident.get("EventActionCode"), outcome(root)) == ("110107", "C", indicator)
    assert ident.find("EventTypeCode").get("csd-code") == "ITI-41"
    # the document source sends the data: it is the Source and the requestor, we are the Destination
    assert roles(root) == {CLIENT_REPLY_TO: SOURCE, ENDPOINT: DESTINATION}
    assert requestors(root) == [CLIENT_REPLY_TO]
    server = next(p for p in root.iter("ActiveParticipant") if p.get("UserID") == ENDPOINT)
    assert server.get("NetworkAccessPointID") == "repository.example.org" and server.get("AlternativeUserID")
    [patient] = objects(root, "1")
    assert patient.get("ParticipantObjectID") == PATIENT
    [submission_set] = objects(root, "20")
    assert submission_set.get("ParticipantObjectID") == "1.2.3.4.5"


def test_provide_facts_of_an_unreadable_request_name_nobody(trail: AuditTrail, schema: etree.XMLSchema) -> None:
    [root] = messages(provide_audit_facts(trail, context(), SubmissionFacts(), ResponseStatus.FAILURE), schema)
    assert outcome(root) == "8" and objects(root, "1") == [] and objects(root, "20") == []


def test_provide_facts_carry_the_human_requestor(trail: AuditTrail, schema: etree.XMLSchema) -> None:
    [root] = messages(provide_audit_facts(trail, context(doctor()), SubmissionFacts(PATIENT, "1.2.3"), ResponseStatus.SUCCESS), schema)
    human = "<810002345678@https://idp.ch-exemple.fr>"
    assert requestors(root) == [human] and roles(root)[human] == "10"
    assert next(p for p in root.iter("ActiveParticipant") if p.get("UserID") == human).get("UserName") == "DUPONT Jean"


# ------------------------------------------------------------------------------------------------
# ITI-43


def test_retrieve_facts_one_message_per_outcome_repository_is_source(trail: AuditTrail, schema: etree.XMLSchema) -> None:
    documents = (result("1.1", PATIENT, home="urn:oid:1.2.3.9"), result("1.2", error=ErrorCode.XDSDocumentUniqueIdError))
    facts = retrieve_audit_facts(trail, context(), documents, ResponseStatus.PARTIAL_SUCCESS)
    assert len(facts) == 1 and facts[0].patient_ids == (PATIENT,)  # the unknown document goes with the request's patient
    returned, missing = messages(facts, schema)
    for root in (returned, missing):
        ident = root.find("EventIdentification")
        assert (ident.find("EventID").get("csd-code"), ident.get("EventActionCode")) == ("110106", "R")
        assert ident.find("EventTypeCode").get("csd-code") == "ITI-43"
        assert roles(root) == {ENDPOINT: SOURCE, CLIENT_REPLY_TO: DESTINATION}  # data flows from us to the consumer
        assert requestors(root) == [CLIENT_REPLY_TO]
        assert [p.get("ParticipantObjectID") for p in objects(root, "1")] == [PATIENT]
    assert outcome(returned) == "0" and outcome(missing) == "8"
    [doc] = objects(returned, "3")
    assert doc.get("ParticipantObjectID") == "1.1"
    assert details(doc) == {"Repository Unique Id": REPO_ID, "ihe:homeCommunityID": "urn:oid:1.2.3.9"}
    [doc] = objects(missing, "3")
    assert doc.get("ParticipantObjectID") == "1.2" and details(doc) == {"Repository Unique Id": REPO_ID}


def test_retrieve_facts_are_split_by_patient(trail: AuditTrail, schema: etree.XMLSchema) -> None:
    documents = (
        result("1.1", PATIENT), result("2.1", OTHER), result("2.2", OTHER, ErrorCode.XDSRepositoryError),
        result("9.9", error=ErrorCode.XDSDocumentUniqueIdError),
    )
    facts = retrieve_audit_facts(trail, context(), documents, ResponseStatus.PARTIAL_SUCCESS)
    # two patients among the documents found: the unknown document belongs to neither
    by_patient = {f.patient_ids: [(d.unique_id, d.retrieved) for d in f.documents] for f in facts}
    assert by_patient == {(PATIENT,): [("1.1", True)], (OTHER,): [("2.1", True), ("2.2", False)], (): [("9.9", False)]}
    found = [(tuple(o.get("ParticipantObjectID") for o in objects(r, "1")), outcome(r), [o.get("ParticipantObjectID") for o in objects(r, "3")])
             for r in messages(facts, schema)]
    assert found == [((PATIENT,), "0", ["1.1"]), ((OTHER,), "0", ["2.1"]), ((OTHER,), "8", ["2.2"]), ((), "8", ["9.9"])]


def test_retrieve_facts_other_repository(trail: AuditTrail, schema: etree.XMLSchema) -> None:
    documents = (result("1.1", repo="1.2.3.other", error=ErrorCode.XDSUnknownRepositoryId),)
    [root] = messages(retrieve_audit_facts(trail, context(), documents, ResponseStatus.FAILURE), schema)
    assert outcome(root) == "8" and objects(root, "1") == []
    assert details(objects(root, "3")[0]) == {"Repository Unique Id": "1.2.3.other"}


def test_retrieve_facts_with_an_assertion(trail: AuditTrail, schema: etree.XMLSchema) -> None:
    """The human is the requestor; the assertion's patient (resource-id) takes the documents unknown here."""
    documents = (result("1.1", PATIENT), result("7.7", error=ErrorCode.XDSDocumentUniqueIdError))
    facts = retrieve_audit_facts(trail, context(doctor(resource_id=OTHER)), documents, ResponseStatus.PARTIAL_SUCCESS)
    assert {f.patient_ids: [d.unique_id for d in f.documents] for f in facts} == {(PATIENT,): ["1.1"], (OTHER,): ["7.7"]}
    for root in messages(facts, schema):
        human = "<810002345678@https://idp.ch-exemple.fr>"
        assert requestors(root) == [human] and roles(root)[human] == "10"
        assert roles(root)[ENDPOINT] == SOURCE and roles(root)[CLIENT_REPLY_TO] == DESTINATION


def test_retrieve_facts_of_a_refused_request(trail: AuditTrail, schema: etree.XMLSchema) -> None:
    [root] = messages(retrieve_audit_facts(trail, context(), (), ResponseStatus.FAILURE), schema)
    assert outcome(root) == "8" and objects(root, "3") == [] and objects(root, "1") == []
    [root] = messages(retrieve_audit_facts(trail, context(doctor(resource_id=PATIENT)), (), ResponseStatus.FAILURE), schema)
    assert [o.get("ParticipantObjectID") for o in objects(root, "1")] == [PATIENT]


def test_requested_patient() -> None:
    assert requested_patient(None, [result("1", PATIENT), result("2")]) == PATIENT
    assert requested_patient(None, [result("1", PATIENT), result("2", OTHER)]) == ""
    assert requested_patient(None, [result("1")]) == ""
    assert requested_patient(doctor(resource_id=OTHER), [result("1", PATIENT)]) == OTHER
    assert requested_patient(doctor(), [result("1", PATIENT)]) == PATIENT


# ------------------------------------------------------------------------------------------------
# The endpoint records the facts of each exchange (in-process, real registry process)


class KeptTrail(AuditTrail):
    """The real trail (transport off) that keeps the facts it was given and checks their messages build."""

    def __init__(self) -> None:
        super().__init__(AuditSenderSettings(app_name="xds-repository", transport="off"))
        self.facts: list[ae.AuditFacts] = []

    def record(self, facts: ae.AuditFacts) -> None:
        ae.build(facts)  # the messages can be built
        self.facts.append(facts)
        super().record(facts)


@pytest.fixture
async def audited(tmp_path: Path, registry: Service) -> AsyncIterator[tuple[httpx.AsyncClient, Repository, KeptTrail]]:
    trail = KeptTrail()
    repo = Repository(repository_settings(tmp_path, registry.url), audit=trail)
    transport = httpx.ASGITransport(app=repo.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://repository.test", timeout=60) as client:
        yield client, repo, trail
    await repo._close()


async def test_endpoint_records_provide_and_retrieve(audited, patient: str) -> None:  # type: ignore[no-untyped-def]
    client, repo, trail = audited
    reply, [uid] = await provide(client, patient)
    assert reply.status == "Success"
    assert repo.store.get(uid).patient_id == patient  # kept for ITI-43's audit
    [facts] = trail.facts
    assert (facts.transaction, facts.outcome, facts.patient_ids) == (ae.Transaction.ITI_41, ae.EventOutcome.SUCCESS, (patient,))
    assert facts.submission_set_unique_id and facts.server.user_id == repo.settings.endpoint

    got = await retrieve(client, uid, "1.2.3.404")
    assert got.status == "PartialSuccess"
    [facts] = trail.facts[1:]
    assert (facts.transaction, facts.outcome, facts.patient_ids) == (ae.Transaction.ITI_43, ae.EventOutcome.MINOR_FAILURE, (patient,))
    assert [(d.unique_id, d.repository_unique_id, d.retrieved) for d in facts.documents] == [(uid, REPO_ID, True), ("1.2.3.404", REPO_ID, False)]


async def test_endpoint_records_refusals_and_faults(audited) -> None:  # type: ignore[no-untyped-def]
    client, _, trail = audited
    stranger = new_patient_id()  # never fed: the registry answers XDSUnknownPatientId
    reply, _ = await provide(client, stranger)
    assert reply.status == "Failure"
    assert [(f.transaction, f.outcome, f.patient_ids) for f in trail.facts] == [(ae.Transaction.ITI_41, ae.EventOutcome.SERIOUS_FAILURE, (stranger,))]
    assert trail.facts[0].submission_set_unique_id

    # a body that is not a Retrieve request: a SOAP fault, and a failed ITI-43 all the same
    wrong = b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action>' + Action.RETRIEVE.value.encode() + b"</a:Action></s:Header><s:Body><nothing/></s:Body></s:Envelope>"
    fault = await post(client, "application/soap+xml", wrong)
    assert fault.status_code == 400
    last = trail.facts[-1]
    assert (last.transaction, last.outcome, last.documents) == (ae.Transaction.ITI_43, ae.EventOutcome.SERIOUS_FAILURE, ())
