"""Repository housekeeping (repository.cleanup): stale spool files, unreferenced blobs, pending documents."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

from repository.blobs import BlobStore
from repository.cleanup import run
from repository.config import RepositorySettings
from repository.store import DocumentStore, StoredDocument


def _settings(tmp_path: Path, registry_url: str = "") -> RepositorySettings:
    if not registry_url:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            registry_url = f"http://127.0.0.1:{s.getsockname()[1]}/xds/registry"
    return RepositorySettings.load({"XDS_DATA_DIR": str(tmp_path)}, registry_url=registry_url, registry_timeout=2.0)


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def _blob(blobs: BlobStore, data: bytes) -> str:
    sha = hashlib.sha1(data).hexdigest()
    blobs.place_bytes(data, sha)
    return sha


def test_cleanup_removes_old_leftovers_and_keeps_the_rest(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    blobs, store = BlobStore(Path(settings.data_dir)), DocumentStore(settings.database_url)
    kept = _blob(blobs, b"referenced")
    store.reserve([StoredDocument("1.1", kept, 10, "text/plain")])
    store.commit(["1.1"])
    orphan = _blob(blobs, b"orphan")
    young_orphan = _blob(blobs, b"young orphan")
    for sha in (kept, orphan):
        _age(blobs.path(sha), 7200)
    old_spool = blobs.spool()
    old_spool.close()
    _age(old_spool.path, 7200)
    young_spool = blobs.spool()
    young_spool.close()
    store.close()

    dry = run(settings, grace_seconds=3600, dry_run=True)
    assert (dry.blobs_removed, dry.spool_removed) == ([orphan], [old_spool.path.name])
    assert blobs.exists(orphan) and old_spool.path.exists()

    report = run(settings, grace_seconds=3600)
    assert report.blobs_removed == [orphan] and report.spool_removed == [old_spool.path.name]
    assert not blobs.exists(orphan) and not old_spool.path.exists()
    assert blobs.exists(kept) and blobs.exists(young_orphan) and young_spool.path.exists()
    assert "unreferenced blobs removed: 1" in report.summary()


def test_pending_documents_stay_while_the_registry_cannot_be_asked(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    blobs, store = BlobStore(Path(settings.data_dir)), DocumentStore(settings.database_url)
    sha = _blob(blobs, b"pending")
    store.reserve([StoredDocument("2.1", sha, 7, "text/plain")])
    _age(blobs.path(sha), 7200)
    report = run(settings, grace_seconds=-1)
    assert report.registry_unreachable and report.pending_kept == ["2.1"]
    assert blobs.exists(sha) and [d.unique_id for d in store.all()] == ["2.1"]
    store.close()
