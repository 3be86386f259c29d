"""Small documents kept in the repository's store instead of blob files (repository.store `repository_content`,
`inline_max_bytes`; docs/repository.md "Small documents in the store"): shared by content, gone with their
last row, served by ITI-43, removed by ITI-86, by a refused or unanswered ITI-41 and by the reconciler, the
threshold's both sides, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import httpx
import pytest

from harness.builders import new_patient_id
from harness.services import Service
from repository.app import Repository
from repository.blobs import BlobStore
from repository.provide import provide_and_register
from repository.reconcile import settle
from repository.registry_client import RegistryClient
from repository.remove import remove_documents
from repository.retrieve import DocumentRequest, retrieve
from repository.store import PENDING, DocumentStore, StoredDocument
from tests.repository.conftest import REPO_ID, repository_settings
from tests.repository.test_app import provide
from tests.repository.test_app import retrieve as retrieve_over_http
from tests.repository.test_provide import _request


def sha(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def kept(store: DocumentStore) -> dict[str, bytes]:
    """The bytes the store keeps, by hash."""
    with store.engine.connect() as conn:
        return {r[0]: bytes(r[1]) for r in conn.exec_driver_sql("SELECT sha1, data FROM repository_content")}


def small(uid: str, data: bytes) -> StoredDocument:
    return StoredDocument(uid, sha(data), len(data), "text/plain", patient_id="P1^^^&1.2.3&ISO", content=data)


def test_kept_bytes_are_shared_by_content_and_go_with_their_last_row(store: DocumentStore, tmp_path: Path) -> None:
    same, other = b"the same small document", b"another one"
    assert store.reserve([small("1.1", same), small("1.2", same), small("1.3", other)]).inserted == ("1.1", "1.2", "1.3")
    assert kept(store) == {sha(same): same, sha(other): other}  # one copy of the same bytes
    assert store.get("1.1") is None  # pending: not served
    store.commit(["1.1", "1.2", "1.3"])
    assert store.get("1.1").content == same  # type: ignore[union-attr]
    assert {u: d.content for u, d in store.get_many(["1.2", "1.3"]).items()} == {"1.2": same, "1.3": other}
    # a resubmission of the same bytes under a stored uniqueId, and a new uniqueId sharing them
    assert store.reserve([small("1.1", same), small("1.4", same)]).inserted == ("1.4",)
    assert store.release(["1.4"]) == set()  # no blob file to look for: the bytes are kept here, and still used
    assert kept(store) == {sha(same): same, sha(other): other}
    # ITI-86: the rows go, the bytes with the last of them, in the same transaction
    blobs = BlobStore(tmp_path / "data")
    outcome = remove_documents([DocumentRequest(REPO_ID, u) for u in ("1.1", "1.3")], REPO_ID, store, blobs)
    assert outcome.status.name == "SUCCESS"
    assert kept(store) == {sha(same): same}  # 1.2 still holds it
    assert remove_documents([DocumentRequest(REPO_ID, "1.2")], REPO_ID, store, blobs).status.name == "SUCCESS"
    assert kept(store) == {} and store.all() == []
    # a pending row released (a refused ITI-42): its bytes go with it
    store.reserve([small("2.1", b"refused")])
    assert store.release(["2.1"]) == set() and kept(store) == {}


def test_the_cleanup_sweep_drops_bytes_no_row_references(store: DocumentStore) -> None:
    store.reserve([small("3.1", b"referenced")])
    with store.engine.begin() as conn:  # what only a hand edit can leave: bytes without a row
        conn.exec_driver_sql("DELETE FROM repository_document WHERE unique_id = '3.1'")
    store.reserve([small("3.2", b"still used")])
    assert store.drop_unreferenced_contents(dry_run=True) == [sha(b"referenced")] and len(kept(store)) == 2
    assert store.drop_unreferenced_contents() == [sha(b"referenced")]
    assert kept(store) == {sha(b"still used"): b"still used"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_registry_leaves_nothing_of_a_small_document(store: DocumentStore, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "data")
    body, atts = _request({"Document01": b"small, rolled back"})
    registry = RegistryClient(f"http://127.0.0.1:{_closed_port()}/xds/registry", timeout=2)
    outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, registry)
    assert outcome.status.name == "FAILURE"
    assert store.all() == [] and kept(store) == {} and list(blobs.hashes()) == []
    registry.close()


async def test_no_answer_keeps_a_small_document_pending_with_its_bytes_until_the_reconciler_decides(
        store: DocumentStore, tmp_path: Path, registry: Service) -> None:
    """The ITI-42 went out, no answer came: row and bytes stay (the registry may list it); the registry,
    asked, has never heard of it: both go, in one transaction."""
    blobs = BlobStore(tmp_path / "data")
    data = b"small, outcome unknown"
    body, atts = _request({"Document01": data})
    with socket.socket() as black_hole:  # accepts connections (backlog), never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(8)
        silent = RegistryClient(f"http://127.0.0.1:{black_hole.getsockname()[1]}/xds/registry", timeout=0.5)
        outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, silent)
        silent.close()
    assert outcome.status.name == "FAILURE"
    assert [(d.state, d.sha1) for d in store.all()] == [(PENDING, sha(data))] and kept(store) == {sha(data): data}
    assert list(blobs.hashes()) == []  # never a file
    client = RegistryClient(registry.url)
    report = settle(store.pending_older_than(-1), store, blobs, client, REPO_ID)
    client.close()
    assert len(report.removed) == 1 and store.all() == [] and kept(store) == {}


@pytest.mark.parametrize(("inline_max_bytes", "size", "in_store"), [
    (100, 100, True),  # at the threshold: kept in the store
    (100, 101, False),  # above it: a blob file
    (0, 1, False),  # 0: always files
], ids=["at", "above", "never"])
async def test_the_threshold_decides_where_the_bytes_go_and_ITI_43_serves_both(
        tmp_path: Path, registry: Service, patient: str, inline_max_bytes: int, size: int, in_store: bool) -> None:
    repo = Repository(repository_settings(tmp_path, registry.url, inline_max_bytes=inline_max_bytes))
    data = (b"\x00\xff small document bytes " * 10)[:size]
    try:
        transport = httpx.ASGITransport(app=repo.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://repository") as client:
            reply, (uid,) = await provide(client, patient, {"d": data})
            assert reply.status == "Success", reply.error_codes
            stored = repo.store.get(uid)
            assert stored is not None and stored.size == size
            assert (stored.content == data, repo.blobs.exists(sha(data))) == (in_store, not in_store)
            assert (kept(repo.store) == {sha(data): data}) is in_store
            got = await retrieve_over_http(client, uid)
            assert (got.status, got.documents()) == ("Success", {uid: ("text/plain", data)})
            # the same through the function, the part streamed with its exact size
            outcome = retrieve([DocumentRequest(REPO_ID, uid)], REPO_ID, repo.store, repo.blobs)
            (part,) = outcome.parts
            assert part.size == size and b"".join(part.chunks()) == data  # type: ignore[union-attr]
    finally:
        repo.registry.close()
        repo.store.close()


async def test_a_small_document_the_registry_refuses_leaves_no_trace(tmp_path: Path, registry: Service) -> None:
    """The registry's own refusal (a patient it does not know): no row, no kept bytes, no file, no spool."""
    repo = Repository(repository_settings(tmp_path, registry.url))
    try:
        transport = httpx.ASGITransport(app=repo.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://repository") as client:
            reply, _ = await provide(client, new_patient_id(), {"d": b"for a patient the registry never heard of"})
        assert (reply.status, reply.error_codes) == ("Failure", ["XDSUnknownPatientId"])
        assert repo.store.all() == [] and kept(repo.store) == {}
        assert list(repo.blobs.hashes()) == [] and list(repo.blobs.tmp_dir.iterdir()) == []
    finally:
        repo.registry.close()
        repo.store.close()

