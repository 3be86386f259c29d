"""ATNA audit sender of a service (Secure Node / Secure Application): its settings, a durable spool, background
delivery over syslog TLS or UDP (ITI TF-2a 3.20; RFC 5425/5426). The audit record repository that receives
is the `audit` package; the two share only the protocol (`xdscore.syslog`, `xdscore.syslog_ack`).

Settings: `[audit_sender]`, XDS_AUDIT_SENDER_*, a section of the registry's and the repository's settings
(xdsservice.config); empty paths take defaults under `$XDS_DATA_DIR`. Usage, from any process:

    sender = AuditSender(load_settings(AuditSenderSettings, "registry"))
    sender.emit_all(audit_events.build(facts))   # returns at once; never raises for a sink problem
    ...
    sender.close()

Theory of operation. A transaction must never wait on the audit sink, and no event may be lost while the
sink or the network is down. So `emit` only wraps the AuditMessage into its RFC 5424 message (timestamp
of the emit) and commits it to a spool on local disk, with the durability of every store of the project
(`xdsservice.database.SQLITE_PRAGMAS`: WAL, `synchronous=FULL`, so a spooled event survives a power cut
too; `xdsservice.auditing` makes one commit per batch of transactions, docs/audit.md gives the cost).
One background thread reads the spool oldest first, sends a batch, and deletes
the rows only once they are delivered. What "delivered" means is the transport's (docs/audit.md):
- `tls` (the default): RFC 5425 frames, and the sink's acknowledgement (`xdscore.syslog_ack`, negotiated by ALPN)
  that it has stored them in its database. Nothing is deleted before; a sink that dies with frames in
  flight, or never answers (`ack_timeout`), gets them again on the next connection.
- `tls-plain`: RFC 5425 alone, for a sink that is not pyxds: deleted once `sendall` returned, so frames
  written into a live connection just before the sink's host dies are lost.
- `udp`: RFC 5426, deleted once each datagram is written to the socket: whatever the network or a full
  sink drops is lost. A record too long for a datagram is parked in the spool with the reason.
On any failure the thread closes the connection, waits (exponential backoff, capped), and sends the same
rows again, so delivery is at least once; the sink drops repeats (it keys each message by its digest; the
syslog timestamp has microseconds). Before each plain TLS batch the thread checks that the sink has not
closed the connection (a restarted sink leaves a half-closed socket whose next write would succeed
locally and be lost).
"""

from __future__ import annotations

import logging
import os
import select
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from xdscore import syslog
from xdscore import syslog_ack as ack
from xdsservice.config import Layout, Sources, Vars, setting
from xdsservice.database import SQLITE_PRAGMAS
from xdsservice.tls import client_ssl_context

DEV_CERT_NAME = "sink-cert.pem"  # the audit sink's development certificate, trusted by default
DEV_KEY_NAME = "sink-key.pem"
DEFAULT_TLS_PORT = 6514  # RFC 5425
DEFAULT_UDP_PORT = 5514  # RFC 5426 names 514; ATNA deployments and `make run` use an unprivileged port


@dataclass(frozen=True)
class AuditSenderSettings:
    """One service's audit sender: where the sink is, how to reach it, where the spool lives."""

    transport: str = setting("tls", choices=("tls", "tls-plain", "udp", "off"))  # tls: acknowledged by the sink; tls-plain: RFC 5425 only
    host: str = "127.0.0.1"
    port: int = 0  # 0: 6514 for tls, 5514 for udp
    app_name: str = ""  # syslog APP-NAME; also names the spool, so one per process; default xds-<service>
    hostname: str = ""  # syslog HOSTNAME; default the machine's host name
    spool_dir: str = ""  # default $XDS_DATA_DIR/audit-spool/<app_name>
    tls_ca: str = ""  # PEM the sink's certificate chains to; empty: the dev certificate if present, else the system
    tls_cert: str = ""  # client certificate (ATNA secure node), optional
    tls_key: str = ""
    tls_server_name: str = ""  # name checked in the sink's certificate; default `host`
    connect_timeout: float = 5.0
    ack_timeout: float = 30.0  # tls: seconds without an acknowledgement before the connection is started over
    retry_initial_seconds: float = 0.1
    retry_max_seconds: float = 10.0
    batch_size: int = 200
    max_udp_bytes: int = 65479  # the payload IPF caps a datagram at; longer records need TLS
    dev_ca: str = ""  # derived: where the sink puts its development certificate, trusted when tls_ca is empty

    @classmethod
    def layout(cls, _service: str) -> Layout:
        return Layout(tables=(("audit_sender",),), env=(Vars("XDS_AUDIT_SENDER_"),))

    def complete(self, sources: Sources, service: str) -> AuditSenderSettings:
        return replace(self, app_name=self.app_name or f"xds-{service}").resolved(sources.environ)

    def resolved(self, environ: Mapping[str, str] | None = None) -> AuditSenderSettings:
        """Fill the empty paths and the port with their defaults (under `XDS_DATA_DIR` of `environ`)."""
        base = Sources({}, "", os.environ if environ is None else environ).data_root
        app_name = self.app_name or "pyxds"
        spool = self.spool_dir or str(base / "audit-spool" / app_name)
        port = self.port or (DEFAULT_UDP_PORT if self.transport == "udp" else DEFAULT_TLS_PORT)
        dev_ca = self.dev_ca or str(base / "audit" / "tls" / DEV_CERT_NAME)
        return replace(self, app_name=app_name, spool_dir=spool, port=port, dev_ca=dev_ca)


