"""The repository settles its pending documents itself (issue 16): killed (-9) after the registry stored its
ITI-42 but before the answer came back, it serves the document the registry lists as soon as it is up
again (ITI-43 asks the registry), and its background reconciler settles what is left: stored when the
registry has it, removed (row and blob) when it never got it. Real processes, real HTTP."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time
from pathlib import Path

import httpx

from harness.builders import new_patient_id
from harness.services import Service, feed_patient, start_registry, start_repository
from harness.wire import (
    Content,
    builder_without_repository_slots,
    mtom_request,
    pnr_element,
    post_simple,
    retrieve_element,
    simple_request,
)
from repository.blobs import BlobStore
from repository.store import PENDING, STORED, DocumentStore
from tests.repository.conftest import REPO_ID
from tests.repository.test_integration import unique_ids
from xdscore.vocabulary import Action


class HoldingProxy:
    """Between the repository and the registry: passes each ITI-42 on (or swallows it: `forward` False),
    then never answers, like a registry whose answer is lost while the repository dies."""

    def __init__(self, registry_url: str) -> None:
        proxy = self
        self.forward = True
        self.received = threading.Event()
        self.release = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if proxy.forward:
                    httpx.post(registry_url, content=body, headers={"content-type": self.headers["Content-Type"]},
                               timeout=30)
                proxy.received.set()
                proxy.release.wait(60)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/xds/registry"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def provide_and_kill(repository: Service, proxy: HoldingProxy, patient: str, data: bytes) -> str:
    """An ITI-41 whose ITI-42 reaches the proxy, then kill -9 of the repository; its document's uniqueId."""
    builder = builder_without_repository_slots(patient)
    body, parts = pnr_element(builder, {"Document01": Content.of(data)})
    encoded = mtom_request(body, parts, Action.PROVIDE_AND_REGISTER)

    def send() -> None:
        try:
            httpx.post(repository.url, content=b"".join(encoded.chunks),
                       headers={"content-type": encoded.content_type}, timeout=30)
        except httpx.HTTPError:
            pass  # the repository dies under it: the document source saw a failure

    proxy.received.clear()
    threading.Thread(target=send, daemon=True).start()
    assert proxy.received.wait(30), repository.log_text()
    repository.process.kill()
    repository.process.wait(10)
    return unique_ids(builder)[0]


def retrieve(repository: Service, unique_id: str) -> dict[str, tuple[str, bytes]]:
    content_type, data = simple_request(retrieve_element((REPO_ID, unique_id)), Action.RETRIEVE)
    with httpx.Client(timeout=30) as client:
        return post_simple(client, repository.url, content_type, data).documents()


def rows(data_dir: Path) -> dict[str, str]:
    store = DocumentStore(f"sqlite:///{data_dir / 'repository.db'}")
    try:
        return {d.unique_id: d.state for d in store.all()}
    finally:
        store.close()


def kept_hashes(data_dir: Path) -> list[str]:
    store = DocumentStore(f"sqlite:///{data_dir / 'repository.db'}")
    try:
        with store.engine.connect() as conn:
            return [r[0] for r in conn.exec_driver_sql("SELECT sha1 FROM repository_content ORDER BY sha1")]
    finally:
        store.close()


def test_a_repository_killed_before_the_registry_answered_settles_on_restart(tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "registry")
    proxy = HoldingProxy(registry.url)
    data_dir = tmp_path / "repository"
    try:
        patient = new_patient_id()
        feed_patient(registry.feed_port, patient)
        repository = start_repository(data_dir, proxy.url)
        registered = provide_and_kill(repository, proxy, patient, b"registered, answer lost")
        proxy.forward = False
        repository = start_repository(data_dir, proxy.url)
        lost = provide_and_kill(repository, proxy, patient, b"never reached the registry")
        assert rows(data_dir / "repository") == {registered: PENDING, lost: PENDING}

        stale = BlobStore(data_dir / "repository").spool()  # an upload a crash cut short, an hour ago
        stale.close()
        os.utime(stale.path, (time.time() - 3600, time.time() - 3600))

        # Up again, pointed at the registry itself. Both rows are younger than the grace period (8 s): no
        # background round touches them before the retrieves below.
        repository = start_repository(data_dir, registry.url, env={
            "XDS_REPOSITORY_RECONCILE_GRACE_SECONDS": "8", "XDS_REPOSITORY_RECONCILE_INTERVAL_SECONDS": "0.5"})
        try:
            # The registry lists the first document: retrievable at once, byte-identical (settled on read).
            assert retrieve(repository, registered) == {registered: ("text/plain", b"registered, answer lost")}
            assert rows(data_dir / "repository")[registered] == STORED
            # The second one the registry never got: not served, then removed with its blob by the reconciler.
            assert retrieve(repository, lost) == {}
            assert rows(data_dir / "repository")[lost] == PENDING
            deadline = time.monotonic() + 30
            while lost in rows(data_dir / "repository") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert rows(data_dir / "repository") == {registered: STORED}
            assert not stale.path.exists()
            # Both were small, kept in the store: the lost one's bytes went with its row, no blob file at all.
            assert kept_hashes(data_dir / "repository") == [hashlib.sha1(b"registered, answer lost").hexdigest()]
            assert list(BlobStore(data_dir / "repository").hashes()) == []
        finally:
            repository.stop()
    finally:
        proxy.close()
        registry.stop()
