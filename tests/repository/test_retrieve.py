"""ITI-43 on the repository side (repository.retrieve): statuses, error codes, mimeType, streamed parts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from harness.wire import retrieve_element
from repository.blobs import BlobStore
from repository.retrieve import DocumentRequest, parse_request, retrieve
from repository.store import DocumentStore, StoredDocument
from xdscore import mtom
from xdscore.errors import SoapFault
from xdscore.vocabulary import NS, ErrorCode, ResponseStatus

REPO_ID = "1.19.6.24.109.42.1"
XDSB = f"{{{NS.XDSB}}}"
RS = f"{{{NS.RS}}}"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[tuple[DocumentStore, BlobStore]]:
    store, blobs = DocumentStore(f"sqlite:///{tmp_path / 'r.db'}"), BlobStore(tmp_path / "data")
    for uid, data, mime in (("1.1", b"first document", "text/plain"), ("1.2", b"%PDF-1.4 second", "application/pdf")):
        sha = hashlib.sha1(data).hexdigest()
        store.reserve([StoredDocument(uid, sha, len(data), mime)])
        blobs.place_bytes(data, sha)
        store.commit([uid])
    yield store, blobs
    store.close()


def run(repo: tuple[DocumentStore, BlobStore], *requests: DocumentRequest) -> tuple[str, list[tuple[str, str, str]], dict[str, tuple[str, bytes]]]:
    store, blobs = repo
    outcome = retrieve(list(requests), REPO_ID, store, blobs)
    response = etree.fromstring(etree.tostring(outcome.response))
    rr = response.find(f"{RS}RegistryResponse")
    assert rr is not None
    errors = [(e.get("errorCode", ""), e.get("location", ""), e.get("severity", "").rsplit(":", 1)[1]) for e in rr.iter(f"{RS}RegistryError")]
    parts = {p.content_id: b"".join(p.chunks()) for p in outcome.parts if isinstance(p, mtom.StreamingPart)}
    docs = {}
    for dr in response.iterfind(f"{XDSB}DocumentResponse"):
        doc = dr.find(f"{XDSB}Document")
        assert doc is not None
        cid = mtom.include_href(doc)
        assert cid is not None
        docs[dr.findtext(f"{XDSB}DocumentUniqueId", "")] = (dr.findtext(f"{XDSB}mimeType", ""), parts[cid])
        assert dr.findtext(f"{XDSB}RepositoryUniqueId") == REPO_ID
    return rr.get("status", "").rsplit(":", 1)[1], errors, docs


def test_all_found_is_success_with_mime_types(repo: tuple[DocumentStore, BlobStore]) -> None:
    status, errors, docs = run(repo, DocumentRequest(REPO_ID, "1.1"), DocumentRequest(REPO_ID, "1.2"))
    assert (status, errors) == ("Success", [])
    assert docs == {"1.1": ("text/plain", b"first document"), "1.2": ("application/pdf", b"%PDF-1.4 second")}


def test_some_found_is_partial_success_nist_15816(repo: tuple[DocumentStore, BlobStore]) -> None:
    status, errors, docs = run(repo, DocumentRequest(REPO_ID, "1.1"), DocumentRequest(REPO_ID, "bad"))
    assert status == "PartialSuccess"
    assert errors == [("XDSDocumentUniqueIdError", "bad", "Error")]
    assert list(docs) == ["1.1"]


def test_none_found_is_failure_nist_15816(repo: tuple[DocumentStore, BlobStore]) -> None:
    status, errors, docs = run(repo, DocumentRequest(REPO_ID, "bad"))
    assert (status, errors, docs) == ("Failure", [("XDSDocumentUniqueIdError", "bad", "Error")], {})


def test_other_repository_id_is_unknown_repository_id(repo: tuple[DocumentStore, BlobStore]) -> None:
    status, errors, docs = run(repo, DocumentRequest("1.2.3.999", "1.1"), DocumentRequest(REPO_ID, "1.2"))
    assert status == "PartialSuccess"
    assert errors == [("XDSUnknownRepositoryId", "1.1", "Error")]
    assert list(docs) == ["1.2"]


def test_pending_documents_are_not_served(repo: tuple[DocumentStore, BlobStore]) -> None:
    store, _ = repo
    store.reserve([StoredDocument("1.3", "c" * 40, 1, "text/plain")])
    assert run(repo, DocumentRequest(REPO_ID, "1.3"))[1] == [("XDSDocumentUniqueIdError", "1.3", "Error")]


def test_missing_blob_is_repository_error(repo: tuple[DocumentStore, BlobStore]) -> None:
    store, blobs = repo
    doc = store.get("1.1")
    assert doc is not None
    blobs.remove(doc.sha1)
    assert run(repo, DocumentRequest(REPO_ID, "1.1"))[:2] == ("Failure", [("XDSRepositoryError", "1.1", "Error")])


def test_home_community_id_is_echoed(repo: tuple[DocumentStore, BlobStore]) -> None:
    store, blobs = repo
    outcome = retrieve([DocumentRequest(REPO_ID, "1.1", "urn:oid:1.2.3")], REPO_ID, store, blobs)
    assert outcome.response.findtext(f"{XDSB}DocumentResponse/{XDSB}HomeCommunityId") == "urn:oid:1.2.3"
    for p in outcome.parts:
        assert isinstance(p, mtom.StreamingPart)
        b"".join(p.chunks())


def test_parse_request() -> None:
    element = retrieve_element((REPO_ID, "1.1"), (REPO_ID, "1.2", "urn:oid:9"))
    assert parse_request(etree.fromstring(etree.tostring(element))) == [
        DocumentRequest(REPO_ID, "1.1"),
        DocumentRequest(REPO_ID, "1.2", "urn:oid:9"),
    ]


@pytest.mark.parametrize(
    "xml,reason",
    [
        (b"<x/>", "not xdsb:RetrieveDocumentSetRequest"),
        (b'<RetrieveDocumentSetRequest xmlns="urn:ihe:iti:xds-b:2007"/>', "no DocumentRequest"),
        (
            (
                b'<RetrieveDocumentSetRequest xmlns="urn:ihe:iti:xds-b:2007"><DocumentRequest>'
                b"<RepositoryUniqueId>1</RepositoryUniqueId></DocumentRequest></RetrieveDocumentSetRequest>"
            ),
            "lacks",
        ),
    ],
)
def test_malformed_request_is_a_fault(xml: bytes, reason: str) -> None:
    with pytest.raises(SoapFault, match=reason):
        parse_request(etree.fromstring(xml))


def test_outcome_names_each_document_with_its_patient(tmp_path: Path) -> None:
    """What the ITI-43 audit is built from: every request, in order, served or not, with the patient
    stored at ITI-41 time (known for a stored document whose blob is gone, unknown for the others)."""
    store, blobs = DocumentStore(f"sqlite:///{tmp_path / 'r.db'}"), BlobStore(tmp_path / "data")
    try:
        for uid, data, patient in (("5.1", b"kept", "P1^^^&1.2&ISO"), ("5.2", b"lost", "P2^^^&1.2&ISO")):
            sha = hashlib.sha1(data).hexdigest()
            store.reserve([StoredDocument(uid, sha, len(data), "text/plain", patient_id=patient)])
            blobs.place_bytes(data, sha)
            store.commit([uid])
        blobs.remove(hashlib.sha1(b"lost").hexdigest())
        requests = [DocumentRequest(REPO_ID, "5.1", "urn:oid:1.9"), DocumentRequest(REPO_ID, "5.2"),
                    DocumentRequest(REPO_ID, "5.404"), DocumentRequest("1.2.3.other", "5.1")]
        outcome = retrieve(requests, REPO_ID, store, blobs)
        for p in outcome.parts:
            b"".join(p.chunks())  # type: ignore[union-attr]
        assert [(d.request, d.patient_id, d.error, d.served) for d in outcome.documents] == [
            (requests[0], "P1^^^&1.2&ISO", None, True),
            (requests[1], "P2^^^&1.2&ISO", ErrorCode.XDSRepositoryError, False),
            (requests[2], "", ErrorCode.XDSDocumentUniqueIdError, False),
            (requests[3], "", ErrorCode.XDSUnknownRepositoryId, False),
        ]
        assert (outcome.served, outcome.failed) == (("5.1",), ("5.2", "5.404", "5.1"))
        assert outcome.status == ResponseStatus.PARTIAL_SUCCESS
        assert retrieve([requests[2]], REPO_ID, store, blobs).status == ResponseStatus.FAILURE
    finally:
        store.close()


def test_more_document_requests_than_the_cap_are_refused_as_a_whole(repo: tuple[DocumentStore, BlobStore]) -> None:
    """Issue 18: a 217 KB request of ~1,000 DocumentRequests streamed back 1 GB; now a cap, with its answer."""
    store, blobs = repo
    requests = [DocumentRequest(REPO_ID, "1.1")] * 3
    assert retrieve(requests, REPO_ID, store, blobs, max_documents=3).status is ResponseStatus.SUCCESS
    outcome = retrieve([*requests, DocumentRequest(REPO_ID, "1.2")], REPO_ID, store, blobs, max_documents=3)
    rr = outcome.response.find(f"{RS}RegistryResponse")
    assert outcome.status is ResponseStatus.FAILURE and outcome.parts == []
    [error] = rr.iter(f"{RS}RegistryError")
    assert error.get("errorCode") == "XDSRepositoryError"
    assert "4 DocumentRequests" in error.get("codeContext", "") and "at most 3" in error.get("codeContext", "")
    assert [d.served for d in outcome.documents] == [False] * 4  # each is audited as not returned
