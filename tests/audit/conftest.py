"""Fixtures of the audit tests: a test PKI (CA, sink and client certificates), the audit schema, facts."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree

from xdscore import audit_events as ae
from xdscore.principal import CodedValue, Principal

ROOT = Path(__file__).resolve().parents[2]
PATIENT = "123456789^^^&1.2.250.1.213.1.4.8&ISO"
OTHER_PATIENT = "987654321^^^&1.2.250.1.213.1.4.8&ISO"


@pytest.fixture
def empty_config(tmp_path: Path) -> str:
    """An empty xds.toml, so that settings tests never read a developer's own configuration."""
    path = tmp_path / "empty.toml"
    path.write_text("")
    return str(path)


@pytest.fixture(scope="session")
def audit_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ROOT / "schemas" / "dicom-audit-message.xsd")))


@dataclass(frozen=True)
class Pki:
    ca: Path  # PEM of the test CA, trusted by both ends
    sink_cert: Path
    sink_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path  # a client certificate from another CA
    rogue_key: Path


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
    key_path = path.with_suffix(".key")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key_path


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey,
    *, ca: bool = False, usage: x509.ObjectIdentifier | None = None, sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("pyxds test CA", ca_key, None, ca_key, ca=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    sink_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    sink = _cert("audit sink", sink_key, ca.subject, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("xds-registry node", client_key, ca.subject, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    rogue_ca_key = ec.generate_private_key(ec.SECP256R1())
    rogue_ca = _cert("rogue CA", rogue_ca_key, None, rogue_ca_key, ca=True)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = _cert("rogue node", rogue_key, rogue_ca.subject, rogue_ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    sink_paths = _write(folder / "sink.pem", sink_key, sink)
    client_paths = _write(folder / "client.pem", client_key, client)
    rogue_paths = _write(folder / "rogue.pem", rogue_key, rogue)
    return Pki(folder / "ca.pem", *sink_paths, *client_paths, *rogue_paths)


def doctor(access_mode: str = "normal") -> Principal:
    """A VIHF-style principal: a médecin of a hospital, in the given DMP access mode."""
    return Principal(
        subject_id="DUPONT Jean",
        name_id="810002345678",
        issuer="https://idp.ch-exemple.fr",
        sp_provided_id="",
        organization="CH Exemple",
        organization_id="1.2.250.1.71.4.2.2|110000000",
        roles=(CodedValue("10", "1.2.250.1.213.1.1.4.5", "Médecin"),),
        purpose_of_use=(CodedValue(access_mode, ae.DMP_ACCESS_MODE_SYSTEM, access_mode),),
        access_mode=access_mode,
    )


def facts(transaction: ae.Transaction, **changes: object) -> ae.AuditFacts:
    """Facts of one transaction as the registry/repository would give them; `changes` override fields."""
    base: dict[str, object] = {
        "transaction": transaction,
        "event_time": dt.datetime(2026, 1, 15, 10, 30, 0, 123000, tzinfo=dt.UTC),
        "outcome": ae.EventOutcome.SUCCESS,
        "client": ae.Node("http://www.w3.org/2005/08/addressing/anonymous", "192.0.2.10"),
        "server": ae.Node("https://xds.example.org/registry", "xds.example.org", "4242"),
        "audit_source": ae.AuditSource("pyxds-registry", "1.2.250.1.999"),
        "patient_ids": (PATIENT,),
    }
    if transaction in (ae.Transaction.ITI_41, ae.Transaction.ITI_42, ae.Transaction.ITI_57, ae.Transaction.ITI_92):
        base["submission_set_unique_id"] = "1.2.250.1.999.1.1.42"
    if transaction is ae.Transaction.ITI_18:
        base["query"] = ae.StoredQuery(
            "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d", b"<query:AdhocQueryRequest>...</query:AdhocQueryRequest>"
        )
    if transaction is ae.Transaction.ITI_62:
        base["removed_objects"] = ("urn:uuid:0f6d6c2e-2a1b-4c2e-9d35-6a3b2f1e0a01", "urn:uuid:0f6d6c2e-2a1b-4c2e-9d35-6a3b2f1e0a02")
    if transaction in (ae.Transaction.ITI_43, ae.Transaction.ITI_86):
        base["documents"] = (ae.DocumentRef("1.2.250.1.999.2.1", "1.2.250.1.999.3"),)
    if transaction is ae.Transaction.DMP:  # a DMP service call (dmp/app.py): TD0.3 authorising its caller
        base["dmp"] = ae.DmpEvent("TD0.3", "Mise à jour de l'autorisation", ae.EventAction.UPDATE, ("authorised",))
    if transaction is ae.Transaction.ITI_8:
        base["client"] = ae.Node("HOPITAL|ADT", "192.0.2.20")
        base["server"] = ae.Node("DMP|XDSREG", "xds.example.org", "4242")
        base["hl7"] = ae.Hl7Event("A01", "MSG00042")
    base.update(changes)
    return ae.AuditFacts(**base)  # type: ignore[arg-type]
