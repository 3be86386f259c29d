"""TLS for syslog (RFC 5425 §5; ITI TF-2a 3.19 ATNA secure node): contexts and the development certificate.

The sink needs a certificate even on a laptop: when none is configured, `ensure_dev_certificate` makes a
self-signed one under `<audit data dir>/tls` on first start (valid for localhost, 127.0.0.1, ::1 and the
host name) and senders on the same data directory trust it. Production configures `tls_cert`/`tls_key`,
a `tls_client_ca`, and `tls_client_auth = "required"` for mutual authentication.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from audit.config import AuditSettings
from xdscore.syslog_ack import ACK_PROTOCOL
from xdsservice.audit_sender import DEV_CERT_NAME, DEV_KEY_NAME
from xdsservice.tls import TlsSettings, server_ssl_context


def ensure_dev_certificate(folder: Path) -> tuple[Path, Path]:
    """The development certificate and key in `folder`, made once (EC P-256, self-signed, 2 years)."""
    cert_path, key_path = folder / DEV_CERT_NAME, folder / DEV_KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pyxds audit sink (development) {hostname}")])
    alt_names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    if hostname and hostname != "localhost":
        alt_names.append(x509.DNSName(hostname))
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=730))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=False, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    # Write the key first and 0600, then the certificate: a half-made pair is never taken as complete.
    key_tmp = key_path.with_suffix(".tmp")
    fd = os.open(key_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.replace(key_tmp, key_path)
    cert_tmp = cert_path.with_suffix(".tmp")
    cert_tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(cert_tmp, cert_path)
    return cert_path, key_path


def server_context(settings: AuditSettings) -> ssl.SSLContext:
    """The sink's context (via `xdsservice.tls`, shared with the HTTPS services): its certificate, or the
    development one, and client certificates checked against `tls_client_ca` as `tls_client_auth` says."""
    if settings.tls_cert:
        cert, key = settings.tls_cert, settings.tls_key or settings.tls_cert
    else:
        cert_path, key_path = ensure_dev_certificate(settings.tls_dir)
        cert, key = str(cert_path), str(key_path)
    client_auth = settings.tls_client_auth.strip().lower()
    if client_auth == "optional" and not settings.tls_client_ca:
        client_auth = "none"  # nothing to check a presented certificate against
    tls = TlsSettings(cert, key, settings.tls_key_password, settings.tls_client_ca, client_auth)
    context = server_ssl_context(tls)
    assert context is not None  # a certificate is always configured here
    context.set_alpn_protocols([ACK_PROTOCOL])  # selected only for a client that offers it (xdscore.syslog_ack)
    return context


def peer_subject(peercert: dict[str, object] | None) -> str | None:
    """RFC 4514-ish text of a verified client certificate's subject, for the record of who sent."""
    if not peercert:
        return None
    subject = peercert.get("subject", ())
    parts = []
    for rdn in subject if isinstance(subject, tuple) else ():
        for name, value in rdn:
            parts.append(f"{name}={value}")
    return ",".join(parts) or None
