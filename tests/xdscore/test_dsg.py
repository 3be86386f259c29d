"""XAdES signature of a submission (xdscore.dsg): verified by an independent verifier (signxml), the
Manifest's digests recomputed from the documents, tampering detected, and the signature's DocumentEntry
as the DMP's TD2.1 example writes it."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature

from tests.xdscore.cda_samples import example
from xdscore.cda import tables
from xdscore.cda.metadata import Options, derive
from xdscore.dsg import (
    SIGNATURE_CLASS,
    SignedDocument,
    SigningError,
    sign_submission,
    signature_entry,
)
from xdscore.model import Code
from xuatool.pki import TestPki, generate

DS = {"ds": "http://www.w3.org/2000/09/xmldsig#", "xa": "http://uri.etsi.org/01903/v1.1.1#"}
LDL, PDF = example("LDL-EES_2022.01.xml"), example("DOC_NON_STRUCTURE_CDA-R2-N1.xml")
DOCS = [SignedDocument("1.2.250.1.213.1.1.1.21.2022.1.1", LDL), SignedDocument("1.2.3.4.5", b"%PDF-1.4 raw", xml=False)]


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return generate()


def _sign(pki: TestPki, docs: list[SignedDocument] = DOCS, **kw: str) -> bytes:
    return sign_submission("1.2.250.1.999.1.1.7898.1", docs, pki.seal.key_pem(), pki.seal.cert_pem(),
                           "sig-1", "2024-06-01T12:00:00Z", **kw)


def _verify(signature: bytes, pki: TestPki, **kw: object) -> list[etree._Element]:
    results = XMLVerifier().verify(signature, x509_cert=pki.seal.cert_pem().decode(), expect_references=2, **kw)
    return [r.signed_xml for r in results]


def test_independent_verifier_accepts_and_returns_manifest_and_signed_properties(pki: TestPki) -> None:
    manifest, props = _verify(_sign(pki), pki)
    assert etree.QName(manifest).localname == "Manifest" and manifest.get("Id") == "IHEManifest"
    assert props.get("Id") == "S0-SignedProperties"
    assert props.findtext(".//xa:SigningTime", namespaces=DS) == "2024-06-01T12:00:00Z"
    cert_digest = props.findtext(".//xa:CertDigest/xa:DigestValue", namespaces=DS)
    der = pki.seal.certificate.public_bytes(Encoding.DER)
    assert cert_digest == base64.b64encode(hashlib.sha256(der).digest()).decode()
    assert props.findtext(".//ds:X509SerialNumber", namespaces=DS) == str(pki.seal.certificate.serial_number)


def test_manifest_digests_are_those_of_the_documents(pki: TestPki) -> None:
    manifest, _ = _verify(_sign(pki), pki)
    refs = manifest.findall("ds:Reference", DS)
    assert [r.get("URI") for r in refs] == ["urn:oid:1.2.250.1.999.1.1.7898.1", "urn:oid:1.2.250.1.213.1.1.1.21.2022.1.1",
                                            "urn:oid:1.2.3.4.5"]
    assert refs[0].findtext("ds:DigestValue", namespaces=DS) == "AA=="  # the SubmissionSet marker
    canonical = etree.tostring(etree.fromstring(LDL).getroottree(), method="c14n", with_comments=True)
    assert refs[1].findtext("ds:DigestValue", namespaces=DS) == base64.b64encode(hashlib.sha256(canonical).digest()).decode()
    assert refs[1].find("ds:Transforms/ds:Transform", DS).get("Algorithm").endswith("#WithComments")
    assert refs[2].findtext("ds:DigestValue", namespaces=DS) == base64.b64encode(hashlib.sha256(b"%PDF-1.4 raw").digest()).decode()
    assert refs[2].find("ds:Transforms", DS) is None


def test_a_changed_document_changes_its_digest(pki: TestPki) -> None:
    other = _sign(pki, [SignedDocument(DOCS[0].unique_id, LDL.replace(b"BOILEAU", b"BOILEAV"))])
    digests = {etree.fromstring(s).findtext(".//ds:Manifest/ds:Reference[2]/ds:DigestValue", namespaces=DS)
               for s in (_sign(pki, DOCS[:1]), other)}
    assert len(digests) == 2


@pytest.mark.parametrize("tamper", [
    lambda s: s.replace(b">AA==<", b">AQ==<", 1),  # the Manifest (whole element text: "AA==" can end a base64 key or signature)
    lambda s: s.replace(b"2024-06-01T12:00:00Z", b"2024-06-02T12:00:00Z"),  # the signed properties
])
def test_tampering_is_detected(pki: TestPki, tamper: object) -> None:
    with pytest.raises(InvalidDigest):
        _verify(tamper(_sign(pki)), pki)  # type: ignore[operator]


def test_another_key_does_not_verify(pki: TestPki) -> None:
    other = generate()
    with pytest.raises(InvalidSignature):
        _verify(_sign(other), pki)


def test_ecdsa_and_the_dmp_example_sha1(pki: TestPki) -> None:
    ec = generate("ec")
    signature = sign_submission("1.2.3", DOCS, ec.seal.key_pem(), ec.seal.cert_pem(), "s", "2024-06-01T12:00:00Z",
                                algorithm="ecdsa-sha256")
    XMLVerifier().verify(signature, x509_cert=ec.seal.cert_pem().decode(), expect_references=2)
    sha1 = _sign(pki, algorithm="rsa-sha1")
    assert b"xmldsig#rsa-sha1" in sha1
    allow_sha1 = SignatureConfiguration(signature_methods=frozenset(SignatureMethod),
                                        digest_algorithms=frozenset(DigestAlgorithm))
    _verify(sha1, pki, expect_config=allow_sha1)


@pytest.mark.parametrize(("kw", "message"), [
    ({"key_pem": b"not a key"}, "not a PEM private key"),
    ({"cert_pem": b"not a cert"}, "not a PEM X.509 certificate"),
    ({"algorithm": "rsa-md5"}, "unknown signature algorithm"),
])
def test_unusable_inputs_are_one_error(pki: TestPki, kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"submission_set_unique_id": "1.2", "documents": DOCS, "key_pem": pki.seal.key_pem(),
                               "cert_pem": pki.seal.cert_pem(), "signature_id": "s", "signing_time": "2024-01-01T00:00:00Z"}
    with pytest.raises(SigningError, match=message):
        sign_submission(**{**args, **kw})  # type: ignore[arg-type]


def test_an_ec_key_cannot_sign_rsa(pki: TestPki) -> None:
    ec = generate("ec")
    with pytest.raises(SigningError, match="signing failed"):
        sign_submission("1.2", DOCS, ec.seal.key_pem(), ec.seal.cert_pem(), "s", "2024-01-01T00:00:00Z")


def test_signature_entry_as_the_dmp_example(pki: TestPki) -> None:
    signed = derive(PDF, Options("1.2.3", "1.2", "20240601120000")).document_entry
    signature = _sign(pki)
    de = signature_entry(signed, signature, "1.2.250.1.999.9", "Signature01", "20240601120000")
    assert de.class_code == SIGNATURE_CLASS == Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
    assert (de.type_code.code, de.type_code.scheme) == ("E1762", "ASTM")  # type: ignore[union-attr]
    assert (de.format_code.code, de.format_code.scheme) == ("http://www.w3.org/2000/09/xmldsig#", "URN")  # type: ignore[union-attr]
    assert [(c.code, c.scheme) for c in de.confidentiality_codes] == [
        ("N", tables.HL7_CONFIDENTIALITY), ("MASQUE_PS", tables.TRE_A07), ("INVISIBLE_PATIENT", tables.TRE_A07)]
    assert [(c.code, c.scheme) for c in de.event_codes] == [("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12")]
    assert (de.patient_id, de.source_patient_id) == (signed.patient_id, signed.patient_id)
    assert (de.healthcare_facility_type_code, de.practice_setting_code) == (
        signed.healthcare_facility_type_code, signed.practice_setting_code)
    assert de.legal_authenticator == signed.authors[0].person and de.authors == signed.authors[:1]
    assert (de.title, de.language_code, de.mime_type) == ("Source", "art", "text/xml")
    assert (de.hash, de.size) == (hashlib.sha1(signature).hexdigest(), str(len(signature)))
    assert de.rim.id == "Signature01"
