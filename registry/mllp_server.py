"""The ITI-8 MLLP listener: asyncio TCP server, one task per connection (I/O only).

Each framed message is interpreted and applied on the feed's own worker threads (`workers`, default one:
interpreting and SQL are blocking), never on the default executor where the SOAP handlers run, so feed
traffic cannot delay a query by taking its threads; the ACK goes back on the same connection. Interpreting
is linear in the message (`registry.patient_feed`, at most `max_segments` segments), so no message holds
the worker for long; a connection that stalls, or never reads its ACKs, holds only its own task. Nothing a client
sends can stop the listener: every failure becomes an AE/AR ACK (a frame over `max_message_bytes` is
skipped without being held in memory and answered AR, ERR 207, built from the MSH in its first
`head_bytes`), or at worst a closed
connection. A connection that sends nothing for `idle_timeout` seconds is closed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from registry import patient_feed
from registry.sql.patient_number import PatientNumberCollision
from registry.sql.store import SqlRegistry
from xdscore import mllp

log = logging.getLogger("xds.registry.feed")


class FeedServer:
    def __init__(
        self,
        store: SqlRegistry,
        host: str,
        port: int,
        now: Callable[[], str],
        affinity_domain: str = "",
        on_applied: Callable[[patient_feed.FeedDecision, str], None] | None = None,
        *,
        max_message_bytes: int = mllp.DEFAULT_MAX_FRAME,
        idle_timeout: float = 300.0,
        workers: int = 1,
        max_segments: int = patient_feed.MAX_SEGMENTS,
        max_patient_segments: int = patient_feed.MAX_PATIENT_SEGMENTS,
        max_segment_chars: int = patient_feed.MAX_SEGMENT,
        head_bytes: int = mllp.HEAD_BYTES,
    ) -> None:
        self.store = store
        self.max_segments = max_segments
        self.max_patient_segments = max_patient_segments
        self.max_segment_chars = max_segment_chars
        self.head_bytes = head_bytes  # kept of an oversized frame, to read the MSH its ACK echoes
        self.max_message_bytes = max_message_bytes
        self.idle_timeout = idle_timeout
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="iti8-feed")
        self.host = host
        self.port = port
        self.now = now
        self.affinity_domain = affinity_domain
        self.on_applied = on_applied
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("ITI-8 MLLP listener on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def refuse_oversized(self, event: mllp.Oversized) -> bytes:
        """The AR of a frame too large to read: its MSH (from the frame's head) gives what the ACK echoes."""
        decision = patient_feed.header_only(event.head.decode("latin-1"))
        reason = f"message of {event.size} bytes is larger than the limit of {self.max_message_bytes} bytes"
        log.warning("ITI-8 message %s refused: %s", decision.control_id or "?", reason)
        decision.error = patient_feed.APPLICATION_INTERNAL_ERROR  # table 0357 of v2.5 has no "too long"
        return patient_feed.ack(decision, self.now(), uuid.uuid4().hex[:20], "AR", reason).encode()

    def handle(self, payload: bytes, peer: str = "") -> bytes:
        """One framed message in, one ACK out (runs in a worker thread); `peer` is the sender's address."""
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = payload.decode("latin-1")
        now = self.now()
        decision = patient_feed.interpret(text, self.affinity_domain, self.max_segments, self.max_patient_segments,
                                          self.max_segment_chars)
        ack_id = uuid.uuid4().hex[:20]
        if decision.reject is not None:
            code, reason = decision.reject
            log.warning("ITI-8 message %s refused (%s): %s", decision.control_id, code, reason)
            return patient_feed.ack(decision, now, ack_id, code, reason).encode()
        try:
            with self.store.write() as tx:
                patient_feed.apply(decision, tx, now)
        except PatientNumberCollision as exc:  # never store two patients under one key (registry.sql.patient_number)
            log.error("ITI-8 message %s refused, patient not stored: %s; an operator must settle it", decision.control_id, exc)
            return patient_feed.ack(decision, now, ack_id, "AE", f"not stored: {exc}").encode()
        except Exception as exc:  # the sender must learn the message was not applied
            log.exception("ITI-8 message %s could not be stored", decision.control_id)
            return patient_feed.ack(decision, now, ack_id, "AE", f"not stored: {type(exc).__name__}").encode()
        if self.on_applied is not None:
            try:
                self.on_applied(decision, peer)
            except Exception:
                log.exception("ITI-8 after-apply hook failed")
        return patient_feed.ack(decision, now, ack_id).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = mllp.MllpReader(self.max_message_bytes, self.head_bytes)
        peer = (writer.get_extra_info("peername") or ("",))[0]
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
                if not data:
                    break
                for event in framer.feed(data):
                    if isinstance(event, mllp.Oversized):
                        reply = self.refuse_oversized(event)
                    else:
                        reply = await loop.run_in_executor(self._executor, self.handle, event.payload, peer)
                    writer.write(mllp.frame(reply))
                    await writer.drain()
        except TimeoutError:
            log.info("ITI-8 connection from %s closed: nothing received for %gs", peer, self.idle_timeout)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # one connection's failure never stops the listener
            if writer.is_closing():  # the peer left before its ACK was written (uvloop: RuntimeError)
                log.info("ITI-8 connection from %s closed before its ACK could be sent", peer)
            else:
                log.exception("ITI-8 connection failed")
        finally:
            writer.close()
