"""The repository's own small store: DocumentEntry.uniqueId → blob hash, size, mimeType (ITI TF-2b 3.43.4.2.3
returns the mimeType stored at ITI-41 time; NIST test 12360 "Repository handling of mimeType") and the
DocumentEntry's patientId (ITI TF-2b 3.43.6.1.2: the ITI-43 audit message names the patient, so a read
shows in the patient's access trace).

SQLAlchemy 2 Core, SQLite (WAL) by default, PostgreSQL through a `postgresql+psycopg://` URL, opened by
`xdsservice.database` (one engine and durability policy for every store). The schema is one table, made
and upgraded by the Alembic migrations in `repository/migrations`, run at every start (see
docs/repository.md "Store schema").

A row is `pending` from the moment its ITI-41 passed the repository's checks until the registry
accepted the ITI-42, then `stored` (a commit that is not synced: `commit` says why it need not be).
Only `stored` rows are served by ITI-43. A row is always written
before its blob is filed, so a blob nobody references is garbage and `repository.cleanup` may remove it
(see `BlobStore.remove_if_unreferenced` for why that is safe against a concurrent submission).

Small documents (at most `inline_max_bytes`, docs/repository.md "Small documents in the store") keep
their bytes here, in `repository_content` (SHA-1 → bytes, shared by every uniqueId with those bytes),
written in the transaction that reserves their row: its durable commit is then the document's, with no
blob file and no fsync of its own. A content row goes in the transaction that deletes the last row
referencing it (`_drop_unreferenced`), so it never outlives its documents nor leaves before them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError

from repository.migrations import upgrade
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import ErrorCode
from xdsservice.database import make_engine, writing
from xdsservice.dbapi import Dbapi, in_list
from xdsservice.group_commit import GroupCommitter

PENDING = "pending"
STORED = "stored"

metadata = MetaData()
documents = Table(
    "repository_document",
    metadata,
    Column("unique_id", String(256), primary_key=True),
    Column("sha1", String(40), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("mime_type", String(256), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    # CX of XDSDocumentEntry.patientId; "" for documents stored before the column existed.
    Column("patient_id", String(256), nullable=False, server_default=""),
)
# Bytes of small documents, by SHA-1 (lower-case hex); a file under blobs/ for the others.
contents = Table(
    "repository_content",
    metadata,
    Column("sha1", String(40), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class StoredDocument:
    unique_id: str
    sha1: str  # lower-case hex
    size: int
    mime_type: str
    state: str = STORED
    created_at: float = 0.0
    patient_id: str = ""  # CX of the DocumentEntry's patientId; "" when unknown
    # The bytes, for a document kept in the store (read by `get`, `get_many`, `remove_stored`; given to
    # `reserve` to keep them); None for a document filed in the blob store, or not read.
    content: bytes | None = None


@dataclass(frozen=True)
class Conflict:
    """A uniqueId the store cannot take for this submission, with the RegistryError it becomes."""

    unique_id: str
    code: ErrorCode
    context: str


@dataclass(frozen=True)
class Reservation:
    inserted: tuple[str, ...]  # uniqueIds whose pending rows this submission created (and owns)
    conflicts: tuple[Conflict, ...]


def _in_memory(engine: Engine) -> bool:
    return engine.url.database in (None, "", ":memory:")


def _not_synced(dbapi_connection: Any, _record: Any) -> None:
    """SQLite WAL at synchronous=NORMAL: a commit is not synced (the next synced commit or checkpoint of
    any connection syncs the WAL with it); a power cut may roll it back, never corrupt the database."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _row(r: Any) -> StoredDocument:
    return StoredDocument(r.unique_id, r.sha1, r.size, r.mime_type, r.state, r.created_at, r.patient_id)


def _with_content(r: Any) -> StoredDocument:
    data = r.data
    return StoredDocument(r.unique_id, r.sha1, r.size, r.mime_type, r.state, r.created_at, r.patient_id,
                          bytes(data) if data is not None else None)  # psycopg gives bytea as memoryview


# A document row with its kept bytes, if any (None: its bytes are a blob file).
_joined = select(documents, contents.c.data).select_from(
    documents.outerjoin(contents, contents.c.sha1 == documents.c.sha1))


class DocumentStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        # SQLite has one writer; its busy handler waits in sleeps of up to 100 ms. Writers of this
        # process queue on a lock instead (other processes still meet busy_timeout).
        self._write_lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()
        if self.engine.dialect.name == "sqlite":
            self._write_lock = threading.Lock()
        upgrade(self.engine)
        sqlite = self.engine.dialect.name == "sqlite"
        # reserve / release of concurrent ITI-41s share durable commits (xdsservice.group_commit)
        self.writer: GroupCommitter[_Tx] = GroupCommitter(self._transaction, sqlite, "repository")
        # The pending → stored flips share commits of their own, not synced (`commit`): on SQLite through
        # connections at synchronous=NORMAL (a second engine: the pragma is per connection, and a pooled
        # connection must never go back to the reserves at NORMAL); on PostgreSQL synchronous_commit off.
        self._flip_engine = self.engine
        if sqlite and not _in_memory(self.engine):
            self._flip_engine = make_engine(url)
            event.listen(self._flip_engine, "connect", _not_synced)  # after make_engine's own pragmas
        self.flipper: GroupCommitter[_Tx] = GroupCommitter(self._flip_transaction, sqlite, "repository-flip", writers=1)

    @contextlib.contextmanager
    def _transaction(self, _lock_keys: Sequence[str]) -> Iterator[_Tx]:
        with self._write_lock, writing(self.engine) as conn:
            yield _Tx(conn)

    @contextlib.contextmanager
    def _flip_transaction(self, _lock_keys: Sequence[str]) -> Iterator[_Tx]:
        with self._write_lock, writing(self._flip_engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            yield _Tx(conn)

    def close(self) -> None:
        self.writer.close()
        self.flipper.close()
        if self._flip_engine is not self.engine:
            self._flip_engine.dispose()
        self.engine.dispose()

    # -- ITI-43 -------------------------------------------------------------------------------------

    def get(self, unique_id: str) -> StoredDocument | None:
        """The document served under this uniqueId, or None (pending rows are not served)."""
        with self.engine.connect() as conn:
            r = conn.execute(_joined.where(documents.c.unique_id == unique_id, documents.c.state == STORED)).first()
        return _with_content(r) if r is not None else None

    def get_many(self, unique_ids: Iterable[str]) -> dict[str, StoredDocument]:
        ids = list(dict.fromkeys(unique_ids))
        if not ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(_joined.where(documents.c.unique_id.in_(ids), documents.c.state == STORED)).all()
        return {r.unique_id: _with_content(r) for r in rows}

    # -- ITI-41 -------------------------------------------------------------------------------------

    @RULES.rule("REP-uniqueId", ErrorCode.XDSNonIdenticalHash, ErrorCode.XDSNonIdenticalSize, ErrorCode.XDSRepositoryError, ref="ITI TF-3 4.2.4.1", family="ITI-41 repository")
    def reserve(self, entries: Iterable[StoredDocument]) -> Reservation:
        """Insert pending rows for new uniqueIds in one transaction, or insert nothing on any conflict.

        A uniqueId already stored with the same hash and size is a legal resubmission (ITI TF-3
        4.2.4.1: the registry accepts it too); with another hash it is XDSNonIdenticalHash, with another
        size XDSNonIdenticalSize. A uniqueId still pending belongs to a submission in flight.
        """
        entries = list(entries)
        for _ in range(3):  # a concurrent insert of the same uniqueId (another process) makes us look again
            try:
                return self.writer.submit(lambda tx: _reserve(tx, entries, time.time())).result()
            except IntegrityError:
                continue
        raise RuntimeError("could not reserve uniqueIds after three attempts")

    async def reserve_async(self, entries: Iterable[StoredDocument]) -> Reservation:
        """`reserve` for a coroutine: it waits for the group commit without holding a thread."""
        entries = list(entries)
        for _ in range(3):
            try:
                return await asyncio.wrap_future(self.writer.submit(lambda tx: _reserve(tx, entries, time.time())))
            except IntegrityError:
                continue
        raise RuntimeError("could not reserve uniqueIds after three attempts")

    def commit(self, unique_ids: Iterable[str]) -> None:
        """pending → stored, visible to ITI-43 on return, but not synced: a power cut may lose it. What it
        loses is a `pending` row whose bytes and registration are durable (both were before the ITI-42
        was answered), which ITI-43 settles on read and the reconciler in the background by asking the
        registry (`repository.reconcile`), as after a crash before the flip. So it need not cost a sync."""
        ids = list(unique_ids)
        if ids:
            self.flipper.submit(lambda tx: _set_stored(tx, ids)).result()

    async def commit_async(self, unique_ids: Iterable[str]) -> None:
        ids = list(unique_ids)
        if ids:
            await asyncio.wrap_future(self.flipper.submit(lambda tx: _set_stored(tx, ids)))

    def release(self, unique_ids: Iterable[str]) -> set[str]:
        """Delete these pending rows, and the kept bytes no row references any more; return the hashes
        they pointed to that may be blob files (not kept here)."""
        ids = list(unique_ids)
        return self.writer.submit(lambda tx: _release(tx, ids)).result() if ids else set()

    async def release_async(self, unique_ids: Iterable[str]) -> set[str]:
        ids = list(unique_ids)
        return await asyncio.wrap_future(self.writer.submit(lambda tx: _release(tx, ids))) if ids else set()

    # -- ITI-86 -------------------------------------------------------------------------------------

    def remove_stored(self, unique_ids: Iterable[str]) -> dict[str, StoredDocument]:
        """Delete the stored rows of these uniqueIds in one transaction; the rows removed. From then on
        ITI-43 does not serve them. Bytes kept here go in the same transaction when no other row references
        them (the rows removed carry them as `content`); blob files are removed after, by the caller."""
        ids = list(dict.fromkeys(unique_ids))
        if not ids:
            return {}
        with self._write_lock, writing(self.engine) as conn:
            rows = {
                r.unique_id: _with_content(r)
                for r in conn.execute(_joined.where(documents.c.unique_id.in_(ids), documents.c.state == STORED))
            }
            if rows:
                conn.execute(delete(documents).where(documents.c.unique_id.in_(list(rows)), documents.c.state == STORED))
                _drop_unreferenced(Dbapi(conn), {d.sha1 for d in rows.values()})
        return rows

    # -- housekeeping -------------------------------------------------------------------------------

    def is_referenced(self, sha1: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(documents.c.unique_id).where(documents.c.sha1 == sha1.lower()).limit(1)).first() is not None

    def drop_unreferenced_contents(self, dry_run: bool = False) -> list[str]:
        """Kept bytes no row references (none is ever left by this store's own transactions; the cleanup
        command's sweep, for a database edited by hand or restored in part); their hashes."""
        with self._write_lock, writing(self.engine) as conn:
            db = Dbapi(conn)
            orphans = [r[0] for r in db.rows(f"SELECT sha1 FROM repository_content WHERE {_UNREFERENCED}")]
            if orphans and not dry_run:
                _drop_unreferenced(db, set(orphans))
        return orphans

    def referenced_hashes(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(documents.c.sha1).distinct()).scalars())

    def pending(self, unique_ids: Iterable[str]) -> list[StoredDocument]:
        """The rows among these uniqueIds that are still pending (repository.reconcile, on ITI-43)."""
        ids = list(dict.fromkeys(unique_ids))
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(documents).where(documents.c.unique_id.in_(ids), documents.c.state == PENDING)
            ).all()
        return [_row(r) for r in rows]

    def pending_older_than(self, seconds: float) -> list[StoredDocument]:
        limit = time.time() - seconds
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(documents).where(documents.c.state == PENDING, documents.c.created_at < limit)
            ).all()
        return [_row(r) for r in rows]

    def all(self) -> list[StoredDocument]:
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(select(documents).order_by(documents.c.unique_id))]


