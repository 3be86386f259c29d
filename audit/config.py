"""Settings of the audit record repository (`[audit]`, XDS_AUDIT_*), loaded by `xdsservice.config`: every
key can come from `xds.toml` or from the environment (`XDS_AUDIT_TLS_PORT=16514`). Empty paths take
defaults under `$XDS_DATA_DIR` (see `resolved`), so `make run` works with no configuration at all.
The senders' settings (`[audit_sender]`) are a section of each sending service: `xdsservice.audit_sender`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from xdsservice.audit_sender import DEFAULT_TLS_PORT, DEFAULT_UDP_PORT
from xdsservice.config import Sources, load_settings, setting


@dataclass(frozen=True)
class AuditSettings:
    """The sink: syslog listeners, HTTP API, database."""

    host: str = "127.0.0.1"  # syslog listen address (TLS and UDP)
    tls_enabled: bool = True
    tls_port: int = DEFAULT_TLS_PORT
    udp_enabled: bool = True
    udp_port: int = DEFAULT_UDP_PORT
    http_enabled: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = 8083
    data_dir: str = ""  # default $XDS_DATA_DIR/audit
    database_url: str = ""  # default sqlite:///<data_dir>/audit.db; PostgreSQL: postgresql+psycopg://...
    tls_cert: str = ""  # PEM; empty: a self-signed development certificate made under <data_dir>/tls
    tls_key: str = ""
    tls_key_password: str = ""
    tls_client_ca: str = ""  # PEM file or folder that client certificates must chain to
    tls_client_auth: str = setting("optional", choices=("none", "optional", "required"))  # optional without tls_client_ca is none
    max_message_bytes: int = 1024 * 1024
    udp_receive_buffer: int = 4 * 1024 * 1024  # SO_RCVBUF asked for; the kernel may cap it
    queue_size: int = 20000  # messages received but not yet stored
    batch_size: int = 500  # messages stored per database transaction
    # A batch that is not full waits this long for more before it is stored, so one durable commit (whose
    # fsync costs ~0.3 ms of CPU) carries more messages (at 400 messages/s, 20 ms brings ~8).
    # Nothing waits on it but the senders' spool deletes: a message is acknowledged once stored
    # (xdscore.syslog_ack). 0: a batch is stored as soon as a message is there.
    batch_linger: float = 0.02
    stall_seconds: float = 30.0  # /health is unhealthy when messages wait and nothing was stored this long
    stop_grace_seconds: float = 3.0  # at SIGTERM, time given to store what is held; the rest goes to pending.db
    idle_timeout: float = 300.0  # a TLS connection that sends nothing this long is closed
    retention_days: int = 0  # events older are dropped (PostgreSQL: by whole months, audit.partitions); 0 keeps all
    # DMP notifications (audit.notify): a JSON-lines file they are delivered to; empty: the log
    notify_file: str = ""

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> AuditSettings:
        return load_settings(cls, "audit", environ, **overrides)

    def complete(self, sources: Sources, _service: str) -> AuditSettings:
        return self.resolved(sources.environ)

    def resolved(self, environ: Mapping[str, str] | None = None) -> AuditSettings:
        """Fill the empty paths with their defaults under the data directory."""
        base = Sources({}, "", os.environ if environ is None else environ).data_root
        folder = Path(self.data_dir) if self.data_dir else base / "audit"
        url = self.database_url or f"sqlite:///{(folder / 'audit.db').resolve()}"
        return replace(self, data_dir=str(folder), database_url=url)

    @property
    def tls_dir(self) -> Path:
        return Path(self.data_dir) / "tls"
