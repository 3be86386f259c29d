"""The XAdES detached signature of a submission set, as the French DMP takes it with TD2.1 (IHE ITI TF-3
5.5 Document Digital Signature, DSG; ETSI XAdES; the layout of the DMP's official TD2.1 example, which
KIT-CS and DRIMbox also send).

One ds:Signature document:
- SignedInfo (c14n with comments) signs two references: the `IHEManifest` ds:Manifest and the XAdES
  `S0-SignedProperties` (signing time, the signer's certificate digest and issuer/serial, implied policy);
- the Manifest lists the SubmissionSet's uniqueId (digest "AA==": a marker, as the DMP example writes it)
  then one reference per document, URI `urn:oid:` + its uniqueId, over its bytes (an XML document is
  canonicalized first, c14n with comments, as the example does);
- a SignatureProperty `purposeOfSignature` = 1.2.840.10065.1.12.1.14 (ASTM E1762 "Source"), in no
  namespace like the example's.
This module writes the document and computes every digest; xmlsec computes the signature value over the
canonical SignedInfo (its own reference processing would try to open the Manifest's `urn:oid:` URIs).

`signature_entry` builds the signature's DocumentEntry with the metadata KIT-MSG, KIT-CS and DRIMbox send
(classCode Digital Signature, typeCode E1762, formatCode xmldsig, confidentiality N + MASQUE_PS +
INVISIBLE_PATIENT, eventCode Source); it is linked by a `signs` association to the SubmissionSet.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from typing import Any

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from xdscore.cda import tables as t
from xdscore.ebrim import document_entry
from xdscore.model import Code, DocumentEntry, RimObject
from xdscore.vocabulary import NS, ObjectType

DS = NS.DS
XADES = "http://uri.etsi.org/01903/v1.1.1#"  # the namespace of the DMP's TD2.1 example
_DS = f"{{{DS}}}"
_XA = f"{{{XADES}}}"
C14N_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
MANIFEST_TYPE = f"{DS}Manifest"
SIGNED_PROPERTIES_TYPE = f"{XADES}SignedProperties"
MANIFEST_ID = "IHEManifest"
SIGNED_PROPERTIES_ID = "S0-SignedProperties"
PURPOSE_SOURCE = "1.2.840.10065.1.12.1.14"  # ASTM E1762 signature purpose: Source (author's signature)

# algorithm name -> (SignatureMethod URI, DigestMethod URI, xmlsec signature transform, hashlib name)
ALGORITHMS: dict[str, tuple[str, str, Any, str]] = {
    "rsa-sha256": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256",
                   xmlsec.constants.TransformRsaSha256, "sha256"),
    "ecdsa-sha256": ("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256",
                     xmlsec.constants.TransformEcdsaSha256, "sha256"),
    "rsa-sha1": ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1",
                 xmlsec.constants.TransformRsaSha1, "sha1"),  # what the DMP's 2019 example uses
}


@dataclass(frozen=True)
class SignedDocument:
    """A document the signature covers: its XDS uniqueId and its bytes, as submitted."""

    unique_id: str
    data: bytes
    xml: bool = True  # canonicalize (c14n with comments) before the digest


class SigningError(ValueError):
    """The key, the certificate or a document cannot be used to sign."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def document_digest(doc: SignedDocument, hash_name: str) -> str:
    """Base64 digest of a document as its Manifest reference says (canonical XML, or the bytes)."""
    data = doc.data
    if doc.xml:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
        try:
            data = etree.tostring(etree.fromstring(doc.data, parser).getroottree(), method="c14n", with_comments=True)
        except etree.XMLSyntaxError as exc:
            raise SigningError(f"document {doc.unique_id} is not well-formed XML: {exc}") from None
    return _b64(hashlib.new(hash_name, data).digest())


def _reference(parent: etree._Element, uri: str, digest_uri: str, digest: str = "", ref_type: str | None = None,
               transform: str | None = None) -> etree._Element:
    ref = etree.SubElement(parent, f"{_DS}Reference")
    if ref_type:
        ref.set("Type", ref_type)
    ref.set("URI", uri)
    if transform:
        etree.SubElement(etree.SubElement(ref, f"{_DS}Transforms"), f"{_DS}Transform", Algorithm=transform)
    etree.SubElement(ref, f"{_DS}DigestMethod", Algorithm=digest_uri)
    etree.SubElement(ref, f"{_DS}DigestValue").text = digest
    return ref


