"""The repository's own small store: DocumentEntry.uniqueId → blob hash, size, mimeType (ITI TF-2b 3.43.4.2.3
returns the mimeType stored at ITI-41 time; NIST test 12360 "Repository handling of mimeType") and the
DocumentEntry's patientId (ITI TF-2b 3.43.6.1.2: the ITI-43 audit message names the patient, so a read
shows in the patient's access trace).

SQLAlchemy 2 Core, SQLite (WAL) by default, PostgreSQL through a `postgresql+psycopg://` URL, opened by
`xdsservice.database` (one engine and durability policy for every store). The schema is one table, made
and upgraded by the Alembic migrations in `repository/migrations`, run at every start (see
docs/repository.md "Store schema").

A row is `pending` from the moment its ITI-41 passed the repository's checks until the registry
accepted the ITI-42, then `stored`. Only `stored` rows are served by ITI-43. A row is always written
before its blob is filed, so a blob nobody references is garbage and `repository.cleanup` may remove it
(see `BlobStore.remove_if_unreferenced` for why that is safe against a concurrent submission).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Float, MetaData, String, Table, delete, select
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


@dataclass(frozen=True)
class StoredDocument:
    unique_id: str
    sha1: str  # lower-case hex
    size: int
    mime_type: str
    state: str = STORED
    created_at: float = 0.0
    patient_id: str = ""  # CX of the DocumentEntry's patientId; "" when unknown


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


def _row(r: Any) -> StoredDocument:
    return StoredDocument(r.unique_id, r.sha1, r.size, r.mime_type, r.state, r.created_at, r.patient_id)


class DocumentStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        # SQLite has one writer; its busy handler waits in sleeps of up to 100 ms. Writers of this
        # process queue on a lock instead (other processes still meet busy_timeout).
        self._write_lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()
        if self.engine.dialect.name == "sqlite":
            self._write_lock = threading.Lock()
        upgrade(self.engine)
        # reserve / commit / release of concurrent ITI-41s share durable commits (xdsservice.group_commit)
        self.writer: GroupCommitter[_Tx] = GroupCommitter(self._transaction, self.engine.dialect.name == "sqlite",
                                                          "repository")

    @contextlib.contextmanager
    def _transaction(self, _lock_keys: Sequence[str]) -> Iterator[_Tx]:
        with self._write_lock, writing(self.engine) as conn:
            yield _Tx(conn)

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()

    # -- ITI-43 -------------------------------------------------------------------------------------

    def get(self, unique_id: str) -> StoredDocument | None:
        """The document served under this uniqueId, or None (pending rows are not served)."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(documents).where(documents.c.unique_id == unique_id, documents.c.state == STORED)
            ).first()
        return _row(r) if r is not None else None

    def get_many(self, unique_ids: Iterable[str]) -> dict[str, StoredDocument]:
        ids = list(dict.fromkeys(unique_ids))
        if not ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(documents).where(documents.c.unique_id.in_(ids), documents.c.state == STORED)
            ).all()
        return {r.unique_id: _row(r) for r in rows}

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
        ids = list(unique_ids)
        if ids:
            self.writer.submit(lambda tx: _set_stored(tx, ids)).result()

    async def commit_async(self, unique_ids: Iterable[str]) -> None:
        ids = list(unique_ids)
        if ids:
            await asyncio.wrap_future(self.writer.submit(lambda tx: _set_stored(tx, ids)))

    def release(self, unique_ids: Iterable[str]) -> set[str]:
        """Delete these pending rows; return the hashes they pointed to."""
        ids = list(unique_ids)
        return self.writer.submit(lambda tx: _release(tx, ids)).result() if ids else set()

    async def release_async(self, unique_ids: Iterable[str]) -> set[str]:
        ids = list(unique_ids)
        return await asyncio.wrap_future(self.writer.submit(lambda tx: _release(tx, ids))) if ids else set()

    # -- ITI-86 -------------------------------------------------------------------------------------

    def remove_stored(self, unique_ids: Iterable[str]) -> dict[str, StoredDocument]:
        """Delete the stored rows of these uniqueIds in one transaction; the rows removed. From then on
        ITI-43 does not serve them; their blobs are removed after, when nothing else references them."""
        ids = list(dict.fromkeys(unique_ids))
        if not ids:
            return {}
        with self._write_lock, self.engine.begin() as conn:
            rows = {
                r.unique_id: _row(r)
                for r in conn.execute(select(documents).where(documents.c.unique_id.in_(ids), documents.c.state == STORED))
            }
            if rows:
                conn.execute(delete(documents).where(documents.c.unique_id.in_(list(rows)), documents.c.state == STORED))
        return rows

    # -- housekeeping -------------------------------------------------------------------------------

    def is_referenced(self, sha1: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(documents.c.unique_id).where(documents.c.sha1 == sha1.lower()).limit(1)).first() is not None

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
    return Reservation(tuple(inserted), ())


def _set_stored(tx: _Tx, ids: list[str]) -> None:
    Dbapi(tx.conn).execute(f"UPDATE repository_document SET state = ? WHERE unique_id IN ({in_list(len(ids))})",
                           [STORED, *ids])


def _release(tx: _Tx, ids: list[str]) -> set[str]:
    db = Dbapi(tx.conn)
    where = f"unique_id IN ({in_list(len(ids))}) AND state = ?"
    hashes = {r[0] for r in db.rows(f"SELECT sha1 FROM repository_document WHERE {where}", [*ids, PENDING])}
    db.execute(f"DELETE FROM repository_document WHERE {where}", [*ids, PENDING])
    return hashes
