"""TLS set-up of the sink and the sender (audit.tls): development certificate, client-certificate policy."""

from __future__ import annotations

import ssl

import pytest
from cryptography import x509

from audit.config import AuditSettings
from audit.tls import ensure_dev_certificate, server_context
from xdsservice.audit_sender import AuditSenderSettings, client_context
from xdsservice.tls import TlsConfigError


def test_dev_certificate_is_made_once_and_names_localhost(tmp_path):
    cert, key = ensure_dev_certificate(tmp_path)
    first = cert.read_bytes()
    assert ensure_dev_certificate(tmp_path) == (cert, key) and cert.read_bytes() == first
    assert key.stat().st_mode & 0o777 == 0o600
    names = x509.load_pem_x509_certificate(first).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "localhost" in names.value.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(("auth", "with_ca", "expected"), [
    ("required", True, ssl.CERT_REQUIRED),
    ("optional", True, ssl.CERT_OPTIONAL),
    ("optional", False, ssl.CERT_NONE),  # the default with nothing configured: make run
    ("none", True, ssl.CERT_NONE),
])
def test_client_certificate_policy(tmp_path, pki, auth, with_ca, expected):
    settings = AuditSettings(data_dir=str(tmp_path), tls_client_auth=auth, tls_client_ca=str(pki.ca) if with_ca else "")
    assert server_context(settings).verify_mode == expected


def test_required_client_certificates_need_a_ca(tmp_path):
    with pytest.raises(TlsConfigError, match="tls_client_ca"):
        server_context(AuditSettings(data_dir=str(tmp_path), tls_client_auth="required"))


def test_sender_trusts_the_dev_certificate_only_when_no_ca_is_configured(tmp_path, pki):
    dev, _ = ensure_dev_certificate(tmp_path / "tls")
    subject = x509.load_pem_x509_certificate(dev.read_bytes()).subject.rfc4514_string()
    with_dev = client_context(AuditSenderSettings(dev_ca=str(dev)))
    assert any(subject.endswith(c["subject"][0][0][1]) for c in with_dev.get_ca_certs())
    with_ca = client_context(AuditSenderSettings(dev_ca=str(dev), tls_ca=str(pki.ca)))
    assert [c["subject"][0][0][1] for c in with_ca.get_ca_certs()] == ["pyxds test CA"]
    assert with_ca.check_hostname and with_ca.verify_mode == ssl.CERT_REQUIRED
