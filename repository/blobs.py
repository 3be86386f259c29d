"""Content-addressed document store on a POSIX folder (ITI TF-2b 3.41.4.1.3: each document is stored as an
octet stream; the SHA-1 it is filed under is the XDSDocumentEntry.hash the repository reports).

Layout under the repository data folder:
- `blobs/ab/abcd…` (40 hex digits under 256 fan-out folders made once, at start): one file per
  distinct content, never modified once placed;
- `tmp/`: spool files of documents still arriving. A spool file is on the same file system as
  `blobs/`, so placing it is a rename, not a copy.

Placing is atomic and durable: fdatasync the file, hard-link it under its hash (which fails if that
content is already stored, so two writers never clobber each other), fsync the directory, drop the spool
name. Two syncs per new document; the fan-out folders exist beforehand so no parent needs a sync.
A document received in memory (the usual small one) is written to a nameless file (Linux `O_TMPFILE` in
`tmp/`) and linked under its hash through `/proc/self/fd`: no spool name to make, reopen and unlink, half
the CPU of a named spool file (120 against 240 µs per 1 KB document, most of it in the kernel); where the
file system or the kernel cannot (checked once, at start), it takes the named spool file.
What knows which blobs are in use is `repository.store`; this module only keeps bytes.
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from xdscore import mtom

READ_CHUNK = 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_chunks(handle: BinaryIO, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
    """Yield an open file piece by piece and close it (also when the consumer stops early)."""
    try:
        while True:
            chunk = handle.read(chunk_size)
            if not chunk:
                return
            yield chunk
    finally:
        handle.close()


_proc_fd: tuple[int, int] | None = None  # (pid, descriptor of that process's /proc/self/fd)
_proc_fd_lock = threading.Lock()


def _proc_self_fd() -> int:
    """This process's /proc/self/fd folder, opened once (again after a fork: /proc/self was resolved at open)."""
    global _proc_fd
    pid = os.getpid()
    with _proc_fd_lock:
        if _proc_fd is None or _proc_fd[0] != pid:
            _proc_fd = (pid, os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY))
        return _proc_fd[1]


def _nameless_files(folder: Path) -> bool:
    """Whether a file opened O_TMPFILE in `folder` can be linked into it (Linux, /proc mounted)."""
    probe = folder / f"probe-{uuid.uuid4().hex}"
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
        try:
            os.link(str(fd), probe, src_dir_fd=_proc_self_fd())
        finally:
            os.close(fd)
        probe.unlink()
        return True
    except (OSError, AttributeError):  # no O_TMPFILE (EOPNOTSUPP, EISDIR on old kernels), no linkat through /proc
        return False