def client_context(settings: AuditSenderSettings, acknowledged: bool = False) -> ssl.SSLContext:
    """The sender's context: the sink's certificate and name are always verified; `acknowledged` offers
    the acknowledgement protocol (xdscore.syslog_ack) in ALPN."""
    ca = settings.tls_ca or (settings.dev_ca if settings.dev_ca and Path(settings.dev_ca).exists() else None)
    context = client_ssl_context(ca, settings.tls_cert or None, settings.tls_key or None)
    if acknowledged:
        context.set_alpn_protocols([ack.ACK_PROTOCOL])
    return context


log = logging.getLogger("xds.audit.sender")

# tls: RFC 5425 + the sink's acknowledgements (xdscore.syslog_ack), nothing lost; tls-plain: RFC 5425 alone, for a
# sink that is not pyxds; udp: RFC 5426; off. docs/audit.md says which loses what.
TRANSPORTS = ("tls", "tls-plain", "udp", "off")


class Spool:
    """A FIFO of syslog messages in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:  # the project's one durability policy: a commit is on disk
            self._db.execute(f"PRAGMA {pragma}")
        self._synchronous = int(self._db.execute("PRAGMA synchronous").fetchone()[0])
        self._db.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, message BLOB NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS parked (id INTEGER PRIMARY KEY, message BLOB NOT NULL, reason TEXT NOT NULL,"
            " parked_at TEXT NOT NULL)"
        )

    def put_many(self, messages: list[bytes]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO spool (message) VALUES (?)", [(m,) for m in messages])
            self._db.execute("COMMIT")

    def oldest(self, limit: int) -> list[tuple[int, bytes]]:
        with self._lock:
            return self._db.execute("SELECT id, message FROM spool ORDER BY id LIMIT ?", (limit,)).fetchall()

    def delete(self, ids: list[int]) -> None:
        """Forget delivered rows, without an fsync of its own: a delete lost to a power cut only sends those
        messages again, which the sink drops (it keys each by its digest); the next spool commit (FULL)
        syncs the WAL, this delete with it. One fsync per delivered batch less in each service."""
        if not ids:
            return
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN")
                self._db.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in ids])
                self._db.execute("COMMIT")
            finally:
                self._db.execute(f"PRAGMA synchronous={self._synchronous}")  # put_many and park stay durable

    def park(self, row_id: int, message: bytes, reason: str) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO parked (id, message, reason, parked_at) VALUES (?, ?, ?, ?)",
                (row_id, message, reason, datetime.now(UTC).isoformat()),
            )
            self._db.execute("DELETE FROM spool WHERE id = ?", (row_id,))
            self._db.execute("COMMIT")

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def parked(self) -> list[tuple[int, bytes, str]]:
        with self._lock:
            return self._db.execute("SELECT id, message, reason FROM parked ORDER BY id").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SendError(Exception):
    """A delivery attempt failed after `sent` messages of the batch were written."""

    def __init__(self, sent: int, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.sent = sent


class _TlsTransport:
    """RFC 5425: one long-lived TLS connection, octet-counted frames; with `acknowledged`, the sink's
    acknowledgements (xdscore.syslog_ack) decide what was delivered."""

    def __init__(self, settings: AuditSenderSettings, acknowledged: bool = True) -> None:
        self.settings = settings
        self.acknowledged = acknowledged
        self._sock: ssl.SSLSocket | None = None
        self._acks = ack.AckReader()
        self._sent = 0  # frames written on this connection

    def _connect(self) -> ssl.SSLSocket:
        s = self.settings
        raw = socket.create_connection((s.host, s.port), timeout=s.connect_timeout)
        try:
            context = client_context(s, self.acknowledged)
            tls = context.wrap_socket(raw, server_hostname=s.tls_server_name or s.host)
        except BaseException:
            raw.close()
            raise
        try:
            if self.acknowledged and tls.selected_alpn_protocol() != ack.ACK_PROTOCOL:
                raise ConnectionError(
                    f"the audit sink at {s.host}:{s.port} does not acknowledge what it stores (no ALPN "
                    f"{ack.ACK_PROTOCOL}); it is not a pyxds sink: set transport = tls-plain to send to it anyway"
                )
            self._await_acceptance(tls)
        except BaseException:
            tls.close()
            raise
        tls.settimeout(max(s.connect_timeout, 30.0))
        self._acks, self._sent = ack.AckReader(), 0
        return tls

    def _await_acceptance(self, tls: ssl.SSLSocket) -> None:
        """TLS 1.3: wait until the sink has accepted our certificate before writing anything.

        In TLS 1.3 the client finishes its handshake before the server has checked the client
        certificate; a sink that refuses it answers with an alert a moment later, after our first write
        would already have "succeeded" and been deleted from the spool. The server's session ticket,
        sent once it accepted us, is the signal; a sink that sends no ticket costs one short wait.
        (With acknowledgements nothing is deleted before the sink's answer anyway; the wait stays,
        for a clear error instead of a timeout.)
        """
        if tls.version() != "TLSv1.3":
            return  # TLS 1.2 checks the client certificate inside the handshake
        deadline = time.monotonic() + min(self.settings.connect_timeout, 2.0)
        tls.settimeout(0.05)
        while time.monotonic() < deadline:
            try:
                data = tls.recv(1)
            except (TimeoutError, ssl.SSLWantReadError):
                session = tls.session
                if session is not None and session.has_ticket:
                    return
                continue
            if not data:
                raise ConnectionError("the audit sink closed the connection after the TLS handshake")
            raise ConnectionError("the audit sink sent data before any frame")

    def _peer_closed(self, sock: ssl.SSLSocket) -> bool:
        """True when the sink has closed (or broken) the connection since our last write."""
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable and not sock.pending():
            return False
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            sock.recv(1)
        except ssl.SSLWantReadError:
            return False  # only a TLS post-handshake message (a late session ticket): still open
        except OSError:
            return True
        finally:
            sock.settimeout(timeout)
        return True  # EOF, or data not asked for: start over on a new connection

    def send(self, messages: list[bytes]) -> int:
        """Write the frames; with acknowledgements, return once the sink has stored them all, or raise
        `SendError` saying how many it did store."""
        try:
            if self._sock is not None and self._peer_closed(self._sock):
                self.close()
            if self._sock is None:
                self._sock = self._connect()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self.close()
            raise SendError(0, exc) from exc
        sock, base = self._sock, self._sent
        try:
            sock.sendall(b"".join(syslog.frame(m) for m in messages))
            self._sent += len(messages)
            if self.acknowledged:
                self._await_acks(sock, base + len(messages))
        except (OSError, ValueError) as exc:  # ack.AckError is a ValueError
            stored = max(0, min(len(messages), self._acks.acknowledged - base)) if self.acknowledged else 0
            self.close()
            raise SendError(stored, exc) from exc
        return len(messages)

    def _await_acks(self, sock: ssl.SSLSocket, target: int) -> None:
        """Read acknowledgements until `target` frames of this connection are stored. The wait is
        renewed by each acknowledgement: a slow sink is waited for, a silent one is not."""
        sock.settimeout(self.settings.ack_timeout)
        while self._acks.acknowledged < target:
            data = sock.recv(4096)
            if not data:
                raise ConnectionError("the audit sink closed the connection before acknowledging")
            self._acks.feed(data)
        if self._acks.acknowledged > target:
            raise ack.AckError(f"the sink acknowledged {self._acks.acknowledged} frames; {target} were sent")

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None


class _UdpTransport:
    """RFC 5426: one message per datagram."""

    def __init__(self, settings: AuditSenderSettings) -> None:
        self.settings = settings
        self._sock: socket.socket | None = None

    def send(self, messages: list[bytes]) -> int:
        sent = 0
        try:
            if self._sock is None:
                family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
                self._sock = socket.socket(family, socket.SOCK_DGRAM)
                self._sock.connect((self.settings.host, self.settings.port))
            for message in messages:
                self._sock.send(message)
                sent += 1
        except OSError as exc:
            self.close()
            raise SendError(sent, exc) from exc
        return sent

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class AuditSender:
    """Spools audit messages and delivers them in the background. Thread-safe; one per process."""

    def __init__(self, settings: AuditSenderSettings, *, start: bool = True) -> None:
        self.settings = settings
        self.enabled = settings.transport != "off"
        if settings.transport not in TRANSPORTS:
            raise ValueError(f"audit sender transport must be one of {', '.join(TRANSPORTS)}, not {settings.transport!r}")
        self.hostname = settings.hostname or socket.gethostname() or "-"
        self._procid = str(os.getpid())
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self._closed = False
        self.spool = Spool(Path(settings.spool_dir) / "spool.db") if self.enabled else None
        if self.enabled and start:
            self.start()

    # --- producer side: called by transactions -------------------------------------------------------

    def emit(self, audit_xml: bytes) -> None:
        """Spool one AuditMessage (XML bytes) for delivery; returns once it is on disk."""
        self.emit_all((audit_xml,))

    def emit_all(self, audit_xmls: Iterable[bytes]) -> None:
        """Spool several AuditMessages in one commit (e.g. the two of an ITI-8 merge)."""
        if self._closed:
            raise RuntimeError("audit sender is closed")
        if self.spool is None:
            return  # transport "off"
        timestamp = syslog.format_timestamp(datetime.now(UTC))
        s = self.settings
        messages = [
            syslog.encode(syslog.atna_message(xml, timestamp, self.hostname, s.app_name, self._procid))
            for xml in audit_xmls
        ]
        if messages:
            self.spool.put_many(messages)
            self._wake.set()

    # --- delivery side -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None and self.enabled:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"audit-sender-{self.settings.app_name}", daemon=True)
            self._thread.start()

    def pending(self) -> int:
        return self.spool.count() if self.spool is not None else 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the spool is empty; False if it is not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread; what is still spooled is sent by the next sender on this spool."""
        self._closed = True
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        if self.spool is not None and (thread is None or not thread.is_alive()):
            self.spool.close()
            self.spool = None

    def _transport(self) -> _TlsTransport | _UdpTransport:
        if self.settings.transport == "udp":
            return _UdpTransport(self.settings)
        return _TlsTransport(self.settings, acknowledged=self.settings.transport == "tls")

    def _run(self) -> None:
        assert self.spool is not None
        spool, s = self.spool, self.settings
        transport = self._transport()
        delay = s.retry_initial_seconds
        try:
            while not self._stop.is_set():
                try:
                    delivered = self._deliver_once(spool, transport)
                except SendError as exc:
                    if self.last_error != str(exc):
                        log.warning(
                            "audit sink %s:%d unreachable (%s); %d event(s) kept in the spool, retrying",
                            s.host, s.port, exc, spool.count(),
                        )
                    self.last_error = str(exc)
                except Exception as exc:  # e.g. the spool's disk: report, wait, try again
                    log.exception("audit sender error; events stay in the spool")
                    self.last_error = f"{type(exc).__name__}: {exc}"
                else:
                    if delivered is None:  # the spool is empty
                        self._wake.wait(1.0)
                        self._wake.clear()
                    elif self.last_error is not None:
                        log.info("audit sink %s:%d reachable again", s.host, s.port)
                        self.last_error = None
                    delay = s.retry_initial_seconds
                    continue
                self._stop.wait(delay)
                delay = min(delay * 2, s.retry_max_seconds)
        finally:
            transport.close()

    def _deliver_once(self, spool: Spool, transport: _TlsTransport | _UdpTransport) -> int | None:
        """Send the oldest batch and delete what was written; None when the spool is empty."""
        batch = spool.oldest(self.settings.batch_size)
        if self.settings.transport == "udp":
            batch = self._park_oversized(batch)
        if not batch:
            return None
        try:
            sent = transport.send([message for _, message in batch])
        except SendError as exc:
            spool.delete([row_id for row_id, _ in batch[: exc.sent]])
            raise
        spool.delete([row_id for row_id, _ in batch[:sent]])
        return sent

    def _park_oversized(self, batch: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        assert self.spool is not None
        kept = []
        for row_id, message in batch:
            if len(message) > self.settings.max_udp_bytes:
                reason = f"{len(message)} bytes do not fit a UDP datagram of {self.settings.max_udp_bytes}; use TLS"
                log.error("audit event %d parked: %s", row_id, reason)
                self.spool.park(row_id, message, reason)
            else:
                kept.append((row_id, message))
        return kept
