"""TLS for the registry, the repository and the audit sink (IHE ATNA secure node, ITI TF-2 3.19.6).

`TlsSettings` is the `tls` section of a service's settings (certificate, key, client-certificate policy);
`uvicorn_ssl_kwargs(settings)` turns them into `uvicorn.run(...)`/`uvicorn.Config(...)` arguments (an
empty dict when TLS is not configured: `make run` stays plain HTTP on localhost), and
`server_ssl_context` / `client_ssl_context` build `ssl.SSLContext`s for the syslog-over-TLS audit sink
(RFC 5425) and its senders.

Settings (xdsservice.config), later sources winning: `[<service>]` keys `tls_cert`, `tls_key`,
`tls_key_password`, `tls_client_ca`, `tls_client_auth` in the config file < XDS_TLS_* (all services) <
XDS_<SERVICE>_TLS_*.
`tls_client_auth` is `none`, `optional` or `required` (mutual TLS, the ATNA secure-node setting);
client certificates are checked against the `tls_client_ca` file or folder.
TLS 1.2 is the minimum (BCP 195, as ATNA asks); the cipher list keeps forward-secret AEAD suites.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xdsservice.config import Layout, SettingsError, Vars, setting
from xdsservice.tls_peer import TlsPeerHttpToolsProtocol

# OpenSSL cipher string for TLS 1.2 (TLS 1.3 suites are always enabled and all AEAD).
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!eNULL:!MD5:!DSS"
CLIENT_AUTH = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


class TlsConfigError(SettingsError):
    """TLS settings that cannot work (a missing file, client certificates asked for with no CA)."""


@dataclass(frozen=True)
class TlsSettings:
    cert: str = ""  # server certificate chain (PEM)
    key: str = ""  # private key (PEM); may be the cert file
    key_password: str = ""
    client_ca: str = ""  # CA file or folder for client certificates
    client_auth: str = setting("none", choices=tuple(CLIENT_AUTH))

    @classmethod
    def layout(cls, service: str) -> Layout:
        return Layout(tables=((service,),), key_prefix="tls_", env=(Vars("XDS_TLS_"), Vars(f"XDS_{service.upper()}_TLS_")))

    def complete(self, _sources: object, _service: str) -> TlsSettings:
        self.check()
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.cert)

    @property
    def cert_reqs(self) -> ssl.VerifyMode:
        try:
            return CLIENT_AUTH[self.client_auth.strip().lower()]
        except KeyError:
            raise TlsConfigError(f"tls_client_auth {self.client_auth!r} is not none, optional or required") from None

    def check(self) -> None:
        if not self.enabled:
            if self.client_auth.strip().lower() != "none":
                raise TlsConfigError("client certificates are asked for but no server certificate is configured")
            return
        for name in ("cert", "key", "client_ca"):
            value = getattr(self, name)
            if value and not Path(value).exists():
                raise TlsConfigError(f"TLS {name} {value} does not exist")
        if self.cert_reqs is not ssl.CERT_NONE and not self.client_ca:
            raise TlsConfigError("client certificates are asked for but tls_client_ca is not set")


def uvicorn_ssl_kwargs(settings: TlsSettings) -> dict[str, Any]:
    """Arguments for uvicorn.Config / uvicorn.run; {} when TLS is off."""
    settings.check()
    if not settings.enabled:
        return {}
    kwargs: dict[str, Any] = {
        "ssl_certfile": settings.cert,
        "ssl_keyfile": settings.key or settings.cert,
        "ssl_cert_reqs": settings.cert_reqs,
        "ssl_ciphers": CIPHERS,
        "ssl_version": ssl.PROTOCOL_TLS_SERVER,
    }
    if settings.key_password:
        kwargs["ssl_keyfile_password"] = settings.key_password
    if settings.client_ca:
        kwargs["ssl_ca_certs"] = ca_bundle(settings.client_ca)
    if settings.cert_reqs is not ssl.CERT_NONE:
        # The client certificate must reach the security hook (DMP DIRECTE): the ASGI TLS extension.
        kwargs["http"] = TlsPeerHttpToolsProtocol
    return kwargs


def ca_bundle(ca: str) -> str:
    """A single PEM file for `ca` (uvicorn only takes a file): the file itself, or for a folder a
    bundle of its certificates written once to a temporary file."""
    path = Path(ca)
    if not path.is_dir():
        return ca
    parts = [f.read_bytes().strip() for f in sorted(path.iterdir()) if f.suffix.lower() in (".pem", ".crt", ".cer")]
    handle, name = tempfile.mkstemp(prefix="xds-client-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(b"\n".join(parts) + b"\n")
    return name


def _load_verify(ctx: ssl.SSLContext, ca: str) -> None:
    if Path(ca).is_dir():
        for file in sorted(Path(ca).iterdir()):
            if file.suffix.lower() in (".pem", ".crt", ".cer"):
                ctx.load_verify_locations(cafile=str(file))
    else:
        ctx.load_verify_locations(cafile=ca)


def server_ssl_context(settings: TlsSettings) -> ssl.SSLContext | None:
    """An SSLContext for a TLS server socket (e.g. the RFC 5425 audit sink); None when TLS is off."""
    settings.check()
    if not settings.enabled:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.load_cert_chain(settings.cert, settings.key or settings.cert, settings.key_password or None)
    ctx.verify_mode = settings.cert_reqs
    if settings.client_ca:
        _load_verify(ctx, settings.client_ca)
    return ctx


def client_ssl_context(
    ca: str | None = None, cert: str | None = None, key: str | None = None, check_hostname: bool = True
) -> ssl.SSLContext:
    """An SSLContext for a TLS client (audit sender, registry forwarding), with an optional client cert.

    With `ca`, only that CA file or folder is trusted; without, the system's default CAs."""
    if ca:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _load_verify(ctx, ca)
    else:
        ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(cert, key or cert)
    ctx.check_hostname = check_hostname
    return ctx
