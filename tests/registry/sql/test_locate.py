"""`registry_ids` lookups (registry.sql.locate): an ITI-42 checks its DocumentEntry uniqueIds and its
SubmissionSet / Folder uniqueIds with one statement (issue 15), each kind answered only for the
identifiers asked as that kind; on SQLite and PostgreSQL. That a registration reads `registry_ids` in one
statement (with its patient) is `test_expect_submission.py`'s first test."""

from __future__ import annotations

import pytest

from harness.builders import SubmissionBuilder, new_oid, new_patient_id, single_document
from tests.registry.helpers import RegistryHarness


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request: pytest.FixtureRequest) -> RegistryHarness:
    return RegistryHarness(request.getfixturevalue("pg_url") if request.param == "postgresql" else "sqlite://")


def test_document_and_package_unique_ids_are_told_apart_in_one_lookup(reg: RegistryHarness) -> None:
    patient, other = new_patient_id(), new_patient_id()
    reg.feed(patient)
    reg.feed(other)
    doc_uid, folder_uid, set_uid, shared = new_oid(), new_oid(), new_oid(), new_oid()
    first = single_document(patient, unique_id=doc_uid)
    first.add_folder(unique_id=folder_uid)
    assert reg.submit(first).accepted
    second = SubmissionBuilder(other).with_submission_set(unique_id=set_uid)
    second.add_document(unique_id=shared)
    assert reg.submit(second).accepted
    third = SubmissionBuilder(patient).with_submission_set(unique_id=shared)  # a set uniqueId equal to a document's
    third.add_document()
    assert reg.submit(third).accepted
    with reg.store.read() as tx:
        documents, packages = tx.unique_ids_in_use([doc_uid, folder_uid, shared, "1.2.3.unknown"],
                                                   [doc_uid, folder_uid, set_uid, shared, "1.2.3.unknown"])
        assert {uid: [d.unique_id for d in found] for uid, found in documents.items()} == {
            doc_uid: [doc_uid], shared: [shared]}  # the Folder's uniqueId is not a document's
        assert packages == {folder_uid, set_uid, shared}  # nor a document's uniqueId a package's
        # the same as the two lookups it replaces
        assert documents.keys() == tx.documents_by_unique_id([doc_uid, folder_uid, shared, "1.2.3.unknown"]).keys()
        assert packages == tx.used_package_unique_ids([doc_uid, folder_uid, set_uid, shared, "1.2.3.unknown"])
