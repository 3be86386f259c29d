"""`SqlReader.expect_submission` (registry.sql.reads): an ITI-42 reads its patient and the holders of its
uniqueIds in one statement (issue 15: one execute and one round trip less on PostgreSQL), and the checks
that follow get the answers the plain reads give; a write in between forgets them."""

from __future__ import annotations

import uuid

import pytest

from harness.builders import new_oid, new_patient_id, single_document
from registry.register import register
from tests.registry.helpers import RegistryHarness
from xdscore.model import PatientKey

NOW = "20261201120000"


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request: pytest.FixtureRequest) -> RegistryHarness:
    return RegistryHarness(request.getfixturevalue("pg_url") if request.param == "postgresql" else "sqlite://")


def key_of(patient: str) -> PatientKey:
    key = PatientKey.parse(patient)
    assert key is not None
    return key


def test_a_registration_reads_its_patient_and_unique_ids_in_one_statement() -> None:
    reg = RegistryHarness("sqlite://")  # one shared connection: its statements can be traced
    patient = new_patient_id()
    reg.feed(patient)
    statements: list[str] = []
    driver = reg.store.engine.raw_connection().driver_connection
    driver.set_trace_callback(statements.append)
    try:
        assert reg.submit(single_document(patient)).accepted  # symbolic entryUUIDs: no entryUUID lookup
    finally:
        driver.set_trace_callback(None)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1, reads  # so `registry_ids` is read once for both kinds of uniqueId (test_locate.py)
    assert "FROM patients" in reads[0] and "FROM registry_ids" in reads[0]


def test_the_expected_answers_are_the_plain_reads(reg: RegistryHarness) -> None:
    patient, merged, unknown = new_patient_id(), new_patient_id(), new_patient_id()
    reg.feed(patient)
    reg.feed(merged)
    with reg.store.write() as tx:
        tx.merge_patient(key_of(merged), key_of(patient), NOW)
    doc_uid, set_uid, folder_uid = new_oid(), new_oid(), new_oid()
    first = single_document(patient, unique_id=doc_uid)
    first.add_folder(unique_id=folder_uid)
    assert reg.submit(first).accepted
    documents = [doc_uid, folder_uid, new_oid()]
    packages = [set_uid, folder_uid, doc_uid, new_oid()]
    with reg.store.read() as plain:
        want_ids = plain.unique_ids_in_use(documents, packages)
        want = {p: plain.patient(key_of(p)) for p in (patient, merged, unknown)}
    assert want[patient] is not None and want[merged] is not None and want[unknown] is None
    assert want[merged].merged_into == key_of(patient)
    for who in (patient, merged, unknown):
        with reg.store.write() as tx:
            tx.expect_submission(key_of(who), documents, packages)
            assert tx.patient(key_of(who)) == want[who]
            assert tx.unique_ids_in_use(documents, packages) == want_ids
    assert list(want_ids[0]) == [doc_uid] and want_ids[1] == {folder_uid}


def test_a_write_forgets_what_was_expected(reg: RegistryHarness) -> None:
    patient = new_patient_id()
    reg.feed(patient)
    doc_uid = new_oid()
    builder = single_document(patient, unique_id=doc_uid)
    with reg.store.write() as tx:
        outcome = register(builder.submission(), tx, reg.settings, NOW, lambda: f"urn:uuid:{uuid.uuid4()}")
        assert outcome.changes is not None, outcome.violations
        tx.expect_submission(key_of(patient), [doc_uid], [])  # read before the write: not held yet
        tx.apply(outcome.changes, NOW)
        documents, _ = tx.unique_ids_in_use([doc_uid], [])
        assert list(documents) == [doc_uid]  # read again after the write
