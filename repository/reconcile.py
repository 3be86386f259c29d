"""Pending documents settled with the registry by the running repository (ITI TF-2b 3.41.4.1.3: a
document and its registration end up together, or not at all; issue 16).

A row is `pending` from the moment its ITI-41 reserved it until the registry's answer to the ITI-42 is
recorded (`repository.provide`). A crash in between (kill -9, power cut) or a lost answer leaves it
pending: the registry may hold its DocumentEntry, and list it to consumers, or not. The bytes are always
there, durable before the ITI-42 was sent (a blob file filed with fsync and rename, or a small document's
bytes kept in the store by the reserving commit), so nothing is lost either way; what is owed is a
decision. Two paths decide, both by asking the registry (ITI-18 GetDocuments by uniqueId,
`RegistryClient.registered_unique_ids`):

- **On read.** An ITI-43 asking for a document that is pending here asks the registry about it at once
  (`settle_requested`): registered under our repositoryUniqueId → the row becomes `stored` and the
  document is served in the same answer. A document the registry lists is therefore retrievable as soon
  as the repository is up and can reach the registry: the window is the registry's answer, not a
  cleanup run. This path only ever promotes: "not registered" may be an ITI-42 still in flight.
- **In the background.** `Reconciler` settles every pending row older than `grace` seconds, at start-up
  and then every `interval` seconds: registered → `stored`; not registered → row and bytes removed;
  registry unreachable or refusing the query → kept for the next round. `grace` (default 300 s) must
  exceed the longest an ITI-42 can take (`registry_timeout`, 30 s, plus the registry's own database
  waits), so that no submission still in flight is judged. Spool files and unreferenced blobs stay the
  cleanup command's job.

The registry is never asked to delete anything (ITI-62): a DocumentEntry it lists always has its blob
here, so there is nothing to take back. A stored row whose blob has vanished (disk loss, an operator)
is reported by ITI-43 as XDSRepositoryError, and by the cleanup command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from repository.blobs import BlobStore
from repository.registry_client import RegistryUnavailable
from repository.store import DocumentStore, StoredDocument

log = logging.getLogger("xds.repository.reconcile")

QUERY_BATCH = 100  # uniqueIds in one GetDocuments (a registry bounds the values of one parameter: 256 here)


class RegistryLookup(Protocol):
    def registered_unique_ids(self, unique_ids: Iterable[str], repository_unique_id: str) -> set[str]: ...


@dataclass
class Settled:
    stored: list[str] = field(default_factory=list)  # registered: now served
    removed: list[str] = field(default_factory=list)  # not registered: row and blob gone
    kept: list[str] = field(default_factory=list)  # the registry could not say: next round


def registered(registry: RegistryLookup, unique_ids: Iterable[str], repository_unique_id: str) -> set[str]:
    """Which of these uniqueIds the registry holds for this repository, asked in batches."""
    ids = list(dict.fromkeys(unique_ids))
    found: set[str] = set()
    for i in range(0, len(ids), QUERY_BATCH):
        found |= registry.registered_unique_ids(ids[i:i + QUERY_BATCH], repository_unique_id)
    return found


def settle(pending: list[StoredDocument], store: DocumentStore, blobs: BlobStore, registry: RegistryLookup,
           repository_unique_id: str, dry_run: bool = False) -> Settled:
    """Decide these pending rows with the registry (the background path); kept all when it cannot say."""
    report = Settled()
    ids = [p.unique_id for p in pending]
    if not ids:
        return report
    try:
        found = registered(registry, ids, repository_unique_id)
    except RegistryUnavailable as exc:
        log.warning("cannot settle %d pending document(s) with the registry: %s", len(ids), exc)
        report.kept = ids
        return report
    report.stored = [u for u in ids if u in found]
    report.removed = [u for u in ids if u not in found]
    if not dry_run:
        store.commit(report.stored)
        for sha1 in store.release(report.removed):
            blobs.remove_if_unreferenced(sha1, store.is_referenced)
    return report


def settle_requested(unique_ids: Iterable[str], store: DocumentStore, registry: RegistryLookup,
                     repository_unique_id: str) -> dict[str, StoredDocument]:
    """The ITI-43 path: requested documents pending here that the registry lists become stored, and are
    returned to be served. Never removes anything (an ITI-42 may still be in flight)."""
    pending = store.pending(unique_ids)
    if not pending:
        return {}
    try:
        found = registered(registry, (p.unique_id for p in pending), repository_unique_id)
    except RegistryUnavailable as exc:
        log.warning("ITI-43: cannot ask the registry about %d pending document(s): %s", len(pending), exc)
        return {}
    if not found:
        return {}
    store.commit(found)
    log.info("ITI-43: %d pending document(s) registered by the registry, now stored", len(found))
    return store.get_many(found)


class Reconciler:
    """The background path: `run_once` at start-up, then every `interval` seconds, in a worker thread."""

    def __init__(self, store: DocumentStore, blobs: BlobStore, registry: RegistryLookup, repository_unique_id: str,
                 grace: float, interval: float) -> None:
        self.store, self.blobs, self.registry = store, blobs, registry
        self.repository_unique_id = repository_unique_id
        self.grace = grace
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def run_once(self) -> Settled:
        report = settle(self.store.pending_older_than(self.grace), self.store, self.blobs, self.registry,
                        self.repository_unique_id)
        for path in self.blobs.stale_spool_files(self.grace):  # uploads a crash cut short
            path.unlink(missing_ok=True)
        if report.stored or report.removed:
            log.info("pending documents settled with the registry: %d stored, %d removed",
                     len(report.stored), len(report.removed))
        return report

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # a database or network failure: try again next round
                log.exception("settling pending documents failed")
            if self.interval <= 0:
                return
            await asyncio.sleep(self.interval)
