"""The DMP announcement job (registry.announce, CSP R1111-53): the two-week notice and the one-month
announcement of a document hidden from the patient, once each; the patient's view follows the same delay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harness.builders import DMP_CONF_N, INVISIBLE_PATIENT, dmp_submission
from registry.announce import ANNOUNCED, NOTICE
from registry.app import Registry
from tests.registry.test_access import AUTHOR, DMP_PATIENT, call, errors, query, registry, submit, titles, vihf
from xdscore.vocabulary import Action

__all__ = ["registry"]  # the fixture
PATIENT = vihf(DMP_PATIENT.split("^")[0], roles=())


def test_notice_at_two_weeks_then_visible_at_one_month_once_each(registry: Registry) -> None:
    assert registry.announcer is not None and registry.access is not None
    start = datetime.now(UTC)
    assert errors(submit(registry, vihf(AUTHOR), confidentiality_codes=(DMP_CONF_N, INVISIBLE_PATIENT))) == []
    assert errors(submit(registry, vihf(AUTHOR))) == []  # an ordinary document: never announced
    run = registry.announcer.run_once
    assert run(start + timedelta(days=13)) == []
    [notice] = run(start + timedelta(days=15))
    assert notice.kind == NOTICE and notice.patient_id == DMP_PATIENT and notice.unique_id
    assert run(start + timedelta(days=16)) == []
    assert len(titles(query(registry, PATIENT))) == 1  # still hidden from the patient
    [announced] = run(start + timedelta(days=31))
    assert (announced.kind, announced.unique_id) == (ANNOUNCED, notice.unique_id)
    assert run(start + timedelta(days=40)) == []
    registry.access.clock = lambda: start + timedelta(days=31)
    assert len(titles(query(registry, PATIENT))) == 2  # the decision's delay is the job's


def test_a_late_job_announces_without_a_belated_notice(registry: Registry) -> None:
    assert registry.announcer is not None
    start = datetime.now(UTC)
    assert errors(submit(registry, vihf(AUTHOR), confidentiality_codes=(DMP_CONF_N, INVISIBLE_PATIENT))) == []
    assert [a.kind for a in registry.announcer.run_once(start + timedelta(days=45))] == [ANNOUNCED]
    assert registry.announcer.run_once(start + timedelta(days=46)) == []


def test_a_document_made_visible_is_not_announced(registry: Registry) -> None:
    assert registry.announcer is not None
    start = datetime.now(UTC)
    hidden = dmp_submission(confidentiality_codes=(DMP_CONF_N, INVISIBLE_PATIENT))
    assert errors(call(registry.on_register, hidden.xml(), Action.REGISTER.value, vihf(AUTHOR))) == []
    assert [a.kind for a in registry.announcer.run_once(start + timedelta(days=15))] == [NOTICE]
    with registry.store.write() as tx:  # as a TD3.3b new version leaves its previous one: Deprecated
        tx.conn.exec_driver_sql("UPDATE objects SET status = "
                                "'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated' WHERE kind = 'DE'")
    assert registry.announcer.run_once(start + timedelta(days=31)) == []
