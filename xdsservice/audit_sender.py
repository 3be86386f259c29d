"""Settings of a service's ATNA audit sender (`[audit_sender]`, XDS_AUDIT_SENDER_*; ITI TF-2a 3.20, RFC 5425 /
5426): where the audit record repository is, how to reach it, where the spool lives.

They are a section of the registry's and the repository's settings, loaded with them (xdsservice.config);
the sender itself (`audit.sender.AuditSender`) takes them. Empty paths take defaults under
`$XDS_DATA_DIR`, so `make run` works with no configuration at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from xdsservice.config import Layout, Sources, Vars, setting

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