def _signed_properties(qualifying: etree._Element, cert: x509.Certificate, signing_time: str, digest_uri: str,
                       hash_name: str) -> etree._Element:
    props = etree.SubElement(qualifying, f"{_XA}SignedProperties", Id=SIGNED_PROPERTIES_ID)
    sig_props = etree.SubElement(props, f"{_XA}SignedSignatureProperties")
    etree.SubElement(sig_props, f"{_XA}SigningTime").text = signing_time
    cert_el = etree.SubElement(etree.SubElement(sig_props, f"{_XA}SigningCertificate"), f"{_XA}Cert")
    cert_digest = etree.SubElement(cert_el, f"{_XA}CertDigest")
    etree.SubElement(cert_digest, f"{_XA}DigestMethod", Algorithm=digest_uri)
    etree.SubElement(cert_digest, f"{_XA}DigestValue").text = _b64(hashlib.new(hash_name, cert.public_bytes(Encoding.DER)).digest())
    serial = etree.SubElement(cert_el, f"{_XA}IssuerSerial")
    etree.SubElement(serial, f"{_DS}X509IssuerName").text = cert.issuer.rfc4514_string()
    etree.SubElement(serial, f"{_DS}X509SerialNumber").text = str(cert.serial_number)
    etree.SubElement(etree.SubElement(sig_props, f"{_XA}SignaturePolicyIdentifier"), f"{_XA}SignaturePolicyImplied")
    etree.SubElement(props, f"{_XA}SignedDataObjectProperties")
    return props