# ------------------------------------------------------------------------------------------------
# The write jobs, run by the store's group committer in shared durable commits (plain DBAPI: through
# SQLAlchemy Core each statement cost more than SQLite takes to run it).

_COLUMNS = "unique_id, sha1, size, mime_type, state, created_at, patient_id"


@dataclass(frozen=True)
class _Tx:
    conn: Connection


def _reserve(tx: _Tx, entries: list[StoredDocument], now: float) -> Reservation:
    db = Dbapi(tx.conn)
    wanted = list(dict.fromkeys(e.unique_id for e in entries))
    existing = {r[0]: StoredDocument(*r) for r in db.rows(
        f"SELECT {_COLUMNS} FROM repository_document WHERE unique_id IN ({in_list(len(wanted))})", wanted)}
    inserted: list[str] = []
    conflicts: list[Conflict] = []
    for e in entries:
        old = existing.get(e.unique_id)
        if old is None:
            inserted.append(e.unique_id)
        elif old.state == PENDING:
            conflicts.append(Conflict(e.unique_id, ErrorCode.XDSRepositoryError,
                                      f"document {e.unique_id} is being stored by another submission still in progress"))
        elif old.sha1 != e.sha1.lower():
            conflicts.append(Conflict(e.unique_id, ErrorCode.XDSNonIdenticalHash,
                                      f"document {e.unique_id} is already stored with hash {old.sha1}, not {e.sha1.lower()}"))
        elif old.size != e.size:
            conflicts.append(Conflict(e.unique_id, ErrorCode.XDSNonIdenticalSize,
                                      f"document {e.unique_id} is already stored with size {old.size}, not {e.size}"))
    if conflicts:
        return Reservation((), tuple(conflicts))
    db.executemany(f"INSERT INTO repository_document ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", [
        (e.unique_id, e.sha1.lower(), e.size, e.mime_type, PENDING, now, e.patient_id)
        for e in entries if e.unique_id in inserted
    ])
    kept = {e.sha1.lower(): e.content for e in entries if e.content is not None and e.unique_id in inserted}
    if kept:
        # Bytes already kept for another uniqueId are shared. PostgreSQL: DO UPDATE (not NOTHING) locks the
        # shared row until this commit, so a concurrent `_drop_unreferenced` waits and then sees our row.
        action = "NOTHING" if db.sqlite else "UPDATE SET sha1 = EXCLUDED.sha1"
        db.executemany(f"INSERT INTO repository_content (sha1, data) VALUES (?, ?) ON CONFLICT (sha1) DO {action}",
                       sorted(kept.items()))
    return Reservation(tuple(inserted), ())


