"""The audit sink's syslog listeners: TLS (RFC 5425) and UDP (RFC 5426), on one asyncio loop (ITI TF-2a 3.20).

Listeners only receive: every frame or datagram goes onto the writer's bounded queue with where it came
from, and the write loop (`audit.writer`) stores it as an event or as a rejection, whatever it holds. A
TLS reader waits when the queue is full (backpressure on the sender); a UDP datagram that finds the queue
full is counted as dropped, as UDP allows. Nothing a peer sends can stop a listener: bad frames, bad
syslog and bad XML become rejected records with the reason, and an error on one connection closes that
connection only. A TLS sender that negotiated acknowledgements (`xdscore.syslog_ack`, ALPN) is told, on its
connection, how many of its frames are durably kept (stored, or in the pending file while the database is
unavailable: `audit.writer`); it deletes nothing from its spool before that. The listeners start whatever
the database does, so nothing sent to a sink whose database is down is refused.
Connections that send nothing for `idle_timeout` seconds are closed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit.config import AuditSettings
from audit.pending import FILE_NAME, PendingFile
from audit.store import AuditStore, Origin
from audit.tls import peer_subject, server_context
from audit.writer import FIRST_ATTEMPT_WAIT, Item, Writer
from xdscore import syslog
from xdscore import syslog_ack as ack

log = logging.getLogger("xds.audit.receiver")


@dataclass
class Stats:
    received: int = 0
    udp_dropped: int = 0
    connections: int = 0


class _Acks:
    """The acknowledgements of one TLS connection: a receipt per frame, one `ack n` line per stored batch."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.received = self.stored = self.sent = 0
        self._scheduled = False

    def receipt(self) -> functools.partial[None]:
        self.received += 1
        return functools.partial(self._stored, self.received)

    def _stored(self, seq: int) -> None:
        self.stored = max(self.stored, seq)
        if not self._scheduled:  # one line for all the receipts of a batch
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self.stored > self.sent and not self.writer.is_closing():
            self.writer.write(ack.encode(self.stored))
            self.sent = self.stored


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: AuditReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.receiver._offer(Item(data, Origin("udp", _peer(addr), datetime.now(UTC))))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP socket error: %s", exc)


@dataclass
class AuditReceiver:
    settings: AuditSettings
    store: AuditStore
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        s = self.settings
        self.pending = PendingFile(Path(s.data_dir) / FILE_NAME)
        self.writer = Writer(self.store, s.max_message_bytes, s.batch_size, s.queue_size, s.stall_seconds, self.pending,
                             prepared=False, linger=s.batch_linger)
        self._servers: list[asyncio.base_events.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.tls_port: int | None = None
        self.udp_port: int | None = None
        self._stopping = False

    async def start(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        self.writer.start()  # it prepares the database, then stores what an earlier run left in pending.db
        try:
            await asyncio.wait_for(self.writer.first_attempt.wait(), FIRST_ATTEMPT_WAIT)
        except TimeoutError:
            log.warning("audit database has not answered in %gs: receiving into the pending file meanwhile",
                        FIRST_ATTEMPT_WAIT)
        if self.writer.unavailable:
            log.error("audit database unavailable at start (%s): receiving into %s until it is back",
                      self.writer.last_error, self.pending.path)
        elif self.writer.pending_rows:
            log.info("audit sink: %d message(s) kept in the pending file are being stored", self.writer.pending_rows)
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
        """Stop listening, store what was received for up to `stop_grace_seconds`, keep the rest on disk."""
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
        await self.writer.stop(self.settings.stop_grace_seconds)
        self.pending.close()

    async def drained(self) -> None:
        """Wait until everything received so far is stored (tests, benchmarks)."""
        await self.writer.queue.join()
        while self.writer.backlog:  # noqa: ASYNC110 - it counts the pending file's rows too: no event to wait on
            await asyncio.sleep(0.02)

    def status(self) -> dict[str, Any]:
        """The write loop's state and the listeners' counters, for /health."""
        totals = self.writer.totals
        return {
            **self.writer.status(),
            "received": self.stats.received, "stored": totals.stored, "duplicates": totals.duplicates,
            "rejected": totals.rejected, "udp_dropped": self.stats.udp_dropped,
        }

    # --- listeners -----------------------------------------------------------------------------------

    def _offer(self, item: Item) -> None:
        self.stats.received += 1
        try:
            self.writer.queue.put_nowait(item)
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
        tls = writer.get_extra_info("ssl_object")
        acks = _Acks(writer) if tls is not None and tls.selected_alpn_protocol() == ack.ACK_PROTOCOL else None
        try:
            await self._read_frames(reader, peer, peer_subject(writer.get_extra_info("peercert")), acks)
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

    async def _read_frames(self, reader: asyncio.StreamReader, peer: str, certificate: str | None,
                           acks: _Acks | None) -> None:
        decoder = syslog.FrameDecoder(self.settings.max_message_bytes)
        queue = self.writer.queue
        ended = "closed"
        try:
            while data := await asyncio.wait_for(reader.read(65536), self.settings.idle_timeout):
                decoder.feed(data)
                while (event := decoder.next_event()) is not syslog.NEED_DATA:
                    origin = Origin("tls", peer, datetime.now(UTC), certificate)
                    self.stats.received += 1
                    receipt = acks.receipt() if acks is not None else None
                    if isinstance(event, syslog.Frame):
                        await queue.put(Item(event.data, origin, receipt=receipt))
                    else:
                        await queue.put(Item(event.data, origin, f"bad syslog frame: {event.reason}", receipt))
        except TimeoutError:
            ended = f"idle for {self.settings.idle_timeout:g}s"
            log.info("audit connection from %s closed: nothing received for %gs", peer, self.settings.idle_timeout)
        except (OSError, asyncio.IncompleteReadError) as exc:  # ssl.SSLError is an OSError
            ended = f"broken ({exc})"
            log.info("audit connection from %s ended: %s", peer, exc)
        if decoder.buffered:
            self.stats.received += 1
            reason = f"connection {ended} inside a frame ({decoder.buffered} bytes)"
            await queue.put(Item(b"", Origin("tls", peer, datetime.now(UTC), certificate), reason))
