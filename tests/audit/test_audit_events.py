"""The audit message builders: codes, participants and objects per transaction, and schema validity."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import replace

import pytest
from lxml import etree

from tests.audit.conftest import OTHER_PATIENT, PATIENT, doctor, facts
from xdscore import audit_events as ae
from xdscore.vocabulary import ResponseStatus

T = ae.Transaction


def parse(message: bytes) -> etree._Element:
    assert message.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return etree.fromstring(message)


def only(messages: tuple[bytes, ...]) -> etree._Element:
    assert len(messages) == 1
    return parse(messages[0])


def participants(root: etree._Element) -> list[dict[str, str]]:
    out = []
    for ap in root.findall("ActiveParticipant"):
        item = dict(ap.attrib)
        item["roles"] = ",".join(r.get("csd-code", "") for r in ap.findall("RoleIDCode"))
        out.append(item)
    return out


def objects(root: etree._Element, role: str) -> list[etree._Element]:
    return [o for o in root.findall("ParticipantObjectIdentification") if o.get("ParticipantObjectTypeCodeRole") == role]


def details(obj: etree._Element) -> dict[str, str]:
    return {d.get("type"): base64.b64decode(d.get("value")).decode() for d in obj.findall("ParticipantObjectDetail")}


ALL = list(T)


@pytest.mark.parametrize("transaction", ALL)
@pytest.mark.parametrize("with_principal", [False, True])
def test_every_message_validates_against_the_dicom_schema(transaction, with_principal, audit_schema):
    principal = doctor("bris_de_glace") if with_principal else None
    for message in ae.build(facts(transaction, principal=principal)):
        audit_schema.assertValid(parse(message))


def test_schema_refuses_a_message_missing_its_audit_source(audit_schema):
    root = only(ae.build(facts(T.ITI_42)))
    root.remove(root.find("AuditSourceIdentification"))
    assert not audit_schema.validate(root)


# (transaction, EventID, EventActionCode, EventTypeCode originalText) — ITI TF-2a/2b "Audit Record Considerations"
EVENT_CODES = [
    (T.ITI_41, "110107", "C", "Provide and Register Document Set-b"),
    (T.ITI_42, "110107", "C", "Register Document Set-b"),
    (T.ITI_57, "110107", "U", "Update Document Set"),
    (T.ITI_92, "110107", "U", "Restricted Update Document Set"),
    (T.ITI_62, "110110", "D", "Remove Metadata"),
    (T.ITI_86, "110110", "D", "Remove Documents"),
    (T.ITI_18, "110112", "E", "Registry Stored Query"),
    (T.ITI_43, "110106", "R", "Retrieve Document Set"),
    (T.ITI_8, "110110", "C", "Patient Identity Feed"),
]


@pytest.mark.parametrize(("transaction", "event_id", "action", "type_name"), EVENT_CODES)
def test_event_identification(transaction, event_id, action, type_name):
    # (ITI-43 reports each document's own outcome; with none, the transaction's outcome stands)
    root = only(ae.build(facts(transaction, outcome=ae.EventOutcome.SERIOUS_FAILURE, documents=())))
    ident = root.find("EventIdentification")
    assert ident.get("EventActionCode") == action
    assert ident.get("EventOutcomeIndicator") == "8"
    assert ident.get("EventDateTime") == "2026-01-15T10:30:00.123Z"
    assert ident.find("EventID").attrib == {
        "csd-code": event_id, "codeSystemName": "DCM", "displayName": ident.find("EventID").get("originalText"),
        "originalText": {"110107": "Import", "110112": "Query", "110106": "Export", "110110": "Patient Record"}[event_id],
    }
    event_type = ident.find("EventTypeCode")
    assert (event_type.get("csd-code"), event_type.get("codeSystemName"), event_type.get("originalText")) == (
        transaction.value, "IHE Transactions", type_name,
    )


@pytest.mark.parametrize("transaction", [T.ITI_41, T.ITI_42, T.ITI_57, T.ITI_92])
def test_submission_records_patient_and_submission_set(transaction):
    root = only(ae.build(facts(transaction)))
    (patient,) = objects(root, "1")
    assert patient.get("ParticipantObjectID") == PATIENT
    assert patient.get("ParticipantObjectTypeCode") == "1"
    assert patient.find("ParticipantObjectIDTypeCode").get("csd-code") == "2"
    (submission_set,) = objects(root, "20")
    assert submission_set.get("ParticipantObjectID") == "1.2.250.1.999.1.1.42"
    assert submission_set.get("ParticipantObjectTypeCode") == "2"
    id_type = submission_set.find("ParticipantObjectIDTypeCode")
    assert (id_type.get("csd-code"), id_type.get("codeSystemName")) == (
        "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd", "IHE XDS Metadata",
    )


@pytest.mark.parametrize("transaction", [T.ITI_41, T.ITI_42, T.ITI_57, T.ITI_18, T.ITI_8])
def test_client_is_source_and_we_are_destination(transaction):
    source, destination = participants(only(ae.build(facts(transaction))))
    client, server = facts(transaction).client, facts(transaction).server
    assert source == {
        "UserID": client.user_id, "UserIsRequestor": "true", "NetworkAccessPointID": client.address,
        "NetworkAccessPointTypeCode": "2", "roles": "110153",
    }
    assert destination == {
        "UserID": server.user_id, "AlternativeUserID": "4242", "UserIsRequestor": "false",
        "NetworkAccessPointID": server.address, "NetworkAccessPointTypeCode": "1", "roles": "110152",
    }


def test_client_without_reply_to_is_the_wsa_anonymous_address():
    changed = facts(T.ITI_42, client=ae.Node("", "2001:db8::7"))
    source = participants(only(ae.build(changed)))[0]
    assert source["UserID"] == ae.WSA_ANONYMOUS
    assert source["NetworkAccessPointTypeCode"] == "2"


def test_stored_query_object_carries_the_request():
    request = b'<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"/>'
    query = ae.StoredQuery("urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d", request, home_community_id="urn:oid:1.2.3")
    root = only(ae.build(facts(T.ITI_18, query=query, patient_ids=(PATIENT, OTHER_PATIENT, PATIENT))))
    assert [p.get("ParticipantObjectID") for p in objects(root, "1")] == [PATIENT, OTHER_PATIENT]
    (obj,) = objects(root, "24")
    assert obj.get("ParticipantObjectID") == query.query_id
    assert obj.get("ParticipantObjectTypeCode") == "2"
    assert obj.find("ParticipantObjectIDTypeCode").get("csd-code") == "ITI-18"
    assert base64.b64decode(obj.findtext("ParticipantObjectQuery")) == request
    assert details(obj) == {"QueryEncoding": "UTF-8", "urn:ihe:iti:xca:2010:homeCommunityId": "urn:oid:1.2.3"}


def test_stored_query_audit_needs_the_query():
    with pytest.raises(ValueError, match="query"):
        ae.build(facts(T.ITI_18, query=None))


def test_retrieve_repository_is_source_and_consumer_is_destination():
    documents = (ae.DocumentRef("1.2.3.1", "1.2.3", "urn:oid:1.2.9"), ae.DocumentRef("1.2.3.2", "1.2.3"))
    root = only(ae.build(facts(T.ITI_43, documents=documents)))
    source, destination = participants(root)
    assert (source["UserID"], source["AlternativeUserID"], source["UserIsRequestor"], source["roles"]) == (
        "https://xds.example.org/registry", "4242", "false", "110153",
    )
    assert source["NetworkAccessPointID"] == "xds.example.org"
    assert (destination["UserID"], destination["NetworkAccessPointID"], destination["roles"]) == (
        ae.WSA_ANONYMOUS, "192.0.2.10", "110152",
    )
    assert destination["UserIsRequestor"] == "true"  # no human requestor: the consumer asked
    docs = objects(root, "3")
    assert [d.get("ParticipantObjectID") for d in docs] == ["1.2.3.1", "1.2.3.2"]
    assert docs[0].find("ParticipantObjectIDTypeCode").get("csd-code") == "9"
    assert details(docs[0]) == {"Repository Unique Id": "1.2.3", "ihe:homeCommunityID": "urn:oid:1.2.9"}
    assert details(docs[1]) == {"Repository Unique Id": "1.2.3"}
    assert [p.get("ParticipantObjectID") for p in objects(root, "1")] == [PATIENT]


def test_retrieve_reports_returned_and_missing_documents_apart():
    documents = (ae.DocumentRef("1.1", "9"), ae.DocumentRef("1.2", "9", retrieved=False), ae.DocumentRef("1.3", "9"))
    messages = [parse(m) for m in ae.build(facts(T.ITI_43, documents=documents, outcome=ae.EventOutcome.MINOR_FAILURE))]
    summary = [
        (m.find("EventIdentification").get("EventOutcomeIndicator"), [d.get("ParticipantObjectID") for d in objects(m, "3")])
        for m in messages
    ]
    assert summary == [("0", ["1.1", "1.3"]), ("8", ["1.2"])]


def test_retrieve_refused_before_any_document_is_one_message_with_the_outcome():
    root = only(ae.build(facts(T.ITI_43, documents=(), outcome=ae.EventOutcome.SERIOUS_FAILURE)))
    assert root.find("EventIdentification").get("EventOutcomeIndicator") == "8"
    assert objects(root, "3") == []


@pytest.mark.parametrize(("trigger", "action"), [("A01", "C"), ("A04", "C"), ("A05", "C"), ("A08", "U")])
def test_patient_feed_action_by_trigger(trigger, action):
    root = only(ae.build(facts(T.ITI_8, hl7=ae.Hl7Event(trigger, "CTRL-1"))))
    assert root.find("EventIdentification").get("EventActionCode") == action
    (patient,) = objects(root, "1")
    assert patient.get("ParticipantObjectID") == PATIENT
    assert details(patient) == {"MSH-10": "CTRL-1"}
    assert participants(root)[0]["UserID"] == "HOPITAL|ADT"


def test_patient_feed_merge_deletes_the_old_id_and_updates_the_new_one():
    merge = ae.Hl7Event("A40", "CTRL-2", prior_patient_id=OTHER_PATIENT)
    messages = [parse(m) for m in ae.build(facts(T.ITI_8, hl7=merge))]
    assert [
        (m.find("EventIdentification").get("EventActionCode"), objects(m, "1")[0].get("ParticipantObjectID"))
        for m in messages
    ] == [("D", OTHER_PATIENT), ("U", PATIENT)]


@pytest.mark.parametrize(("hl7", "message"), [
    (None, "HL7"), (ae.Hl7Event("A03", "X"), "A03"), (ae.Hl7Event("A40", "X"), "MRG-1"),
])
def test_patient_feed_refuses_incomplete_facts(hl7, message):
    with pytest.raises(ValueError, match=message):
        ae.build(facts(T.ITI_8, hl7=hl7))


@pytest.mark.parametrize("transaction", ALL)
def test_human_requestor_is_the_only_requestor(transaction):
    for message in ae.build(facts(transaction, principal=doctor())):
        aps = participants(parse(message))
        requestors = [ap for ap in aps if ap["UserIsRequestor"] == "true"]
        assert requestors == [{
            "UserID": "<810002345678@https://idp.ch-exemple.fr>", "UserName": "DUPONT Jean",
            "UserIsRequestor": "true", "roles": "10",
        }]
        # source, human, organisation, destination (PS3.15: participants in this order is IHE's custom)
        assert [ap["roles"] for ap in aps] == ["110153", "10", "", "110152"]
        assert aps[2] == {"UserID": "1.2.250.1.71.4.2.2|110000000", "UserName": "CH Exemple",
                          "UserIsRequestor": "false", "roles": ""}


def test_human_without_subject_id_is_named_by_the_alias():
    principal = replace(doctor(), subject_id="810002345678", sp_provided_id="alias", organization="",
                        organization_id="")
    aps = participants(only(ae.build(facts(T.ITI_42, principal=principal))))
    assert aps[1]["UserID"] == aps[1]["UserName"] == "alias<810002345678@https://idp.ch-exemple.fr>"
    assert len(aps) == 3  # no organisation known, no organisation participant


@pytest.mark.parametrize("mode", ["bris_de_glace", "centre_15", "normal"])
def test_access_mode_is_a_purpose_of_use(mode):
    root = only(ae.build(facts(T.ITI_18, principal=doctor(mode))))
    purposes = [(p.get("csd-code"), p.get("codeSystemName")) for p in root.iter("PurposeOfUse")]
    assert purposes == [(mode, "1.2.250.1.213.1.1.4.248")]


def test_access_mode_missing_from_the_purposes_is_added():
    principal = replace(doctor(), purpose_of_use=(), access_mode="centre_15")
    root = only(ae.build(facts(T.ITI_43, principal=principal)))
    assert [p.get("csd-code") for p in root.iter("PurposeOfUse")] == ["centre_15"]


def test_outcome_description_is_written():
    root = only(ae.build(facts(T.ITI_42, outcome_description="XDSUnknownPatientId")))
    assert root.findtext("EventIdentification/EventOutcomeDescription") == "XDSUnknownPatientId"


def test_audit_source():
    source = only(ae.build(facts(T.ITI_42))).find("AuditSourceIdentification")
    assert source.attrib == {"AuditEnterpriseSiteID": "1.2.250.1.999", "AuditSourceID": "pyxds-registry"}
    assert source.find("AuditSourceTypeCode").get("csd-code") == "4"


@pytest.mark.parametrize(("status", "indicator"), [
    (ResponseStatus.SUCCESS, "0"), (ResponseStatus.PARTIAL_SUCCESS, "4"), (ResponseStatus.FAILURE, "8"),
])
def test_outcome_of_a_registry_response(status, indicator):
    assert ae.EventOutcome.of_response(status).value == indicator


def test_event_time_must_carry_a_time_zone():
    with pytest.raises(ValueError, match="timezone"):
        ae.build(facts(T.ITI_42, event_time=dt.datetime(2026, 1, 1, 10, 0)))


def test_event_time_is_written_in_utc():
    paris = dt.timezone(dt.timedelta(hours=1))
    root = only(ae.build(facts(T.ITI_42, event_time=dt.datetime(2026, 1, 1, 11, 0, 0, 5000, tzinfo=paris))))
    assert root.find("EventIdentification").get("EventDateTime") == "2026-01-01T10:00:00.005Z"


def test_remove_metadata_names_the_patient_and_every_object_removed():
    root = only(ae.build(facts(T.ITI_62)))
    (patient,) = objects(root, "1")
    assert patient.get("ParticipantObjectID") == PATIENT
    removed = objects(root, "3")
    assert [o.get("ParticipantObjectID")[-2:] for o in removed] == ["01", "02"]
    id_type = removed[0].find("ParticipantObjectIDTypeCode")
    assert (id_type.get("csd-code"), id_type.get("codeSystemName")) == ("urn:ihe:iti:2017:ObjectRef", "IHE XDS Metadata")


def test_remove_documents_reports_removed_and_missing_documents_apart():
    docs = (ae.DocumentRef("1.2.3.1", "1.2.250.1.999.3"), ae.DocumentRef("1.2.3.2", "1.2.250.1.999.3", retrieved=False))
    removed, missing = (parse(m) for m in ae.build(facts(T.ITI_86, documents=docs)))
    for root, uid, outcome in ((removed, "1.2.3.1", "0"), (missing, "1.2.3.2", "8")):
        assert root.find("EventIdentification").get("EventOutcomeIndicator") == outcome
        (doc,) = objects(root, "3")
        assert doc.get("ParticipantObjectID") == uid
        assert details(doc)["Repository Unique Id"] == "1.2.250.1.999.3"


def test_every_transaction_has_a_builder():
    assert set(ae.BUILDERS) == set(T)
