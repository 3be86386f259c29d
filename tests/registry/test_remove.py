"""ITI-62 Remove Metadata on a real SQL store, without HTTP: the referential-integrity rules with their codes
(ITI TF-2b 3.62.4.1.3), the same cases as the NIST tests 30000-30008."""

from __future__ import annotations

import pytest

from harness.builders import new_patient_id, single_document
from tests.registry.helpers import RegistryHarness
from xdscore.vocabulary import AssociationType
from xdscore.vocabulary import StoredQueryId as Q


@pytest.fixture
def reg() -> RegistryHarness:
    return RegistryHarness()


def submitted(reg: RegistryHarness, patient: str, relate_to: str | None = None,
              atype: AssociationType = AssociationType.APPEND) -> dict[str, str]:
    """One submission (SubmissionSet, DocumentEntry, their HasMember, optionally a relationship): kind → uuid."""
    b = single_document(patient)
    if relate_to:
        b.relate(b.objects[1].id, relate_to, atype)
    before = {r[0] for r in reg.sql("select uuid from objects")}
    assert reg.submit(b).accepted
    rows = reg.sql("select o.uuid, o.kind, a.association_type from objects o left join associations a on a.uuid = o.uuid")
    out: dict[str, str] = {}
    for uuid, kind, atype_value in rows:
        if uuid in before:
            continue
        key = atype_value.rsplit(":", 1)[1] if atype_value else kind
        out[key] = uuid
    return out


def codes(outcome: object) -> list[str]:
    return [v.code.value for v in outcome.violations]  # type: ignore[attr-defined]


@pytest.fixture
def patient(reg: RegistryHarness) -> str:
    p = new_patient_id()
    reg.feed(p)
    return p


def test_unknown_object_is_UnresolvedReferenceException(reg: RegistryHarness) -> None:
    assert codes(reg.remove(["urn:uuid:6f0b5c7e-1d2a-4c44-9b61-3a5f0e1d2c3b"])) == ["UnresolvedReferenceException"]


def test_submission_set_alone_is_ReferencesExistException(reg: RegistryHarness, patient: str) -> None:
    s = submitted(reg, patient)
    assert codes(reg.remove([s["SS"]])) == ["ReferencesExistException"]
    assert reg.count() == 3


def test_document_and_its_membership_leave_the_set_unreferenced(reg: RegistryHarness, patient: str) -> None:
    s = submitted(reg, patient)
    assert codes(reg.remove([s["DE"], s["HasMember"]])) == ["XDSUnreferencedObjectException"]


def test_whole_submission_is_removed_with_every_index_row(reg: RegistryHarness, patient: str) -> None:
    s = submitted(reg, patient)
    out = reg.remove([s["SS"], s["DE"], s["HasMember"]])
    assert out.accepted and out.violations == []
    assert reg.count() == 0
    for table in ("documents", "document_codes", "document_authors", "submission_sets", "submission_set_authors",
                  "associations"):
        assert reg.sql(f"select count(*) from {table}")[0][0] == 0, table


def test_original_set_referenced_by_an_append_stays(reg: RegistryHarness, patient: str) -> None:
    orig = submitted(reg, patient)
    apnd = submitted(reg, patient, relate_to=orig["DE"])
    assert codes(reg.remove([orig["SS"], orig["DE"], orig["HasMember"]])) == ["ReferencesExistException"]
    # the appending set, its association included, can go: the original keeps its own membership
    assert reg.remove([apnd["SS"], apnd["DE"], apnd["HasMember"], apnd["APND"]]).accepted
    assert reg.count() == 3


def test_relationship_alone_can_be_removed(reg: RegistryHarness, patient: str) -> None:
    orig = submitted(reg, patient)
    apnd = submitted(reg, patient, relate_to=orig["DE"])
    assert reg.remove([apnd["APND"]]).accepted
    assert reg.sql("select count(*) from associations where uuid = :u", u=apnd["APND"])[0][0] == 0


def test_replacement_and_original_in_one_request(reg: RegistryHarness, patient: str) -> None:
    orig = submitted(reg, patient)
    rplc = submitted(reg, patient, relate_to=orig["DE"], atype=AssociationType.REPLACE)
    assert codes(reg.remove([rplc["SS"], rplc["DE"], rplc["HasMember"]])) == ["ReferencesExistException"]
    assert reg.remove([rplc["RPLC"], orig["SS"], orig["DE"], orig["HasMember"]]).accepted
    assert reg.count() == 3  # the replacement's submission


def test_removed_objects_disappear_from_queries(reg: RegistryHarness, patient: str) -> None:
    s = submitted(reg, patient)
    approved = ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]
    find = {"$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": approved}
    assert b"ExtrinsicObject" in reg.ask(Q.FindDocuments, find).response
    assert reg.remove([s["SS"], s["DE"], s["HasMember"]]).accepted
    for query_id, params in ((Q.FindDocuments, find), (Q.GetAll, {"$patientId": patient,
                             "$XDSDocumentEntryStatus": approved, "$XDSSubmissionSetStatus": approved,
                             "$XDSFolderStatus": approved}),
                             (Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": [s["DE"]]}),
                             (Q.GetAssociations, {"$uuid": [s["DE"], s["SS"]]})):
        out = reg.ask(query_id, params)
        assert out.violations == [] and b"<rim:RegistryObjectList></rim:RegistryObjectList>" in out.response, query_id
