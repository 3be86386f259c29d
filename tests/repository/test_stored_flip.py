"""The pending → stored flip of an ITI-41 is committed without a sync (repository.store `commit`;
docs/repository.md "Order of writes"): a power cut that loses it leaves a `pending` row whose bytes and
registration are durable, which ITI-43 settles on read and the reconciler in the background
(repository.reconcile). Shown here: the flip's transactions are the unsynced kind and the reserve's the
synced kind, on SQLite and PostgreSQL; a lost flip (the row put back to `pending`, as the power cut
leaves it) is served on read and settled by the reconciler. The strace view of the same (no WAL sync
between the ITI-42 and the answer): tests/test_power_cut.py."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.services import Service
from repository.app import Repository
from repository.reconcile import Reconciler
from repository.store import PENDING, STORED, DocumentStore, StoredDocument
from tests.repository.conftest import REPO_ID, repository_settings
from tests.repository.test_app import provide, retrieve


def durability(store: DocumentStore, writer: str) -> str:
    """The commit kind of a transaction of that writer: SQLite's synchronous level, PostgreSQL's synchronous_commit."""
    sql = "PRAGMA synchronous" if store.engine.dialect.name == "sqlite" else "SHOW synchronous_commit"
    committer = store.flipper if writer == "flip" else store.writer
    return str(committer.submit(lambda tx: tx.conn.exec_driver_sql(sql).scalar()).result())


def test_the_flip_commits_without_a_sync_and_the_reserve_with_one(store: DocumentStore) -> None:
    sqlite = store.engine.dialect.name == "sqlite"
    assert durability(store, "reserve") == ("2" if sqlite else "on")  # FULL: the WAL is synced at commit
    assert durability(store, "flip") == ("1" if sqlite else "off")  # NORMAL / off: not synced
    assert durability(store, "reserve") == ("2" if sqlite else "on")  # and the reserves' connections stay synced
    store.reserve([StoredDocument("1.1", "a" * 40, 3, "text/plain")])
    store.commit(["1.1"])
    assert store.get("1.1") is not None and store.all()[0].state == STORED  # visible at once


async def test_a_lost_flip_is_served_on_read_and_settled_by_the_reconciler(tmp_path: Path, registry: Service,
                                                                           patient: str) -> None:
    repo = Repository(repository_settings(tmp_path, registry.url))
    try:
        transport = httpx.ASGITransport(app=repo.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://repository") as client:
            first, (read_uid,) = await provide(client, patient, {"d": b"its flip lost, then read"})
            second, (idle_uid,) = await provide(client, patient, {"d": b"its flip lost, never read"})
            assert (first.status, second.status) == ("Success", "Success")
            # The power cut that loses the unsynced flips: both rows are pending again, bytes and registration kept.
            with repo.store.engine.begin() as conn:
                conn.exec_driver_sql("UPDATE repository_document SET state = 'pending'")
            assert {d.unique_id: d.state for d in repo.store.all()} == {read_uid: PENDING, idle_uid: PENDING}
            # Read: the registry lists it, so it is served in the same answer and stored again.
            got = await retrieve(client, read_uid)
            assert (got.status, got.documents()) == ("Success", {read_uid: ("text/plain", b"its flip lost, then read")})
            assert repo.store.get(read_uid) is not None
        # Not read: the reconciler's round (grace 0 here) asks the registry and stores it again.
        report = Reconciler(repo.store, repo.blobs, repo.registry, REPO_ID, grace=-1, interval=0).run_once()
        assert (report.stored, report.removed) == ([idle_uid], [])
        assert {d.unique_id: d.state for d in repo.store.all()} == {read_uid: STORED, idle_uid: STORED}
    finally:
        repo.registry.close()
        repo.store.close()