def _set_stored(tx: _Tx, ids: list[str]) -> None:
    Dbapi(tx.conn).execute(f"UPDATE repository_document SET state = ? WHERE unique_id IN ({in_list(len(ids))})",
                           [STORED, *ids])


def _release(tx: _Tx, ids: list[str]) -> set[str]:
    db = Dbapi(tx.conn)
    where = f"unique_id IN ({in_list(len(ids))}) AND state = ?"
    hashes = {r[0] for r in db.rows(f"SELECT sha1 FROM repository_document WHERE {where}", [*ids, PENDING])}
    db.execute(f"DELETE FROM repository_document WHERE {where}", [*ids, PENDING])
    return hashes - _drop_unreferenced(db, hashes) if hashes else hashes


_UNREFERENCED = "NOT EXISTS (SELECT 1 FROM repository_document d WHERE d.sha1 = repository_content.sha1)"


def _drop_unreferenced(db: Dbapi, hashes: set[str]) -> set[str]:
    """Delete the kept bytes of these hashes that no row references now; return the hashes kept here
    (dropped or still referenced), so that only the others are looked for as blob files.

    PostgreSQL: the content rows are locked first (FOR UPDATE waits for a reservation sharing them to
    commit), and the reference check is a later statement, whose snapshot sees that reservation's row."""
    ordered = sorted(hashes)
    marks = in_list(len(ordered))
    lock = "" if db.sqlite else " FOR UPDATE"
    kept = {r[0] for r in db.rows(f"SELECT sha1 FROM repository_content WHERE sha1 IN ({marks}){lock}", ordered)}
    if kept:
        db.execute(f"DELETE FROM repository_content WHERE sha1 IN ({in_list(len(kept))}) AND {_UNREFERENCED}",
                   sorted(kept))
    return kept
