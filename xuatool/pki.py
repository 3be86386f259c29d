"""A throwaway test PKI for XUA / VIHF signing: a CA, a health-card ("carte CPS") certificate, an
organisation seal ("certificat de cachet") certificate, and the untrusted or expired look-alikes the
negative tests need. Built with `cryptography`; never use these keys for anything real.

Files written by `TestPki.write(folder)`:
  trust/ca.pem            the CA to put in XDS_TRUST_DIR
  card.pem, card.key      professional's signing certificate and key (Authentification_mode DIRECTE)
  seal.pem, seal.key      structure's seal certificate and key (INDIRECTE)
  ca.key, rogue-ca.pem, rogue-ca.key   the CA key, and an untrusted CA
  rogue.pem, rogue.key    a certificate with the seal's subject, issued by the untrusted CA
  expired.pem, expired.key  a seal certificate from the trusted CA whose validity has ended
  server.pem, server.key  a TLS server certificate for localhost / 127.0.0.1
  client.pem, client.key  a TLS client certificate (mutual TLS, ATNA secure node)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["rsa", "ec"]

CARD_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CABINET DR TEST"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "899700000001"),
        x509.NameAttribute(NameOID.COMMON_NAME, "899700000001/MEDECIN TEST"),
    ]
)
SEAL_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Paris (75)"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "STRUCTURE DE TEST"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "10B0012345"),
        x509.NameAttribute(NameOID.COMMON_NAME, "DMP SIGN TEST"),
    ]
)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PYXDS TEST PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


@dataclass(frozen=True)
class Credential:
    certificate: x509.Certificate
    private_key: CertificateIssuerPrivateKeyTypes

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def load(cls, cert_file: str | Path, key_file: str | Path, password: bytes | None = None) -> Credential:
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password)
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise TypeError("only RSA and ECDSA keys can sign assertions")
        return cls(cert, key)


def _new_key(key_type: KeyType) -> CertificateIssuerPrivateKeyTypes:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issue(
    subject: x509.Name,
    issuer: Credential | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_type: KeyType = "rsa",
    is_ca: bool = False,
    serial: int | None = None,
    tls_hosts: tuple[str, ...] | None = None,
    tls_client: bool = False,
) -> Credential:
    """Issue a certificate (self-signed when `issuer` is None).

    `tls_hosts` makes a TLS server certificate (SAN dNSName / iPAddress, EKU serverAuth);
    `tls_client` a TLS client certificate (EKU clientAuth), e.g. for ATNA mutual TLS."""
    key = _new_key(key_type)
    signer_key = issuer.private_key if issuer else key
    issuer_name = issuer.certificate.subject if issuer else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=not is_ca and tls_hosts is None and not tls_client,
                key_encipherment=tls_hosts is not None,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
        )
    )
    if tls_hosts is not None:
        names: list[x509.GeneralName] = []
        for host in tls_hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif tls_client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return Credential(builder.sign(signer_key, hashes.SHA256()), key)


@dataclass(frozen=True)
class TestPki:
    ca: Credential
    card: Credential
    seal: Credential
    rogue_ca: Credential
    rogue: Credential
    expired: Credential
    server: Credential  # TLS server certificate for localhost / 127.0.0.1
    client: Credential  # TLS client certificate (mutual TLS)

    __test__ = False  # not a pytest test class

    @property
    def trust_anchors(self) -> tuple[x509.Certificate, ...]:
        return (self.ca.certificate,)

    def write(self, folder: str | Path) -> Path:
        """Write every certificate and key as PEM; return the trust folder (for XDS_TRUST_DIR)."""
        root = Path(folder)
        trust = root / "trust"
        trust.mkdir(parents=True, exist_ok=True)
        (trust / "ca.pem").write_bytes(self.ca.cert_pem())
        (root / "ca.key").write_bytes(self.ca.key_pem())
        (root / "rogue-ca.pem").write_bytes(self.rogue_ca.cert_pem())
        (root / "rogue-ca.key").write_bytes(self.rogue_ca.key_pem())
        for name in ("card", "seal", "rogue", "expired", "server", "client"):
            cred: Credential = getattr(self, name)
            (root / f"{name}.pem").write_bytes(cred.cert_pem())
            (root / f"{name}.key").write_bytes(cred.key_pem())
        return trust

    @classmethod
    def load(cls, folder: str | Path) -> TestPki:
        root = Path(folder)
        names = ("card", "seal", "rogue", "expired", "server", "client")
        creds = {n: Credential.load(root / f"{n}.pem", root / f"{n}.key") for n in names}
        return cls(
            ca=Credential.load(root / "trust" / "ca.pem", root / "ca.key"),
            rogue_ca=Credential.load(root / "rogue-ca.pem", root / "rogue-ca.key"),
            **creds,
        )


def generate(key_type: KeyType = "rsa", now: dt.datetime | None = None, years: int = 20) -> TestPki:
    """A fresh test PKI valid from one day before `now` for `years` years (the expired one excepted)."""
    now = now or dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=365 * years)
    ca = issue(_name("PYXDS TEST CA"), None, start, end, key_type, is_ca=True)
    rogue_ca = issue(_name("PYXDS ROGUE CA"), None, start, end, key_type, is_ca=True)
    return TestPki(
        ca=ca,
        card=issue(CARD_SUBJECT, ca, start, end - dt.timedelta(days=1), key_type),
        seal=issue(SEAL_SUBJECT, ca, start, end - dt.timedelta(days=1), key_type),
        rogue_ca=rogue_ca,
        rogue=issue(SEAL_SUBJECT, rogue_ca, start, end - dt.timedelta(days=1), key_type),
        expired=issue(SEAL_SUBJECT, ca, now - dt.timedelta(days=30), now - dt.timedelta(days=2), key_type),
        server=issue(_name("localhost"), ca, start, end - dt.timedelta(days=1), key_type, tls_hosts=("localhost", "127.0.0.1")),
        client=issue(_name("xds-test-client"), ca, start, end - dt.timedelta(days=1), key_type, tls_client=True),
    )
