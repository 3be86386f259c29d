"""The audit trail keeps message building and the spool's commit off a service's event loop (issue 17)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from harness.pgserver import free_port
from xdscore import audit_events as ae
from xdsservice.audit_sender import AuditSenderSettings
from xdsservice.auditing import LINGER_SECONDS, AuditTrail
from xdsservice.soapapp import RequestContext


def test_the_audit_trail_builds_and_spools_off_the_callers_thread(tmp_path: Path) -> None:
    # a sink that is not there: what is spooled stays spooled, and countable
    settings = AuditSenderSettings(app_name="xds-test", transport="tls", port=free_port(), spool_dir=str(tmp_path / "spool"))
    trail = AuditTrail(settings.resolved({"XDS_DATA_DIR": str(tmp_path)}))
    assert trail.sender is not None
    built_on: list[str] = []
    real_build = ae.build

    def build(facts: ae.AuditFacts) -> list[bytes]:
        built_on.append(threading.current_thread().name)
        return real_build(facts)

    ae.build = build  # type: ignore[assignment]
    try:
        context = RequestContext("127.0.0.1", 1234, "http://127.0.0.1:1/xds/registry", {})
        for _ in range(50):
            trail.record(trail.soap_facts(ae.Transaction.ITI_42, context, "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success",
                                          patient_ids=("P1^^^&1.2.3&ISO",), submission_set_unique_id="1.2.3"))
        assert trail.drain()
    finally:
        ae.build = real_build  # type: ignore[assignment]
    assert len(built_on) == 50 and threading.current_thread().name not in built_on
    assert trail.sender.pending() == 50
    trail.close()


def test_facts_that_come_within_the_linger_share_one_spool_commit(tmp_path: Path) -> None:
    """One fact a millisecond for 30 ms (a busy service): spooled in a few commits, not one each."""
    settings = AuditSenderSettings(app_name="xds-test", transport="tls", port=free_port(), spool_dir=str(tmp_path / "spool"))
    trail = AuditTrail(settings.resolved({"XDS_DATA_DIR": str(tmp_path)}))
    assert trail.sender is not None
    context = RequestContext("127.0.0.1", 1234, "http://127.0.0.1:1/xds/registry", {})
    for _ in range(30):
        trail.record(trail.soap_facts(ae.Transaction.ITI_42, context, "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success",
                                      patient_ids=("P1^^^&1.2.3&ISO",), submission_set_unique_id="1.2.3"))
        time.sleep(0.001)
    assert trail.drain()
    assert trail.sender.pending() == 30
    assert trail.commits <= 30 * 0.0015 / LINGER_SECONDS + 2, trail.commits  # ~1 per linger of the ~45 ms
    trail.close()
