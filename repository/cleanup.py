"""Repository housekeeping: `python -m repository cleanup` (ITI TF-2b 3.41.4.1.3: documents and their
registration must end up together, or not at all). The running repository settles pending documents and
removes stale spool files by itself (`repository.reconcile`); this command also sweeps unreferenced blobs,
and can be run beside it or on a stopped repository.

A crash or a lost registry answer can leave three kinds of leftovers, each older than the grace period:
1. spool files in `tmp/` from requests that never finished → removed;
2. `pending` rows (documents filed, ITI-42 sent, no answer recorded) → the registry is asked with an
   ITI-18 GetDocuments by uniqueId: registered under our repositoryUniqueId → the row becomes
   `stored`; not registered → row and blob are removed; registry unreachable → left for the next run
   (exit status 2);
3. blobs no row references → removed (`BlobStore.remove_if_unreferenced`, safe beside a running server);
   bytes kept in the store for small documents go with their last row, in its transaction, so none is
   left by a crash: the sweep of `repository_content` only finds what was edited by hand.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from repository.blobs import BlobStore
from repository.config import RepositorySettings
from repository.reconcile import settle
from repository.registry_client import RegistryClient
from repository.store import DocumentStore

log = logging.getLogger("xds.repository.cleanup")


@dataclass
class CleanupReport:
    spool_removed: list[str] = field(default_factory=list)
    pending_stored: list[str] = field(default_factory=list)
    pending_removed: list[str] = field(default_factory=list)
    pending_kept: list[str] = field(default_factory=list)
    blobs_removed: list[str] = field(default_factory=list)
    contents_removed: list[str] = field(default_factory=list)
    registry_unreachable: bool = False
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = [
            f"spool files {verb}: {len(self.spool_removed)}",
            f"pending documents confirmed by the registry: {len(self.pending_stored)}",
            f"pending documents unknown to the registry, {verb}: {len(self.pending_removed)}",
            f"unreferenced blobs {verb}: {len(self.blobs_removed)}",
        ]
        if self.contents_removed:
            lines.append(f"unreferenced contents kept in the store {verb}: {len(self.contents_removed)}")
        if self.pending_kept:
            lines.append(f"pending documents kept (registry unreachable): {len(self.pending_kept)}")
        return "\n".join(lines)


def run(
    settings: RepositorySettings,
    grace_seconds: float,
    dry_run: bool = False,
    registry: RegistryClient | None = None,
) -> CleanupReport:
    blobs = BlobStore(Path(settings.data_dir))
    store = DocumentStore(settings.database_url)
    own_client = registry is None
    client = registry or RegistryClient.from_settings(settings)
    report = CleanupReport(dry_run=dry_run)
    try:
        for path in blobs.stale_spool_files(grace_seconds):
            report.spool_removed.append(path.name)
            if not dry_run:
                path.unlink(missing_ok=True)

        settled = settle(store.pending_older_than(grace_seconds), store, blobs, client, settings.repository_unique_id,
                         dry_run)
        report.pending_stored, report.pending_removed, report.pending_kept = settled.stored, settled.removed, settled.kept
        report.registry_unreachable = bool(settled.kept)

        referenced = store.referenced_hashes()
        limit = time.time() - grace_seconds
        for sha1, mtime in list(blobs.hashes()):
            if sha1 in referenced or mtime >= limit:
                continue
            if dry_run or blobs.remove_if_unreferenced(sha1, store.is_referenced):
                report.blobs_removed.append(sha1)
        report.contents_removed = store.drop_unreferenced_contents(dry_run)
    finally:
        store.close()
        if own_client:
            client.close()
    return report
