"""Group commit: the write transactions of concurrent requests share one durable commit.

A registration is acknowledged only once it is on disk, and a durable commit costs an fsync (SQLite WAL
with `synchronous=FULL`) or a WAL flush (PostgreSQL): milliseconds, during which a single writer does
nothing else. So one writer thread per process takes every job waiting in its queue, runs them one after
the other in one database transaction, and commits them with one sync; the requests that arrived during
that sync form the next batch. Under load the cost of the sync is shared by the whole batch; alone, a
job still commits at once (nothing waits for a batch to fill).

Used by the registry (ITI-42 registrations, `registry.app`) and the repository (its document rows,
`repository.store`); each store passes how it opens one write transaction (`transaction(lock_keys)`, a
context manager giving an object with the SQLAlchemy `conn` of the transaction: the registry's
`RegistryTx`, the repository's connection holder).

Theory of operation. Each job is a function of the write transaction: it reads, checks and writes, and
returns its outcome (a rejected ITI-42 returns its violations and writes nothing). Jobs
run in order, each inside its own SAVEPOINT, so a later job sees what the earlier ones wrote (two
submissions of one uniqueId in one batch: the second is a resubmission or a conflict, as if they had
come one after the other), and a job that raises is rolled back to its savepoint alone: its request
gets the exception, its neighbours are untouched. A job's result is handed to its request only after
the COMMIT of its batch returned. If BEGIN or COMMIT fails (disk full, database locked by another
process too long, a serialization failure), the batch's jobs are run again each in a transaction of
its own, so each gets its own all-or-nothing outcome; none is reported before it is durable.
PostgreSQL: the advisory locks of every job of a batch are taken at its start, in one sorted order, so
two registry processes committing batches on one database do not deadlock on them. They can still deadlock
on locks the database takes itself: on Citus a batch's inserts into tables distributed by identifier
(`registry_ids`) lock shards in the order the jobs come, and two writers' batches meet in opposite orders
(measured at 10^7 entries: 23 deadlocks in 45 s of 8-client ITI-42, each an error answer). A job whose
transaction was chosen as a deadlock victim or failed to serialize (SQLSTATE 40P01 / 40001) has written
nothing, so it is run again alone, up to `RETRIES` times after a short random pause, before its error is
its answer. SQLite writers of the
process already queue on the store's lock; other processes wait in SQLite's busy handler.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection

log = logging.getLogger("xds.writer")

T = TypeVar("T")
MAX_BATCH = 128  # bounds one transaction's size and the time a late job of a batch waits
# Two: one batch runs while the other waits on its round trips. Four cost more CPU per registration in
# smaller batches and GIL hand-offs (registry 3.1-3.2 -> 2.6-3.0 ms, PostgreSQL 1.4 -> 1.2-1.3 ms with two,
# at the same or a higher rate; one writer leaves the server idle during each round trip: issue 15).
PG_WRITERS = 2
# Deadlock victims and serialization failures: the transaction is rolled back whole, so running the job again is
# safe; the pause (up to 20 ms, random) lets the other transaction finish first.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRIES = 3


def retryable(exc: BaseException) -> bool:
    """A deadlock victim or a serialization failure (SQLAlchemy wraps the driver's error in `.orig`)."""
    driver_error = getattr(exc, "orig", None) or exc
    return getattr(driver_error, "sqlstate", None) in RETRYABLE_SQLSTATES


class WriteTx(Protocol):
    @property
    def conn(self) -> Connection: ...


Tx = TypeVar("Tx", bound=WriteTx)


@dataclass
class Job(Generic[T]):
    work: Callable[[Any], T]
    lock_keys: tuple[str, ...]
    future: Future[T] = field(default_factory=Future)
    result: Any = None
    error: BaseException | None = None


class _Stop:
    pass


class GroupCommitter(Generic[Tx]):
    """`submit(work, lock_keys)` → a Future of `work(tx)`'s result, set once it is committed."""

    def __init__(self, transaction: Callable[[Sequence[str]], AbstractContextManager[Tx]], sqlite: bool, name: str,
                 max_batch: int = MAX_BATCH, writers: int | None = None) -> None:
        self.transaction = transaction
        self.name = name
        self.max_batch = max_batch
        # SQLite has one writer at a time. PostgreSQL runs transactions side by side, and a job there
        # waits on several round trips: a second writer keeps the server busy while one waits (and
        # PostgreSQL groups their WAL flushes itself).
        self.writers = writers or (1 if sqlite else PG_WRITERS)
        self.sqlite = sqlite
        self._queue: queue.SimpleQueue[Job[Any] | _Stop] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._closed = False
        self.batches = 0  # committed batches and jobs, for tests and benchmarks (approximate with several writers)
        self.jobs = 0

    def submit(self, work: Callable[[Tx], T], lock_keys: Iterable[str] = ()) -> Future[T]:
        if self._closed:
            raise RuntimeError(f"the {self.name} writer is closed")
        if not self._threads:
            with self._start_lock:
                if not self._threads:
                    self._threads = [threading.Thread(target=self._run, name=f"{self.name}-writer-{n}", daemon=True)
                                     for n in range(self.writers)]
                    for thread in self._threads:
                        thread.start()
        job: Job[T] = Job(work, tuple(lock_keys))
        self._queue.put(job)
        return job.future

    def close(self, timeout: float = 30.0) -> None:
        """Finish the jobs already submitted, then stop the thread."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(_Stop())
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if isinstance(first, _Stop):
                return
            batch: list[Job[Any]] = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(more, _Stop):
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[Job[Any]]) -> None:
        # A request abandoned while queued (client gone, its coroutine cancelled) is not run; once running
        # a job can no longer be cancelled, so every result below can be set.
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            self._run_in_one_transaction(batch)
        except Exception as exc:  # noqa: BLE001 - BEGIN or COMMIT failed: nothing of the batch is stored
            if len(batch) == 1:
                batch[0].error = exc
            else:
                log.warning("a batch of %d writes failed to commit (%s); running them one by one", len(batch), exc)
                for job in batch:
                    job.result, job.error = None, None
                    try:
                        self._run_in_one_transaction([job])
                    except Exception as one:  # noqa: BLE001 - this job's answer
                        job.error = one
        else:
            self.batches += 1
            self.jobs += len(batch)
        for job in batch:
            self._retry(job)
        for job in batch:
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.result)

    def _retry(self, job: Job[Any]) -> None:
        """Run a job that lost a deadlock or a serialization race again, alone (its writes were rolled back)."""
        for attempt in range(1, RETRIES + 1):
            if job.error is None or not retryable(job.error):
                return
            log.info("%s writer: %s; running the job again (%d/%d)", self.name,
                     str(getattr(job.error, "orig", job.error)).splitlines()[0], attempt, RETRIES)
            time.sleep(random.uniform(0, 0.02))
            job.result, job.error = None, None
            try:
                self._run_in_one_transaction([job])
            except Exception as exc:  # noqa: BLE001 - this job's answer, unless retried again
                job.error = exc

    def _run_in_one_transaction(self, batch: list[Job[Any]]) -> None:
        keys = [k for job in batch for k in job.lock_keys]
        with self.transaction(keys) as tx:
            if len(batch) == 1:  # the transaction is the job's: what it raises rolls it back
                batch[0].result = batch[0].work(tx)
                return
            driver = tx.conn.connection.driver_connection  # sqlite3 and psycopg connections both .execute()
            assert driver is not None
            for n, job in enumerate(batch):
                # PostgreSQL: the previous job's RELEASE rides in the round trip of this one's SAVEPOINT (a
                # parameterless string goes as one simple query), and COMMIT releases the last one.
                driver.execute("RELEASE SAVEPOINT job; SAVEPOINT job" if n and not self.sqlite else "SAVEPOINT job")
                try:
                    job.result = job.work(tx)
                except Exception as exc:  # noqa: BLE001 - this job alone is undone; the batch goes on
                    driver.execute("ROLLBACK TO SAVEPOINT job")
                    job.error = exc
                if self.sqlite:
                    driver.execute("RELEASE SAVEPOINT job")
