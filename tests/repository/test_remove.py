"""ITI-86 Remove Documents on the repository side (repository.remove): index and blob, status, error codes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from repository.blobs import BlobStore
from repository.remove import RMD_NS, parse_request, remove_documents
from repository.retrieve import DocumentRequest, retrieve
from repository.store import DocumentStore, StoredDocument
from xdscore.errors import SoapFault
from xdscore.vocabulary import NS

REPO_ID = "1.19.6.24.109.42.1"
RS = f"{{{NS.RS}}}"
SAME = b"same bytes under two uniqueIds"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[tuple[DocumentStore, BlobStore]]:
    store, blobs = DocumentStore(f"sqlite:///{tmp_path / 'r.db'}"), BlobStore(tmp_path / "data")
    for uid, data in (("1.1", b"first document"), ("1.2", b"second document"), ("2.1", SAME), ("2.2", SAME)):
        sha = hashlib.sha1(data).hexdigest()
        store.reserve([StoredDocument(uid, sha, len(data), "text/plain", "P1^^^&1.2.3&ISO")])
        blobs.place_bytes(data, sha)
        store.commit([uid])
    yield store, blobs
    store.close()


def run(repo: tuple[DocumentStore, BlobStore], *uids: str, repository: str = REPO_ID) -> tuple[str, list[tuple[str, str]]]:
    store, blobs = repo
    outcome = remove_documents([DocumentRequest(repository, u) for u in uids], REPO_ID, store, blobs)
    errors = [(e.get("errorCode", ""), e.get("location", "")) for e in outcome.response.iter(f"{RS}RegistryError")]
    return outcome.response.get("status", "").rsplit(":", 1)[1], errors


def served(repo: tuple[DocumentStore, BlobStore], uid: str) -> bool:
    return retrieve([DocumentRequest(REPO_ID, uid)], REPO_ID, *repo).status.name == "SUCCESS"


def test_removed_documents_are_no_longer_retrieved_and_their_blobs_are_gone(repo: tuple[DocumentStore, BlobStore]) -> None:
    _, blobs = repo
    assert run(repo, "1.1", "1.2") == ("Success", [])
    assert not served(repo, "1.1") and not served(repo, "1.2")
    assert not blobs.exists(hashlib.sha1(b"first document").hexdigest())


def test_unknown_document_is_XDSDocumentUniqueIdError_and_the_others_go(repo: tuple[DocumentStore, BlobStore]) -> None:
    assert run(repo, "1.1", "9.9") == ("PartialSuccess", [("XDSDocumentUniqueIdError", "9.9")])
    assert not served(repo, "1.1") and served(repo, "1.2")


def test_only_unknown_documents_is_failure(repo: tuple[DocumentStore, BlobStore]) -> None:
    assert run(repo, "9.9") == ("Failure", [("XDSDocumentUniqueIdError", "9.9")])


def test_other_repository_is_XDSUnknownRepositoryId(repo: tuple[DocumentStore, BlobStore]) -> None:
    assert run(repo, "1.1", repository="1.2.3.999") == ("Failure", [("XDSUnknownRepositoryId", "1.1")])
    assert served(repo, "1.1")


def test_shared_blob_stays_while_another_uniqueId_holds_it(repo: tuple[DocumentStore, BlobStore]) -> None:
    _, blobs = repo
    sha = hashlib.sha1(SAME).hexdigest()
    assert run(repo, "2.1") == ("Success", [])
    assert blobs.exists(sha) and served(repo, "2.2")
    assert run(repo, "2.2") == ("Success", [])
    assert not blobs.exists(sha)


def test_index_unavailable_is_XDSRemoveDocumentsError_and_removes_nothing(repo: tuple[DocumentStore, BlobStore], tmp_path: Path) -> None:
    _, blobs = repo
    broken = DocumentStore(f"sqlite:///{tmp_path / 'r.db'}")
    with broken.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE repository_document")
    assert run((broken, blobs), "1.1")[1] == [("XDSRemoveDocumentsError", "1.1")]
    assert blobs.exists(hashlib.sha1(b"first document").hexdigest())
    broken.close()


def test_parse_request_needs_the_rmd_element_and_its_fields() -> None:
    ok = etree.fromstring(
        f'<rmd:RemoveDocumentsRequest xmlns:rmd="{RMD_NS}" xmlns:xdsb="{NS.XDSB}"><xdsb:DocumentRequest>'
        f"<xdsb:RepositoryUniqueId>{REPO_ID}</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>1.1</xdsb:DocumentUniqueId>"
        "</xdsb:DocumentRequest></rmd:RemoveDocumentsRequest>"
    )
    assert parse_request(ok) == [DocumentRequest(REPO_ID, "1.1")]
    for bad in (f'<rmd:RemoveDocumentsRequest xmlns:rmd="{RMD_NS}"/>',
                f'<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="{NS.XDSB}"/>'):
        with pytest.raises(SoapFault):
            parse_request(etree.fromstring(bad))