class SpoolFile:
    """A document arriving on disk, under `root/tmp`: the `mtom.Spill` the repository gives its MTOM decoder
    for attachments past `spill_threshold`, then the file `BlobStore.place_file` renames into place."""

    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(prefix="spool-", dir=folder)
        self.path = Path(name)
        self._file: IO[bytes] | None = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> int:
        assert self._file is not None, "spool file written after it was closed"
        return self._file.write(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def read(self) -> bytes:
        return self.path.read_bytes()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class BlobStore:
    """Documents filed by SHA-1 under `root/blobs`, spool files under `root/tmp`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_dir = root / "blobs"
        self.tmp_dir = root / "tmp"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        made = False
        for i in range(256):
            fan_out = self.blob_dir / f"{i:02x}"
            if not fan_out.is_dir():
                fan_out.mkdir(exist_ok=True)
                made = True
        if made:
            _fsync_dir(self.blob_dir)
            _fsync_dir(root)
        self._nameless = _nameless_files(self.tmp_dir)  # O_TMPFILE + linkat through /proc work here

    # -- arriving documents -------------------------------------------------------------------------

    def spool(self) -> SpoolFile:
        """A new spool file, open for writing (`mtom.SpillingSink` calls this past its threshold)."""
        return SpoolFile(self.tmp_dir)

    def sink_factory(self, threshold: int, limit: int | None = None, budget: mtom.MemoryBudget | None = None) -> mtom.SinkFactory:
        """Sinks for one request's attachments: each spills past `threshold`, and any spills once the
        attachments kept in memory would exceed `budget` together."""
        def factory(content_id: str, content_type: str) -> mtom.AttachmentSink:
            return mtom.SpillingSink(content_id, content_type, spill=self.spool, threshold=threshold, limit=limit,
                                     budget=budget)

        return factory

    def path(self, sha1: str) -> Path:
        sha1 = sha1.lower()
        if len(sha1) != 40 or any(c not in "0123456789abcdef" for c in sha1):
            raise ValueError(f"not a SHA-1 hex digest: {sha1!r}")
        return self.blob_dir / sha1[:2] / sha1

    def place_file(self, spooled: Path, sha1: str) -> bool:
        """File a finished spool file under its hash; True if this content was not stored before.

        The spool file is gone afterwards in both cases.
        """
        with spooled.open("rb") as f:
            os.fdatasync(f.fileno())
        target = self.path(sha1)
        try:
            os.link(spooled, target)
            created = True
        except FileExistsError:
            created = False
        finally:
            spooled.unlink(missing_ok=True)
        if created:
            _fsync_dir(target.parent)
        return created

    def place_bytes(self, data: bytes, sha1: str) -> bool:
        """File an in-memory document (small attachment, inline base64) under its hash."""
        target = self.path(sha1)
        if target.exists():
            return False
        if not self._nameless:
            spooled = self.spool()
            spooled.write(data)
            spooled.close()
            return self.place_file(spooled.path, sha1)
        fd = os.open(self.tmp_dir, os.O_TMPFILE | os.O_WRONLY, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fdatasync(fd)
            try:
                os.link(str(fd), target, src_dir_fd=_proc_self_fd())  # linkat(AT_SYMLINK_FOLLOW) of the open file
            except FileExistsError:
                return False
        finally:
            os.close(fd)
        _fsync_dir(target.parent)
        return True

    # -- stored documents ---------------------------------------------------------------------------

    def exists(self, sha1: str) -> bool:
        return self.path(sha1).is_file()

    def open(self, sha1: str) -> BinaryIO:
        """Open a stored document for reading (FileNotFoundError when it is not there)."""
        return self.path(sha1).open("rb")

    def size(self, sha1: str) -> int:
        return self.path(sha1).stat().st_size

    def remove(self, sha1: str) -> bool:
        try:
            self.path(sha1).unlink()
            return True
        except FileNotFoundError:
            return False

    def remove_if_unreferenced(self, sha1: str, is_referenced: Callable[[str], bool]) -> bool:
        """Remove a blob unless some store row references it; safe against a concurrent submission.

        A submission writes its row first and files its blob second. So: move the blob aside, then
        ask the store. A row that appeared before the move is seen now and the blob goes back; a
        submission filing after the move finds no blob and files its own copy. No lock is needed, so
        the cleanup command can run beside the server.
        """
        if is_referenced(sha1):  # the common case (same bytes stored for another uniqueId): no gap at all
            return False
        target = self.path(sha1)
        aside = self.tmp_dir / f"remove-{sha1}-{uuid.uuid4().hex}"
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            return False
        if is_referenced(sha1):
            try:
                os.link(aside, target)
            except FileExistsError:  # filed again meanwhile: same bytes
                pass
            aside.unlink()
            return False
        aside.unlink()
        return True

    def hashes(self) -> Iterator[tuple[str, float]]:
        """Every stored hash with its modification time."""
        for fan_out in sorted(self.blob_dir.iterdir()):
            if not fan_out.is_dir():
                continue
            for blob in fan_out.iterdir():
                try:
                    yield blob.name, blob.stat().st_mtime
                except FileNotFoundError:  # removed meanwhile
                    continue

    def stale_spool_files(self, older_than_seconds: float) -> list[Path]:
        """Spool files left by requests that never finished (crash, killed worker)."""
        limit = time.time() - older_than_seconds
        stale = []
        for entry in self.tmp_dir.iterdir():
            try:
                if entry.stat().st_mtime < limit:
                    stale.append(entry)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        return stale
