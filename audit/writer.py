"""The audit sink's write loop: every received message ends as one stored event or one stored rejection
(ITI TF-2a 3.20 Audit Record Repository; the DMP access trace is a patient's legal right, so it must not
stop because of one message).

Theory of operation. The listeners (`audit.receiver`) put `Item`s on a bounded asyncio queue. One
`Writer` task takes them in batches and runs `store_batch` on its own store thread (a daemon thread:
a database call that hangs can never keep the process from exiting):

1. Reading. `audit.record.read_message` validates and bounds every value. Any exception while reading a
   message, expected (`Rejected`) or not (a bug, a library error on hostile input), makes that message
   a rejection with the reason.
2. Storing. The batch goes in one transaction. If that fails, it is stored message by message: a message
   whose insert fails is stored as a rejection instead, the error as its reason (when the error looks like
   the database's, only if the database then takes a write, `store.ping`, and the message fails again); if even that row (the
   bytes and a short text) cannot be stored, the database itself is the problem, and `Unavailable` says
   how many messages of the batch are done. A first failure that looks like the database (a lost
   connection, a lock) skips the one-by-one pass until `ISOLATE_AFTER` attempts of the same batch have
   failed, so a locked or restarting database does not turn good messages into rejections.
3. The loop keeps what is not done, waits (0.1 s doubling to 10 s) and tries again. An exception that
   escapes `store_batch` itself (a bug here) is caught by the loop as well; after two of those in a row
   the held messages are stored as bare rejections (`reject_all`). Nothing a peer sends can stop the loop.

Stored messages then get their acknowledgement (`Item.receipt`, TLS senders that asked for one) and their
rows in the pending file (`audit.pending`) are deleted.

The database down. A sink starts whatever its database does: the loop's first step is `store.prepare()`
(migrations), retried with back-off (0.1 s doubling to 10 s) until it succeeds. While the database cannot
be used (not prepared yet, or a batch failed on it), the messages held and everything that arrives are
moved to the pending file, durably, and acknowledged (so the queue never fills and TLS senders are not
held up); the held batch is retried at each step of the back-off. Once the database answers, the pending
file is stored in batches, alternating with what arrives. So nothing received is lost or kept only in
memory, and a restart during the outage finds it all in the pending file. A database that does not
answer (a lock held elsewhere, a network that drops packets: the call hangs rather than fails) is treated
the same way once a call has taken `SPOOL_AFTER` seconds: the batch held and what arrives are kept in the
pending file and acknowledged while the call goes on.

`status()` feeds `/health`: state (idle, storing, database unavailable), backlog (queue + held + pending
file), last stored, last error, and `stalled` when messages wait and nothing was stored for
`stall_seconds`. `stop(grace)` lets the loop store what it holds for `grace` seconds, then writes the rest
to the pending file.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exc as sa_exc

from audit.pending import PendingFile
from audit.record import AuditRecord, Rejected, read_message
from audit.store import AuditStore, Origin

log = logging.getLogger("xds.audit.writer")

ISOLATE_AFTER = 3  # failed attempts of one batch before it is stored message by message whatever the error
MAX_DELAY = 10.0
FIRST_ATTEMPT_WAIT = 10.0  # seconds the sink's start waits for the database's first answer before it serves anyway
SPOOL_AFTER = 2.0  # seconds a store call may take before what it holds and what arrives go to the pending file


@dataclass(frozen=True)
class Item:
    """One received message on its way to the store."""

    data: bytes
    origin: Origin
    problem: str | None = None  # set for framing garbage: stored as rejected without parsing
    receipt: Callable[[], None] | None = None  # called on the loop once the message is kept durably (TLS acks)
    pending_id: int | None = None  # its row in the pending file, once it is there


@dataclass
class Counts:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        return self


class Unavailable(Exception):
    """The database refused even a bare rejection row: `done` messages of the batch were stored."""

    def __init__(self, done: int, counts: Counts, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.done = done
        self.counts = counts
        self.cause = cause


# Errors that say "the database", not "this message": retried before any message is blamed.
_DATABASE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                    sa_exc.TimeoutError, OSError)


def describe(exc: BaseException, limit: int = 500) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + "..."


def _read(item: Item, max_bytes: int) -> AuditRecord | str:
    """The record, or the reason it is rejected."""
    if item.problem is not None:
        return item.problem
    try:
        return read_message(item.data, max_bytes)
    except Rejected as exc:
        return str(exc)
    except Exception as exc:  # a library error on hostile input, or a bug: this message only
        log.exception("audit message from %s could not be read", item.origin.peer)
        return f"message could not be read ({describe(exc)})"


def _store_one(store: AuditStore, item: Item, entry: AuditRecord | str) -> Counts:
    records = [] if isinstance(entry, str) else [(entry, item.origin)]
    rejected = [(item.data, entry, item.origin)] if isinstance(entry, str) else []
    try:
        events, rejections = store.add_counted(records, rejected)
    except sa_exc.IntegrityError:  # another sink stored the same message meanwhile: its digest is there now
        events, rejections = store.add_counted(records, rejected)
    return Counts(stored=events, duplicates=1 - events - rejections, rejected=rejections)


def store_batch(store: AuditStore, items: list[Item], max_bytes: int, pending: PendingFile | None = None,
                isolate: bool = False) -> Counts:
    """Store `items`; see the module docstring. Raises `Unavailable` when the database is the problem."""
    entries = [_read(item, max_bytes) for item in items]
    try:
        records = [(e, i.origin) for i, e in zip(items, entries, strict=True) if not isinstance(e, str)]
        rejected = [(i.data, e, i.origin) for i, e in zip(items, entries, strict=True) if isinstance(e, str)]
        new, kept = store.add_counted(records, rejected)
        counts = Counts(new, len(records) - new + len(rejected) - kept, kept)
    except Exception as exc:
        if not isolate and isinstance(exc, _DATABASE_ERRORS):
            raise Unavailable(0, Counts(), exc) from exc
        log.warning("audit batch of %d could not be stored (%s); storing its messages one by one",
                    len(items), describe(exc))
        counts = Counts()
        for n, (item, entry) in enumerate(zip(items, entries, strict=True)):
            try:
                counts += _store_one(store, item, entry)
                continue
            except Exception as error:  # noqa: BLE001 - logged below, with what became of the message
                failure = error
            if isinstance(failure, _DATABASE_ERRORS):
                # The database or this message? Ask the database (can it take a write now?), then try the
                # message once more: a database that went away, or came back, mid-batch blames no message.
                try:
                    store.ping()
                except Exception as down:
                    _forget(pending, items[:n])
                    raise Unavailable(n, counts, down) from down
                try:
                    counts += _store_one(store, item, entry)
                    continue
                except Exception as error:  # noqa: BLE001 - the same message fails with the database up
                    failure = error
            try:
                kept = store.add_counted([], [(item.data, f"could not be stored ({describe(failure)})", item.origin)])[1]
            except Exception as exc2:
                _forget(pending, items[:n])
                raise Unavailable(n, counts, exc2) from exc2
            log.error("audit message from %s stored as rejected: %s", item.origin.peer, describe(failure))
            counts.rejected += kept
            counts.duplicates += 1 - kept
    _forget(pending, items)
    return counts


def reject_all(store: AuditStore, items: list[Item], reason: str, pending: PendingFile | None = None) -> Counts:
    """The last resort: each message as a bare rejection with `reason`, in one transaction."""
    kept = store.add_counted([], [(item.data, reason, item.origin) for item in items])[1]
    _forget(pending, items)
    return Counts(rejected=kept, duplicates=len(items) - kept)


def _forget(pending: PendingFile | None, items: list[Item]) -> None:
    ids = [item.pending_id for item in items if item.pending_id is not None]
    if pending is not None and ids:
        try:
            pending.delete(ids)
        except Exception:  # they will be stored again at the next start: events are de-duplicated
            log.exception("could not delete %d stored message(s) from the pending file", len(ids))


class _StoreThread:
    """One daemon thread that runs store calls in order and hands results back to the asyncio loop."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return future

    def close(self) -> None:
        self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # noqa: BLE001 - handed to the loop, which decides
                result, error = None, exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop is closed: the sink stopped without waiting for us
                return


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@dataclass
class Writer:
    store: AuditStore
    max_message_bytes: int
    batch_size: int = 500
    queue_size: int = 20000
    stall_seconds: float = 30.0
    pending: PendingFile | None = None
    totals: Counts = field(default_factory=Counts)
    prepared: bool = True  # False: the store's schema must be brought to head first (store.prepare)
    linger: float = 0.0  # seconds a batch that is not full waits for more (AuditSettings.batch_linger)

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(self.queue_size)
        self._held: list[Item] = []
        self._thread = _StoreThread("audit-store")
        self._task: asyncio.Task[None] | None = None
        self._progress = time.monotonic()
        self.state = "idle"
        self.last_stored_at: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.pending_rows = 0  # rows in the pending file not yet stored
        self._pending_after = 0  # highest pending row id taken into a batch
        self._from_pending = False  # the next batch alternates between the pending file and the queue
        self.first_attempt = asyncio.Event()  # set once the database answered (or failed) for the first time

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    @property
    def backlog(self) -> int:
        """Messages received and not yet stored (in memory or in the pending file)."""
        return self.queue.qsize() + sum(1 for item in self._held if item.pending_id is None) + self.pending_rows

    @property
    def unavailable(self) -> bool:
        return self.state == "database unavailable"

    def status(self) -> dict[str, Any]:
        backlog = self.backlog
        waiting = time.monotonic() - self._progress if backlog else 0.0
        return {
            "state": self.state,
            "backlog": backlog,
            "pending_file": self.pending_rows,
            "stalled": backlog > 0 and waiting > self.stall_seconds,
            "seconds_without_progress": round(waiting, 1),
            "last_stored_at": self.last_stored_at.isoformat() if self.last_stored_at else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
        }

    async def _run(self) -> None:
        if self.pending is not None:
            self.pending_rows = await asyncio.to_thread(self.pending.count)
        delay = 0.1
        while not self.prepared:
            try:
                await self._call(self.store.prepare)
                self.prepared = True
                if self.last_error is not None:
                    log.info("audit database reachable again: storing the %d message(s) received meanwhile",
                             self.backlog)
            except Exception as exc:  # noqa: BLE001 - unreachable, refused, anything: retried, never fatal
                self._failed(exc, "cannot be prepared")
                self.first_attempt.set()
                await self._spool_for(delay)
                delay = min(delay * 2, MAX_DELAY)
        self.first_attempt.set()
        await self._store_loop()

    def _failed(self, exc: BaseException, what: str) -> None:
        self.last_error, self.last_error_at = describe(exc), datetime.now(UTC)
        self.state = "database unavailable"
        log.warning("audit database %s (%s); %d message(s) kept, retrying", what, self.last_error, self.backlog)

    async def _next_batch(self) -> list[Item]:
        """The next batch: from the pending file or the queue, in turn while both hold messages."""
        if self.pending is not None and self.pending_rows and (self._from_pending or self.queue.empty()):
            self._from_pending = False
            rows = await asyncio.to_thread(self.pending.load, self._pending_after, self.batch_size)
            if rows:
                self._pending_after = rows[-1][0]
                return [Item(data, origin, problem, pending_id=row_id) for row_id, data, origin, problem in rows]
            self.pending_rows = 0  # the count was off (rows deleted by an earlier run): nothing is left
        self._from_pending = True
        batch = [await self.queue.get()]
        if self.linger and self.queue.qsize() + 1 < self.batch_size:
            await asyncio.sleep(self.linger)  # more arrive meanwhile: one commit for all (issue 15)
        while len(batch) < self.batch_size and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    async def _store_loop(self) -> None:
        delay, failures, escapes = 0.1, 0, 0
        while True:
            if not self._held:
                self.state = "idle"
                self._held = await self._next_batch()
                self._progress = time.monotonic()  # a stall is measured from when work is waiting
                delay, failures, escapes = 0.1, 0, 0
            if not self.unavailable:
                self.state = "storing"
            held = list(self._held)
            try:
                if escapes >= 2:
                    reason = f"stored as a bare rejection after the store step failed ({self.last_error})"
                    counts = await self._call(reject_all, self.store, held, reason, self.pending)
                else:
                    counts = await self._call(store_batch, self.store, held, self.max_message_bytes,
                                              self.pending, failures >= ISOLATE_AFTER - 1)
                await self._finish(held, len(held), counts)
                if self.unavailable:
                    log.info("audit database reachable again: %d message(s) to store", self.backlog)
                self.state = "storing"
                continue
            except Unavailable as exc:
                await self._finish(held, exc.done, exc.counts)
                self._failed(exc.cause, "unavailable")
            except Exception as exc:  # escaped the store step: a bug, never a reason to stop storing
                log.exception("audit store step failed on a batch of %d", len(held))
                escapes += 1
                self.last_error, self.last_error_at = describe(exc), datetime.now(UTC)
            failures += 1
            await self._keep(self._held)
            await self._spool_for(delay)
            delay = min(delay * 2, MAX_DELAY)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store call on the store thread. Once it has taken `SPOOL_AFTER` seconds (the database does
        not answer), the batch held and what arrives are kept in the pending file while it goes on."""
        future = self._thread.run(fn, *args)
        loop = asyncio.get_running_loop()
        slow_at = loop.time() + SPOOL_AFTER
        told = False
        while True:
            done, _ = await asyncio.wait({future}, timeout=max(0.05, slow_at - loop.time()))
            if done:
                return future.result()
            if self.pending is None or loop.time() < slow_at:
                continue
            if not told:
                told = True
                log.warning("audit database has not answered for %gs: keeping what is held and what arrives in %s",
                            SPOOL_AFTER, self.pending.path)
            batch = []
            while len(batch) < self.batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            if not await self._keep(self._held) or (batch and not await self._keep(batch)):
                self._held.extend(batch)  # the pending file fails too: they wait in memory, with the batch held
                slow_at = float("inf")

    async def _finish(self, held: list[Item], n: int, counts: Counts) -> None:
        """The first `n` messages of the batch `held` are stored. Those kept in the pending file while the
        call ran (`_call`) have rows the store step did not know of: they are deleted here."""
        late = [new.pending_id for old, new in zip(held[:n], self._held[:n], strict=True)
                if old.pending_id is None and new.pending_id is not None]
        self._done(n, counts)
        if late and self.pending is not None:
            try:
                await asyncio.to_thread(self.pending.delete, late)
            except Exception:  # stored again from the pending file later: kept once by digest
                log.exception("could not delete %d stored message(s) from the pending file", len(late))

    async def _keep(self, items: list[Item]) -> bool:
        """Put the items not yet there in the pending file and acknowledge them; False if the file failed."""
        new = [n for n, item in enumerate(items) if item.pending_id is None]
        if not new:
            return True
        if self.pending is None:
            return False
        try:
            ids = await asyncio.to_thread(self.pending.put, [(items[n].data, items[n].origin, items[n].problem)
                                                             for n in new])
        except Exception:
            log.exception("audit sink could not keep %d message(s) in the pending file; they stay in memory", len(new))
            return False
        self.pending_rows += len(ids)
        for n, row_id in zip(new, ids, strict=True):
            item = items[n]
            items[n] = replace(item, pending_id=row_id, receipt=None)
            self._settle(item)
        return True

    async def _spool_for(self, seconds: float) -> None:
        """While the database cannot be used: move what arrives to the pending file for `seconds`."""
        if self.pending is None:  # nowhere to put it: the queue fills and slows the senders down
            await asyncio.sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                first = await asyncio.wait_for(self.queue.get(), left)
            except TimeoutError:
                return
            batch = [first]
            while len(batch) < self.batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            if not await self._keep(batch):
                self._held.extend(batch)  # stored with the held batch once the database is back
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                return

    def _settle(self, item: Item) -> None:
        """A message that came through the queue is safe (stored, or in the pending file): count it done
        there and acknowledge it. Once per message."""
        self.queue.task_done()
        if item.receipt is not None:
            try:
                item.receipt()
            except Exception:  # the connection went away: its sender will resend, the store keeps it once
                log.debug("acknowledgement not sent", exc_info=True)

    def _done(self, n: int, counts: Counts) -> None:
        if not n:
            return
        done, self._held = self._held[:n], self._held[n:]
        self.totals += counts
        self._progress = time.monotonic()
        self.last_stored_at = datetime.now(UTC)
        if counts.rejected:
            log.warning("audit sink rejected %d message(s); see /rejected", counts.rejected)
        for item in done:
            if item.pending_id is None:
                self._settle(item)
            else:
                self.pending_rows = max(0, self.pending_rows - 1)

    async def stop(self, grace: float) -> int:
        """Store what is held for up to `grace` seconds, then keep the rest in the pending file.

        Returns how many messages went to the pending file."""
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(self.queue.join(), grace)
            except TimeoutError:
                pass
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        left, self._held = self._held, []
        while not self.queue.empty():
            left.append(self.queue.get_nowait())
        self._thread.close()
        new = [(item.data, item.origin, item.problem) for item in left if item.pending_id is None]
        for item in left:
            if item.pending_id is None:
                self.queue.task_done()
        if not new:
            return 0
        if self.pending is None:
            log.error("audit sink stopped with %d message(s) not stored and no pending file: they are lost", len(new))
            return 0
        try:
            kept = len(await asyncio.to_thread(self.pending.put, new))
        except Exception:
            log.exception("audit sink could not keep %d message(s) in %s: they are lost", len(new), self.pending.path)
            return 0
        log.warning("audit sink stopped with %d message(s) not stored; kept in %s for the next start",
                    kept, self.pending.path)
        return kept
