"""Settings of the audit record repository (`[audit]`) and of the audit sender (`[audit_sender]`).

Both load through `xdsservice.config.load_settings`, so every key can come from `xds.toml` or from the
environment: `XDS_AUDIT_TLS_PORT=16514`, `XDS_AUDIT_SENDER_TRANSPORT=udp`. Empty paths take defaults
under `$XDS_DATA_DIR` (see `resolved`), so `make run` works with no configuration at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from xdsservice.config import data_dir, load_settings

DEV_CERT_NAME = "sink-cert.pem"
DEV_KEY_NAME = "sink-key.pem"
DEFAULT_TLS_PORT = 6514  # RFC 5425
DEFAULT_UDP_PORT = 5514  # RFC 5426 names 514; ATNA deployments and `make run` use an unprivileged port


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
    tls_client_auth: str = "optional"  # none | optional | required; optional without tls_client_ca is none
    max_message_bytes: int = 1024 * 1024
    udp_receive_buffer: int = 4 * 1024 * 1024  # SO_RCVBUF asked for; the kernel may cap it
    queue_size: int = 20000  # messages received but not yet stored
    batch_size: int = 500  # messages stored per database transaction
    stall_seconds: float = 30.0  # /health is unhealthy when messages wait and nothing was stored this long
    stop_grace_seconds: float = 3.0  # at SIGTERM, time given to store what is held; the rest goes to pending.db
    idle_timeout: float = 300.0  # a TLS connection that sends nothing this long is closed

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> AuditSettings:
        return load_settings(cls, "audit", environ, **overrides).resolved(environ)

    def resolved(self, environ: Mapping[str, str] | None = None) -> AuditSettings:
        """Fill the empty paths with their defaults under the data directory."""
        folder = Path(self.data_dir) if self.data_dir else data_dir(environ) / "audit"
        url = self.database_url or f"sqlite:///{(folder / 'audit.db').resolve()}"
        return replace(self, data_dir=str(folder), database_url=url)

    @property
    def tls_dir(self) -> Path:
        return Path(self.data_dir) / "tls"


@dataclass(frozen=True)
class AuditSenderSettings:
    """One service's audit sender: where the sink is, how to reach it, where the spool lives."""

    transport: str = "tls"  # tls (acknowledged by the sink) | tls-plain (RFC 5425 only) | udp | off
    host: str = "127.0.0.1"
    port: int = 0  # 0: 6514 for tls, 5514 for udp
    app_name: str = "pyxds"  # syslog APP-NAME; also names the spool, so one per process
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
    def load(
        cls, app_name: str, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> AuditSenderSettings:
        """Settings of the sender of service `app_name` (e.g. "xds-registry")."""
        settings = load_settings(cls, "audit_sender", environ, **overrides)
        if "app_name" not in overrides:
            env = os.environ if environ is None else environ
            if "XDS_AUDIT_SENDER_APP_NAME" not in env:
                settings = replace(settings, app_name=app_name)
        return settings.resolved(environ)

    def resolved(self, environ: Mapping[str, str] | None = None) -> AuditSenderSettings:
        base = data_dir(environ)
        spool = self.spool_dir or str(base / "audit-spool" / self.app_name)
        port = self.port or (DEFAULT_UDP_PORT if self.transport == "udp" else DEFAULT_TLS_PORT)
        dev_ca = self.dev_ca or str(base / "audit" / "tls" / DEV_CERT_NAME)
        return replace(self, spool_dir=spool, port=port, dev_ca=dev_ca)
