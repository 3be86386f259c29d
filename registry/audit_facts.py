"""The registry's audit policy for ITI-8 Patient Identity Feed (ATNA, ITI TF-2a 3.8.5.1; docs/audit.md): which
events a feed message gives once it is applied. Pure: the decision of `registry.patient_feed` and the peer
in, `AuditFacts` out (as `repository.audit_facts` does for the repository's transactions).

One Patient Record event per message applied: the patients an A01/A04/A05/A08 created or updated, all in one
event; an A40 one event per merge, naming the surviving patient with the subsumed id (the builder writes
its delete and its update). The source is the sending facility|application (MSH-4|MSH-3, TF-2a 3.8.5.1.1)
at the peer's address, the destination the receiving one (MSH-6|MSH-5) at the feed's listening address.
"""

from __future__ import annotations

from datetime import UTC, datetime

from registry.patient_feed import FeedDecision, MergePatient, SavePatient
from xdsservice.auditing import AuditTrail, ae


def feed_audit_facts(trail: AuditTrail, decision: FeedDecision, peer: str, feed_host: str) -> list[ae.AuditFacts]:
    """ITI-8, registry side (TF-2a 3.8.5.1): the events of one applied message; none when it applied nothing."""
    saved = [a for a in decision.actions if isinstance(a, SavePatient)]
    merges = [a for a in decision.actions if isinstance(a, MergePatient)]
    event_time = datetime.now(UTC)

    def facts(patient_ids: tuple[str, ...], hl7: ae.Hl7Event) -> ae.AuditFacts:
        return ae.AuditFacts(
            transaction=ae.Transaction.ITI_8, event_time=event_time, outcome=ae.EventOutcome.SUCCESS,
            client=ae.Node(user_id=f"{decision.sending[1]}|{decision.sending[0]}", address=peer),
            server=ae.Node(user_id=f"{decision.receiving[1]}|{decision.receiving[0]}", address=feed_host,
                           process_id=trail.pid),
            audit_source=trail.source, patient_ids=patient_ids, hl7=hl7,
        )

    out = [facts(tuple(str(a.key) for a in saved), ae.Hl7Event(decision.trigger, decision.control_id))] if saved else []
    out += [facts((str(m.surviving),), ae.Hl7Event(decision.trigger, decision.control_id, str(m.subsumed))) for m in merges]
    return out
