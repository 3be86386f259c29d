"""Reading received syslog messages into audit records (audit.record)."""

from __future__ import annotations

import pytest

from audit.record import Rejected, read_message
from tests.audit.conftest import OTHER_PATIENT, PATIENT, doctor, facts
from xdscore import audit_events as ae
from xdscore import syslog

T = ae.Transaction


def wire(audit_xml: bytes, timestamp: str = "2026-01-15T10:30:01.000001Z") -> bytes:
    return syslog.encode(syslog.atna_message(audit_xml, timestamp, "xds.example.org", "xds-repository", "77"))


def test_retrieve_by_a_doctor_in_emergency_mode():
    documents = (ae.DocumentRef("1.2.3.1", "1.2.3", "urn:oid:9.9"), ae.DocumentRef("1.2.3.2", "1.2.3"))
    (message,) = ae.build(facts(T.ITI_43, principal=doctor("bris_de_glace"), documents=documents))
    record = read_message(wire(message))
    assert (record.event_id, record.event_action, record.event_type, record.outcome) == ("110106", "R", "ITI-43", 0)
    assert record.event_type_name == "Retrieve Document Set"
    assert record.event_time.isoformat() == "2026-01-15T10:30:00.123000+00:00"
    assert (record.user_id, record.user_name) == ("<810002345678@https://idp.ch-exemple.fr>", "DUPONT Jean")
    assert [r.code for r in record.user_roles] == ["10"]
    assert (record.organisation_id, record.organisation) == ("1.2.250.1.71.4.2.2|110000000", "CH Exemple")
    assert record.access_mode == "bris_de_glace"
    assert record.patient_ids == (PATIENT,)
    assert [(d.unique_id, d.repository_unique_id, d.home_community_id) for d in record.documents] == [
        ("1.2.3.1", "1.2.3", "urn:oid:9.9"), ("1.2.3.2", "1.2.3", ""),
    ]
    assert (record.source_user_id, record.destination_address) == ("https://xds.example.org/registry", "192.0.2.10")
    assert (record.syslog_hostname, record.syslog_app_name, record.syslog_procid) == (
        "xds.example.org", "xds-repository", "77",
    )
    assert record.message == message
    assert len(record.digest) == 64


def test_query_without_assertion_names_the_client_system():
    (message,) = ae.build(facts(T.ITI_18, patient_ids=(PATIENT, OTHER_PATIENT)))
    record = read_message(wire(message))
    assert record.user_id == ae.WSA_ANONYMOUS
    assert record.user_roles == () and record.organisation == "" and record.access_mode == ""
    assert record.query_id == "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    assert record.patient_ids == (PATIENT, OTHER_PATIENT)


def test_submission_set_is_read():
    (message,) = ae.build(facts(T.ITI_41))
    assert read_message(wire(message)).submission_set_id == "1.2.250.1.999.1.1.42"


def test_digest_differs_with_the_syslog_timestamp():
    (message,) = ae.build(facts(T.ITI_42))
    assert read_message(wire(message)).digest != read_message(wire(message, "2026-01-15T10:30:01.000002Z")).digest


GOOD = ae.build(facts(T.ITI_42))[0]


@pytest.mark.parametrize(("data", "reason"), [
    (b"not syslog at all", "RFC 5424"),
    (syslog.encode(syslog.SyslogMessage(10, 5, None, "h", "a", "p", "m", (), b"", utf8=False)), "no MSG"),
    (wire(b"<AuditMessage>"), "not well-formed"),
    (wire(b"<!DOCTYPE x [<!ENTITY a 'b'>]><AuditMessage>&a;</AuditMessage>"), "DTD"),
    (wire(b"<Other/>"), "not AuditMessage"),
    (wire(b"<AuditMessage/>"), "EventID"),
    (wire(GOOD.replace(b'EventOutcomeIndicator="0"', b'EventOutcomeIndicator="x"')), "EventOutcomeIndicator"),
    (wire(GOOD.replace(b"2026-01-15T10:30:00.123Z", b"yesterday")), "EventDateTime"),
    (wire(b'<AuditMessage><EventIdentification EventOutcomeIndicator="0" EventDateTime="2026-01-01T00:00:00Z">'
          b'<EventID csd-code="1"/></EventIdentification></AuditMessage>'), "ActiveParticipant"),
])
def test_rejects_with_the_reason(data, reason):
    with pytest.raises(Rejected, match=reason):
        read_message(data)


def test_rejects_an_audit_message_over_the_size_limit():
    with pytest.raises(Rejected, match="larger than the limit"):
        read_message(wire(GOOD), max_bytes=100)
