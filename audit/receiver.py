"""The audit sink's syslog listeners: TLS (RFC 5425) and UDP (RFC 5426), on one asyncio loop (ITI TF-2a 3.20).

Listeners only receive: every frame or datagram goes onto a bounded queue with where it came from, and
one writer task drains the queue in batches, parses them and stores them in a worker thread (so parsing
and SQL never block the loop). A TLS reader waits when the queue is full (backpressure on the sender);
a UDP datagram that finds the queue full is counted as dropped, as UDP allows. Nothing a peer sends can
stop a listener: bad frames, bad syslog and bad XML become rejected records with the reason, and an
error on one connection closes that connection only. When the database fails, the writer keeps its batch
and retries it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audit.config import AuditSettings
from audit.record import AuditRecord, Rejected, read_message
from audit.store import AuditStore, Origin
from audit.tls import peer_subject, server_context
from xdscore import syslog

log = logging.getLogger("xds.audit.receiver")


@dataclass
class Stats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    udp_dropped: int = 0
    connections: int = 0


@dataclass(frozen=True)
class _Item:
    data: bytes
    origin: Origin
    problem: str | None = None  # set for framing garbage: stored as rejected without parsing


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: AuditReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.receiver._offer(_Item(data, Origin("udp", _peer(addr), datetime.now(UTC))))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP socket error: %s", exc)


@dataclass
class AuditReceiver:
    settings: AuditSettings
    store: AuditStore
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(self.settings.queue_size)
        self._servers: list[asyncio.base_events.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.tls_port: int | None = None
        self.udp_port: int | None = None
        self._stopping = False

    async def start(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        self._writer = asyncio.create_task(self._write_loop(), name="audit-writer")
        if s.tls_enabled:
            server = await asyncio.start_server(
                self._on_tls, s.host, s.tls_port, ssl=server_context(s), ssl_handshake_timeout=10
            )
            self._servers.append(server)
            self.tls_port = server.sockets[0].getsockname()[1]
        if s.udp_enabled:
            family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, s.udp_receive_buffer)
            sock.bind((s.host, s.udp_port))
            transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=sock)
            self._udp = transport
            self.udp_port = sock.getsockname()[1]
        log.info("audit sink listening: TLS %s:%s, UDP %s:%s", s.host, self.tls_port, s.host, self.udp_port)

    async def stop(self) -> None:
        """Stop listening, then store what was already received."""
        self._stopping = True
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        await self._queue.join()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    async def drained(self) -> None:
        """Wait until everything received so far is stored (tests, benchmarks)."""
        await self._queue.join()

    # --- listeners -----------------------------------------------------------------------------------

    def _offer(self, item: _Item) -> None:
        self.stats.received += 1
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.udp_dropped += 1
            if self.stats.udp_dropped == 1 or self.stats.udp_dropped % 1000 == 0:
                log.warning("audit sink queue full: %d UDP message(s) dropped so far", self.stats.udp_dropped)

    async def _on_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self.stats.connections += 1
        peer = _peer(writer.get_extra_info("peername"))
        try:
            await self._read_frames(reader, peer, peer_subject(writer.get_extra_info("peercert")))
        except asyncio.CancelledError:
            pass  # the sink is stopping
        finally:
            if task is not None:
                self._connections.discard(task)
            if self._stopping:
                writer.transport.abort()  # no TLS close_notify exchange: a silent peer would hold us 30 s
            else:
                writer.close()
                try:
                    await asyncio.wait_for(writer.wait_closed(), 5)
                except (TimeoutError, OSError, asyncio.CancelledError):
                    writer.transport.abort()

    async def _read_frames(self, reader: asyncio.StreamReader, peer: str, certificate: str | None) -> None:
        decoder = syslog.FrameDecoder(self.settings.max_message_bytes)
        ended = "closed"
        try:
            while data := await reader.read(65536):
                decoder.feed(data)
                while (event := decoder.next_event()) is not syslog.NEED_DATA:
                    origin = Origin("tls", peer, datetime.now(UTC), certificate)
                    self.stats.received += 1
                    if isinstance(event, syslog.Frame):
                        await self._queue.put(_Item(event.data, origin))
                    else:
                        await self._queue.put(_Item(event.data, origin, f"bad syslog frame: {event.reason}"))
        except (OSError, asyncio.IncompleteReadError) as exc:  # ssl.SSLError is an OSError
            ended = f"broken ({exc})"
            log.info("audit connection from %s ended: %s", peer, exc)
        if decoder.buffered:
            self.stats.received += 1
            reason = f"connection {ended} inside a frame ({decoder.buffered} bytes)"
            await self._queue.put(_Item(b"", Origin("tls", peer, datetime.now(UTC), certificate), reason))

    # --- writer --------------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        delay = 0.1
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.settings.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            while True:
                try:
                    await asyncio.to_thread(self._store, batch)
                    break
                except Exception:
                    log.exception("audit store failed; retrying a batch of %d in %.1fs", len(batch), delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
            delay = 0.1
            for _ in batch:
                self._queue.task_done()

    def _store(self, batch: list[_Item]) -> None:
        records: list[tuple[AuditRecord, Origin]] = []
        rejected: list[tuple[bytes, str, Origin]] = []
        for item in batch:
            if item.problem is not None:
                rejected.append((item.data, item.problem, item.origin))
                continue
            try:
                records.append((read_message(item.data, self.settings.max_message_bytes), item.origin))
            except Rejected as exc:
                rejected.append((item.data, str(exc), item.origin))
        new = self.store.add(records, rejected)
        self.stats.stored += new
        self.stats.duplicates += len(records) - new
        self.stats.rejected += len(rejected)
        if rejected:
            log.warning("audit sink rejected %d message(s), e.g. %s", len(rejected), rejected[0][1])
