"""ITI-18 answers never hold an association to an object the caller may not see (registry.query.visible).

A profile's hidden statuses (the DMP's Archived and Deleted) are dropped by the queries with a status parameter
(Find*, GetAll) unless they name them; the Get* queries return them (dmp-services.md §2b rule 11: archived and
deleted documents stay consultable). The DMP access guard drops what a caller may not see in every query. Every
stored query that returns associations must then drop those that name a dropped object, whether the answer
holds that end (GetAll, GetSubmissionSetAndContents, GetFolderAndContents, GetRelatedDocuments) or not
(GetAssociations, GetDocumentsAndAssociations, GetSubmissionSets). On SQLite and PostgreSQL; the guard case
with a guard that drops the archived document, and with the real DMP access rules.
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from harness.builders import new_oid, new_patient_id, single_document
from registry.app import Registry
from registry.query import Guard
from registry.register import RegisterSettings
from tests.registry.helpers import RegistryHarness
from tests.registry.lifecycle import APPROVED, status_change, update_request
from tests.registry.test_access import AUTHOR, DOCTOR, call, errors, query, registry, submit, vihf  # noqa: F401
from xdscore.profiles.ihe import PROFILE
from xdscore.queries import encode_request
from xdscore.vocabulary import NS, Action, AssociationType, StoredQueryId

Q = StoredQueryId
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
HIDING = RegisterSettings(PROFILE.extended("dmp-like", statuses=frozenset({ARCHIVED}), hidden_statuses=frozenset({ARCHIVED})))


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request: pytest.FixtureRequest) -> RegistryHarness:
    url = "sqlite://" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    return RegistryHarness(url, HIDING)


class Record:
    """D1 and D2 in a Folder (SubmissionSet S1), D3 appending D1 (S2), then D1 archived (S3)."""

    def __init__(self, reg: RegistryHarness) -> None:
        self.patient = new_patient_id()
        reg.feed(self.patient)
        uids = {k: new_oid() for k in ("d1", "d2", "folder", "d3")}
        b = single_document(self.patient, unique_id=uids["d1"])
        b.add_document("Document02", unique_id=uids["d2"])
        b.add_folder(unique_id=uids["folder"])
        for doc in ("Document01", "Document02"):
            b.link(b.ss_id, b.link("Folder01", doc, None), None)
        out = reg.submit(b)
        assert out.accepted, out.violations
        self.d1, self.d2, self.folder = (reg.uuid_of(uids[k]) for k in ("d1", "d2", "folder"))
        self.s1 = reg.sql("select uuid from objects where kind = 'SS' order by seq")[-1][0]
        b = single_document(self.patient, unique_id=uids["d3"])
        b.relate("Document01", self.d1, AssociationType.APPEND)
        out = reg.submit(b)
        assert out.accepted, out.violations
        self.d3 = reg.uuid_of(uids["d3"])
        b = update_request(self.patient)
        status_change(b, self.d1, APPROVED, ARCHIVED)
        assert reg.update(b).accepted
        # everything that names D1, directly or through an association (S1's HasMember to F→D1)
        self.tainted = {self.d1}
        rows = reg.sql("select uuid, source, target from associations")
        while True:
            more = {u for u, s, t in rows if s in self.tainted or t in self.tainted} - self.tainted
            if not more:
                break
            self.tainted |= more


def ask(reg: RegistryHarness, q: StoredQueryId, guard: Guard | None = None, **params: Any) -> etree._Element:
    out = reg.ask(q, params, guard=guard)
    assert not out.violations, out.violations
    return etree.fromstring(out.response)


def associations(answer: etree._Element) -> list[etree._Element]:
    return list(answer.iter(f"{{{NS.RIM}}}Association"))


def ids(answer: etree._Element, tag: str) -> set[str]:
    return {e.get("id", "") for e in answer.iter(f"{{{NS.RIM}}}{tag}")}


def assert_nothing_names(answer: etree._Element, tainted: set[str]) -> None:
    named = [(a.get("id"), a.get("sourceObject"), a.get("targetObject")) for a in associations(answer)
             if {a.get("id"), a.get("sourceObject"), a.get("targetObject")} & tainted]
    assert named == []
    assert not ids(answer, "ExtrinsicObject") & tainted


def without(uuid: str) -> Guard:
    """A caller who may not see `uuid` (what the DMP guard does to a masked document, say)."""
    return lambda q, objects, conn: [o for o in objects if o.uuid != uuid]


ALL = {"$XDSDocumentEntryStatus": [APPROVED], "$XDSSubmissionSetStatus": [APPROVED], "$XDSFolderStatus": [APPROVED]}


def test_get_all_drops_the_hidden_status_and_every_association_to_it(reg: RegistryHarness) -> None:
    r = Record(reg)
    everything = ask(reg, Q.GetAll, **{"$patientId": r.patient, **ALL})
    assert_nothing_names(everything, r.tainted)
    assert {r.d2, r.d3} <= ids(everything, "ExtrinsicObject") and associations(everything)


def test_the_get_queries_return_the_hidden_status(reg: RegistryHarness) -> None:
    """Rule 11: an archived document stays consultable; only a query that can name a status hides it."""
    r = Record(reg)
    assert ids(ask(reg, Q.GetDocuments, **{"$XDSDocumentEntryEntryUUID": [r.d1]}), "ExtrinsicObject") == {r.d1}
    submission = ask(reg, Q.GetSubmissionSetAndContents, **{"$XDSSubmissionSetEntryUUID": r.s1})
    assert ids(submission, "ExtrinsicObject") == {r.d1, r.d2} and len(associations(submission)) == 7
    related = ask(reg, Q.GetRelatedDocuments, **{"$XDSDocumentEntryEntryUUID": [r.d3],
                                                 "$AssociationTypes": [AssociationType.APPEND.value]})
    assert ids(related, "ExtrinsicObject") == {r.d1, r.d3} and len(associations(related)) == 1
    with_docs = ask(reg, Q.GetDocumentsAndAssociations, **{"$XDSDocumentEntryEntryUUID": [r.d3]})
    assert len(associations(with_docs)) == 2  # S2→D3 and D3→D1


def test_the_contents_queries_drop_associations_to_what_the_guard_drops(reg: RegistryHarness) -> None:
    r = Record(reg)
    hide_d1 = without(r.d1)
    submission = ask(reg, Q.GetSubmissionSetAndContents, hide_d1, **{"$XDSSubmissionSetEntryUUID": r.s1})
    assert_nothing_names(submission, r.tainted)
    assert ids(submission, "ExtrinsicObject") == {r.d2} and len(associations(submission)) == 4  # S1→D2, S1→F, F→D2, S1→(F→D2)
    folder = ask(reg, Q.GetFolderAndContents, hide_d1, **{"$XDSFolderEntryUUID": r.folder})
    assert_nothing_names(folder, r.tainted)
    assert ids(folder, "ExtrinsicObject") == {r.d2} and len(associations(folder)) == 1
    related = ask(reg, Q.GetRelatedDocuments, hide_d1, **{"$XDSDocumentEntryEntryUUID": [r.d3],
                                                          "$AssociationTypes": [AssociationType.APPEND.value]})
    assert associations(related) == [] and ids(related, "ExtrinsicObject") <= {r.d3}


def test_queries_returning_associations_without_their_ends(reg: RegistryHarness) -> None:
    r = Record(reg)
    hide_d1 = without(r.d1)
    of_ends = ask(reg, Q.GetAssociations, hide_d1, **{"$uuid": [r.s1, r.folder, r.d3]})
    assert_nothing_names(of_ends, r.tainted)
    assert len(associations(of_ends)) == 5  # S1→D2, S1→F, F→D2, S1→(F→D2), S2→D3
    with_docs = ask(reg, Q.GetDocumentsAndAssociations, hide_d1, **{"$XDSDocumentEntryEntryUUID": [r.d3]})
    assert_nothing_names(with_docs, r.tainted)
    assert ids(with_docs, "ExtrinsicObject") == {r.d3} and len(associations(with_docs)) == 1  # S2→D3, not D3→D1
    sets = ask(reg, Q.GetSubmissionSets, hide_d1, **{"$uuid": [r.d1, r.d2]})
    assert_nothing_names(sets, r.tainted)
    assert len(associations(sets)) == 1


def test_naming_the_hidden_status_returns_it_with_its_associations(reg: RegistryHarness) -> None:
    r = Record(reg)
    everything = ask(reg, Q.GetAll, **{"$patientId": r.patient, **ALL, "$XDSDocumentEntryStatus": [APPROVED, ARCHIVED]})
    assert r.d1 in ids(everything, "ExtrinsicObject")
    touching = {a.get("id") for a in associations(everything)} & r.tainted
    assert len(touching) == 5  # S1→D1, F→D1, S1→(F→D1), D3→D1 and S3→D1 (the status change)


def test_object_ref_answers_too(reg: RegistryHarness) -> None:
    from xdscore.queries import ReturnType

    r = Record(reg)
    out = reg.ask(Q.GetAssociations, {"$uuid": [r.s1, r.d3]}, ReturnType.OBJECT_REF, guard=without(r.d1))
    refs = {e.get("id") for e in etree.fromstring(out.response).iter(f"{{{NS.RIM}}}ObjectRef")}
    assert refs and not refs & r.tainted


def test_without_hidden_statuses_every_association_is_returned() -> None:
    reg = RegistryHarness()
    reg.settings = RegisterSettings(PROFILE.extended("plain", statuses=frozenset({ARCHIVED})))
    r = Record(reg)
    of_ends = ask(reg, Q.GetAssociations, **{"$uuid": [r.s1, r.folder, r.d3]})
    assert len(associations(of_ends)) == 9


def test_the_dmp_guard_hides_associations_to_entries_the_caller_may_not_see(registry: Registry) -> None:  # noqa: F811
    """A doctor may not see the signature entry a DMP submission carries: no association names it."""
    assert errors(submit(registry, vihf(AUTHOR))) == []
    everything = query(registry, vihf(AUTHOR), Q.FindSubmissionSets, **{
        "$XDSSubmissionSetPatientId": _dmp_patient(), "$XDSSubmissionSetStatus": [APPROVED]})
    [package] = list(everything.iter(f"{{{NS.RIM}}}RegistryPackage"))
    ss = package.get("id", "")
    by_author = _associations_of(registry, vihf(AUTHOR), ss)
    by_doctor = _associations_of(registry, vihf(DOCTOR), ss)
    # the author: the HasMembers to the document and to the signature, and the signature's SIGNS of the set
    assert len(by_author) == 3 and len(by_doctor) == 1
    signature = {end for pair in by_author for end in pair} - {end for pair in by_doctor for end in pair}
    assert len(signature) == 1
    for q, params in ((Q.GetSubmissionSetAndContents, {"$XDSSubmissionSetEntryUUID": ss}),
                      (Q.GetSubmissionSets, {"$uuid": [end for pair in by_author for end in pair if end != ss]})):
        answer = query(registry, vihf(DOCTOR), q, **params)
        assert errors(answer) == [] and associations(answer)
        assert not {e for a in associations(answer) for e in (a.get("sourceObject"), a.get("targetObject"))} & signature


def _dmp_patient() -> str:
    from harness.builders import DMP_PATIENT

    return DMP_PATIENT


def _associations_of(registry: Registry, who: Any, uuid: str) -> list[tuple[str, str]]:  # noqa: F811
    answer = call(registry.on_query, encode_request(Q.GetAssociations, {"$uuid": [uuid]}), Action.STORED_QUERY.value, who)
    assert errors(answer) == []
    return [(a.get("sourceObject", ""), a.get("targetObject", "")) for a in associations(answer)]
