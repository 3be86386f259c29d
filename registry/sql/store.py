"""The registry's SQL store: hands out read connections and write transactions.

The engine (pragmas, durability, pool) is every store's: `xdsservice.database`. The registry's SQL is
split by kind of work: `reads` (what the transactions look up),
`writes` (ITI-42 objects, ITI-8 patients), `merge` (the ITI-8 A40 rewrites), `lifecycle` (versions and
removals of ITI-57 / ITI-62), `queries` (the ITI-18 SQL).
`RegistryTx` gathers them on one write transaction.

A write transaction is serialized where it matters: SQLite takes the write lock at BEGIN (IMMEDIATE);
PostgreSQL takes transaction-scoped advisory locks on the uniqueIds and targets a submission touches, so
two concurrent submissions of one uniqueId cannot both pass the reuse check. Unique indexes stay as the
last line of defence, and their IntegrityError is translated to the IHE code at the boundary
(`registry.app`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from registry.sql import merge, patient_number, writes
from registry.sql.lifecycle import LifecycleReads, delete_objects
from registry.sql.reads import SqlReader
from registry.store import Changes
from xdscore.model import PatientKey
from xdsservice.database import advisory_locks_statement, make_engine, writing
from xdsservice.group_commit import GroupCommitter


class RegistryTx(SqlReader, LifecycleReads):
    """One write transaction: the reads of `SqlReader` and of the metadata lifecycle, and the writes."""

    # The patient number of a text key (registry.sql.patient_number), where a patient enters the registry:
    # a test gives another to force a collision.
    number: Callable[[str], int] = staticmethod(patient_number.number)

    def lock(self, keys: Iterable[str]) -> None:
        """Serialize concurrent writers on these keys (PostgreSQL; SQLite is already serialized), in one
        round trip, in one order (so two writers cannot wait on each other)."""
        statement = None if self.db.sqlite else advisory_locks_statement(keys)
        if statement is not None:
            with self.db.pipeline():  # psycopg's BEGIN goes in the same round trip (it waits for it otherwise)
                self.db.execute(*statement)

    def apply(self, changes: Changes, now: str) -> None:
        if changes.removed:  # ITI-62: before the inserts, in the same transaction
            delete_objects(self.conn, changes.removed, self.locator)
        writes.apply(self.conn, changes, now, self.locator)

    def save_patient(self, key: PatientKey, cx: str, demographics: dict[str, str], now: str) -> bool:
        return writes.save_patient(self.conn, key, cx, demographics, now, self.number)

    def merge_patient(self, subsumed: PatientKey, surviving: PatientKey, now: str) -> None:
        merge.merge_patient(self.conn, subsumed, surviving, now, self.number)


class SqlRegistry:
    """Owns the engine; hands out read or write transactions."""

    def __init__(self, url: str, number: Callable[[str], int] = patient_number.number) -> None:
        self.url = url
        self.number = number
        self.engine = make_engine(url)
        # SQLite has one writer at a time; waiting on an in-process lock instead of SQLite's busy handler
        # (which sleeps in growing steps) keeps the latency of concurrent submissions flat.
        self._sqlite_writer = threading.Lock() if self.engine.dialect.name == "sqlite" else None

    def migrate(self) -> None:
        from registry.sql.migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def write(self, lock_keys: Iterable[str] = ()) -> Iterator[RegistryTx]:
        if self._sqlite_writer is not None:
            self._sqlite_writer.acquire()
        try:
            with writing(self.engine) as conn:
                tx = RegistryTx(conn)
                tx.number = self.number
                tx.lock(lock_keys)
                yield tx
        finally:
            if self._sqlite_writer is not None:
                self._sqlite_writer.release()

    @contextmanager
    def read(self) -> Iterator[SqlReader]:
        if self.engine.dialect.name == "postgresql":
            # No BEGIN / COMMIT round trips: under READ COMMITTED each statement of a transaction sees
            # its own snapshot anyway, so autocommit reads see exactly what they saw inside one.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield SqlReader(conn)
            return
        with self.engine.connect() as conn, conn.begin():
            yield SqlReader(conn)

    def group_committer(self, writers: int | None = None) -> GroupCommitter[RegistryTx]:
        """The writer that runs ITI-42 jobs in shared durable commits (xdsservice.group_commit)."""
        return GroupCommitter(self.write, self.engine.dialect.name == "sqlite", "registry", writers=writers)

    def dispose(self) -> None:
        self.engine.dispose()
