"""The audit trail of one service process: facts of a transaction → DICOM audit messages → durable sender.

`AuditTrail(settings)` owns the process's `xdsservice.audit_sender.AuditSender` (the service's `audit_sender` settings,
`[audit_sender]` / XDS_AUDIT_SENDER_*; `transport = off` turns the trail off). `record(facts)` hands the
facts of a transaction to the trail's own thread and returns at once (a queue put, a few µs): that thread
builds the messages with `xdscore.audit_events` and puts them in the local spool, all the facts that
arrived meanwhile in one spool commit. So neither the message building nor the spool's SQLite commit runs
on a service's event loop (about 0.85 ms per request, during which no other connection was served), and
the cost of a commit is shared under load. Services call it from `SoapReply.after_send`, after the reply
has gone out. Woken by a fact, the thread waits `LINGER_SECONDS` (10 ms) for those that follow before it
builds and spools them. `close()` spools what is still queued before the sender stops; a process killed
outright loses the facts of its last 10-20 milliseconds that had not reached the spool (the spool commits
with fsync, `synchronous=FULL`; docs/audit.md gives the cost).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

from xdscore import audit_events as ae
from xdscore.vocabulary import ResponseStatus
from xdsservice.audit_sender import AuditSender, AuditSenderSettings

log = logging.getLogger("xds.audit.trail")

__all__ = ["AuditTrail", "ae"]

MAX_BATCH = 256  # facts built and spooled in one commit at most
# Once woken by a fact, the trail waits this long for the facts that follow it, then builds and spools them
# all in one commit. Woken once per fact, under load it spooled one or two at a time: a commit (fsync) and
# some four thread switches per transaction (issue 15). A process killed outright can lose this much more.
LINGER_SECONDS = 0.01
_STOP = object()


class AuditTrail:
    def __init__(self, settings: AuditSenderSettings) -> None:
        self.app_name = settings.app_name
        self.source = ae.AuditSource(f"pyxds-{settings.app_name}@{socket.gethostname()}")
        self.sender: AuditSender | None = None if settings.transport == "off" else AuditSender(settings)
        self.pid = str(os.getpid())
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.commits = 0  # spool commits made (each holds the facts that came within a linger)

    def server(self, endpoint: str) -> ae.Node:
        host = endpoint.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        return ae.Node(user_id=endpoint, address=host, process_id=self.pid)

    @staticmethod
    def client(context: Any) -> ae.Node:
        """The SOAP client: its wsa:ReplyTo (else From) address and network address."""
        return ae.Node(user_id=getattr(context, "reply_to", "") or "", address=getattr(context, "client_host", "") or "")

    def soap_facts(
        self,
        transaction: ae.Transaction,
        context: Any,
        status: ResponseStatus | str,
        **facts: Any,
    ) -> ae.AuditFacts:
        status = status if isinstance(status, ResponseStatus) else ResponseStatus(status)
        return ae.AuditFacts(
            transaction=transaction,
            event_time=datetime.now(UTC),
            outcome=ae.EventOutcome.of_response(status),
            client=self.client(context),
            server=self.server(context.endpoint),
            audit_source=self.source,
            principal=getattr(context, "principal", None),
            **facts,
        )

    def record(self, facts: ae.AuditFacts) -> None:
        """Queue the facts for the trail's thread, which builds and spools their messages (never raises,
        never waits: a broken audit must not break a transaction, nor slow its answer)."""
        if self.sender is None:
            return
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=f"audit-trail-{self.app_name}", daemon=True)
                    self._thread.start()
        self._queue.put(facts)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            if batch[0] is not _STOP and not isinstance(batch[0], threading.Event):
                time.sleep(LINGER_SECONDS)  # the facts put meanwhile wake nobody
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(f is _STOP for f in batch)
            self._spool([f for f in batch if isinstance(f, ae.AuditFacts)])
            for f in batch:
                if isinstance(f, threading.Event):  # drain(): everything queued before it is spooled
                    f.set()
            if stop:
                return

    def _spool(self, batch: list[ae.AuditFacts]) -> None:
        assert self.sender is not None
        messages: list[bytes] = []
        for facts in batch:
            try:
                messages += ae.build(facts)
            except Exception:
                log.exception("audit of %s could not be built", facts.transaction.value)
        try:
            self.sender.emit_all(messages)
            self.commits += 1
        except Exception:
            log.exception("%d audit message(s) could not be spooled", len(messages))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every fact recorded so far is spooled (tests, shutdown); False on timeout."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        """Spool what is queued, then stop the sender."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(30)
        if self.sender is not None:
            self.sender.close()
