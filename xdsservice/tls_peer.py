"""The TLS client certificate in the ASGI scope: the ASGI TLS extension (`scope["extensions"]["tls"]`).

uvicorn verifies a client certificate during the handshake (`ssl_cert_reqs`, `ssl_ca_certs`) but does not
tell the application which one came (its HTTP protocols fill no `extensions`). The DMP's DIRECTE mode
needs it: the professional's card authenticates the TLS connection and the unsigned VIHF rides on it
(dmp-services.md). `TlsPeerHttpToolsProtocol` is uvicorn's httptools protocol plus that extension,
read once per connection from the transport's `ssl_object` (asyncio and uvloop complete the handshake
before `connection_made`), and handed to every request of the connection:

    {"client_cert_chain": [PEM of the leaf], "client_cert_name": RFC 4514 subject, "client_cert_error": None,
     "tls_version": 0x0303 | 0x0304, "cipher_suite": None, "server_cert": None}

Only the leaf is known (Python < 3.13 has no verified chain); the security hook validates it again
against the trust folder. `xdsservice.tls.uvicorn_ssl_kwargs` selects this protocol when client
certificates are asked for.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from cryptography import x509
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension of a connection, or None when it is not TLS."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    name = None
    if der:
        try:
            name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        except ValueError:  # a name cryptography cannot read: the hook refuses the certificate later
            name = None
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": name,
        "client_cert_error": None,  # the handshake succeeded, so the server's verification passed
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class TlsPeerHttpToolsProtocol(HttpToolsProtocol):
    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_extension(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {**self.scope.get("extensions", {}), "tls": self._tls}  # type: ignore[typeddict-unknown-key]