def sign_submission(
    submission_set_unique_id: str,
    documents: list[SignedDocument],
    key_pem: bytes,
    cert_pem: bytes,
    signature_id: str,
    signing_time: str,
    algorithm: str = "rsa-sha256",
) -> bytes:
    """The signature document (UTF-8 XML bytes) over `documents`, signed with the key and certificate.

    `signing_time` is an xsd:dateTime (the caller reads the clock); `signature_id` becomes the Signature's
    Id, which the SignatureProperty and the XAdES QualifyingProperties target."""
    if algorithm not in ALGORITHMS:
        raise SigningError(f"unknown signature algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    method_uri, digest_uri, transform, hash_name = ALGORITHMS[algorithm]
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise SigningError(f"the certificate is not a PEM X.509 certificate: {exc}") from None

    # A prefix, not a default namespace: the no-namespace SignatureProperties must stay out of ds (lxml
    # does not write xmlns="" under a default namespace).
    sig = etree.Element(f"{_DS}Signature", nsmap={"ds": DS}, Id=signature_id)
    info = etree.SubElement(sig, f"{_DS}SignedInfo")
    etree.SubElement(info, f"{_DS}CanonicalizationMethod", Algorithm=C14N_WITH_COMMENTS)
    etree.SubElement(info, f"{_DS}SignatureMethod", Algorithm=method_uri)
    _reference(info, f"#{MANIFEST_ID}", digest_uri, ref_type=MANIFEST_TYPE)
    _reference(info, f"#{SIGNED_PROPERTIES_ID}", digest_uri, ref_type=SIGNED_PROPERTIES_TYPE)
    etree.SubElement(sig, f"{_DS}SignatureValue")
    x509_data = etree.SubElement(etree.SubElement(sig, f"{_DS}KeyInfo"), f"{_DS}X509Data")
    etree.SubElement(x509_data, f"{_DS}X509Certificate").text = _b64(cert.public_bytes(Encoding.DER))

    manifest = etree.SubElement(etree.SubElement(sig, f"{_DS}Object"), f"{_DS}Manifest", Id=MANIFEST_ID)
    _reference(manifest, f"urn:oid:{submission_set_unique_id}", digest_uri, "AA==")
    for doc in documents:
        _reference(manifest, f"urn:oid:{doc.unique_id}", digest_uri, document_digest(doc, hash_name),
                   transform=C14N_WITH_COMMENTS if doc.xml else None)
    # In no namespace, as the DMP's example writes it: ds:SignatureProperty may only hold elements
    # (xmldsig-core-schema), and the purpose is text.
    props = etree.SubElement(etree.SubElement(sig, f"{_DS}Object"), "SignatureProperties")
    prop = etree.SubElement(props, "SignatureProperty", Id="purposeOfSignature", Target=f"#{signature_id}")
    prop.text = PURPOSE_SOURCE
    qualifying = etree.SubElement(etree.SubElement(sig, f"{_DS}Object"), f"{_XA}QualifyingProperties",
                                  nsmap={"xades": XADES}, Target=f"#{signature_id}")
    signed_props = _signed_properties(qualifying, cert, signing_time, digest_uri, hash_name)

    # The references of SignedInfo are same-document ones without transforms: their digest is over the
    # inclusive c14n (without comments) of the element (XMLDSig §4.3.3.3). xmlsec's own signing would also
    # dereference the Manifest's `urn:oid:` URIs (it opens them as files), so the digests are computed here
    # and xmlsec signs the canonical SignedInfo (c14n with comments) as bytes.
    for ref, target in zip(info.iterfind(f"{_DS}Reference"), (manifest, signed_props), strict=True):
        canonical = etree.tostring(target, method="c14n", exclusive=False, with_comments=False)
        ref.find(f"{_DS}DigestValue").text = _b64(hashlib.new(hash_name, canonical).digest())
    ctx = xmlsec.SignatureContext()  # single-use
    try:
        ctx.key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
    except xmlsec.Error:
        raise SigningError("the key is not a PEM private key") from None
    signed_info = etree.tostring(info, method="c14n", exclusive=False, with_comments=True)
    try:
        value = ctx.sign_binary(signed_info, transform)
    except xmlsec.Error as exc:
        raise SigningError(f"signing failed (does the key match the algorithm {algorithm}?): {exc}") from None
    sig.find(f"{_DS}SignatureValue").text = _b64(value)
    return bytes(etree.tostring(sig, xml_declaration=True, encoding="UTF-8"))


# --- the signature's DocumentEntry (KIT-MSG TD2.1) -----------------------------------------------

SIGNATURE_CLASS = Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
SIGNATURE_TYPE = Code("E1762", "ASTM", "Full Document")
SIGNATURE_FORMAT = Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style")
SIGNATURE_EVENT = Code(PURPOSE_SOURCE, "1.2.840.10065.1.12", "Source")
SIGNATURE_CONFIDENTIALITY = (
    Code("N", t.HL7_CONFIDENTIALITY, "Normal"),
    Code("MASQUE_PS", t.TRE_A07, "Masqué aux professionnels de santé"),
    Code("INVISIBLE_PATIENT", t.TRE_A07, "Non visible par le patient"),
)


def signature_entry(signed: DocumentEntry, signature: bytes, unique_id: str, entry_id: str, now: str) -> DocumentEntry:
    """The signature's DocumentEntry, patient, author, facility and practice taken from the signed
    document's entry `signed`; `now` (UTC DTM) is its creation and service time."""
    author = signed.authors[0].person if signed.authors else None
    de = DocumentEntry(
        entry_uuid=entry_id,
        rim=RimObject(tag="ExtrinsicObject", id=entry_id),
        unique_id=unique_id,
        patient_id=signed.patient_id,
        mime_type="text/xml",
        object_type=ObjectType.STABLE_DOCUMENT.value,
        title="Source",
        class_code=SIGNATURE_CLASS,
        type_code=SIGNATURE_TYPE,
        format_code=SIGNATURE_FORMAT,
        healthcare_facility_type_code=signed.healthcare_facility_type_code,
        practice_setting_code=signed.practice_setting_code,
        confidentiality_codes=SIGNATURE_CONFIDENTIALITY,
        event_codes=(SIGNATURE_EVENT,),
        authors=signed.authors[:1],
        creation_time=now,
        service_start_time=now,
        service_stop_time=now,
        hash=hashlib.sha1(signature).hexdigest(),
        size=str(len(signature)),
        language_code="art",  # ISO 639-2 "artificial language": a machine-readable document
        legal_authenticator=author,
        source_patient_id=signed.patient_id,
    )
    return replace(de, rim=document_entry.write(de))
