"""The registry's ITI-8 audit facts (registry.audit_facts): feed decisions in, `AuditFacts` out, checked down to
the schema-valid DICOM messages the builders make of them (ITI TF-2a 3.8.5.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from registry import patient_feed
from registry.audit_facts import feed_audit_facts
from tests.registry.test_patient_feed import AA, adt
from xdscore import audit_events as ae
from xdsservice.audit_sender import AuditSenderSettings
from xdsservice.auditing import AuditTrail

ROOT = Path(__file__).resolve().parents[2]
PEER = "192.0.2.20"


@pytest.fixture
def trail() -> Iterator[AuditTrail]:
    trail = AuditTrail(AuditSenderSettings(app_name="xds-registry", transport="off"))  # nothing is sent
    yield trail
    trail.close()


def messages(facts: list[ae.AuditFacts]) -> list[etree._Element]:
    schema = etree.XMLSchema(etree.parse(str(ROOT / "schemas" / "dicom-audit-message.xsd")))
    out = []
    for one in facts:
        for message in ae.build(one):
            root = etree.fromstring(message)
            schema.assertValid(root)
            out.append(root)
    return out


def test_a_create_is_one_patient_record_event_from_the_sender_to_the_feed(trail: AuditTrail) -> None:
    decision = patient_feed.interpret(adt("A01", f"PAT1^^^&{AA}&ISO", control="CTRL-9"), AA)
    [facts] = feed_audit_facts(trail, decision, PEER, "10.0.0.5")
    assert facts.transaction is ae.Transaction.ITI_8 and facts.outcome is ae.EventOutcome.SUCCESS
    assert facts.patient_ids == (f"PAT1^^^&{AA}&ISO",) and facts.hl7 == ae.Hl7Event("A01", "CTRL-9")
    assert (facts.client.user_id, facts.client.address) == ("SFAC|SENDER", PEER)
    assert (facts.server.user_id, facts.server.address, facts.server.process_id) == ("RFAC|XDSREG", "10.0.0.5", trail.pid)
    assert facts.audit_source == trail.source
    [root] = messages([facts])
    assert root.find("EventIdentification/EventID").get("csd-code") == "110110"
    assert root.find("EventIdentification").get("EventActionCode") == "C"


def test_a_merge_names_the_surviving_patient_with_the_subsumed_one(trail: AuditTrail) -> None:
    new, old = f"NEW^^^&{AA}&ISO", f"OLD^^^&{AA}&ISO"
    decision = patient_feed.interpret(adt("A40", new, mrg=old, structure="ADT_A39"), AA)
    [facts] = feed_audit_facts(trail, decision, PEER, "10.0.0.5")
    assert facts.patient_ids == (new,) and facts.hl7 == ae.Hl7Event("A40", "MSG0001", old)
    assert sorted(r.find("EventIdentification").get("EventActionCode") for r in messages([facts])) == ["D", "U"]


def test_a_refused_message_gives_no_event(trail: AuditTrail) -> None:
    decision = patient_feed.interpret(adt("A01", "PAT1^^^&9.9.9&ISO"), AA)  # another affinity domain: nothing applied
    assert decision.actions == [] and feed_audit_facts(trail, decision, PEER, "10.0.0.5") == []
