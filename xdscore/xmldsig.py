"""Enveloped XML signature on a SAML assertion, and the signer's certificate chain.

XML-DSig 1.1 (enveloped signature, exclusive c14n), as profiled by SAML 2.0 core §5.4 and IHE XUA
(ITI TF-2b 3.40.4.1.2): exactly one ds:Signature, a direct child of the assertion, with exactly one
ds:Reference whose URI is "#" + the assertion's own ID, and only the enveloped-signature and
exclusive-c14n transforms. The signer is the first ds:X509Certificate of KeyInfo; its chain is checked
with `cryptography`'s X.509 path validation against the configured trust anchors.

Signature wrapping: the caller passes the element it will read afterwards, and the IDs of the whole
message were already checked to be unique (`xdscore.wssec`); here the reference must name that
element's own ID and only that element's ID attribute is registered with xmlsec, so the digest can
only have been computed over that very element.

Pitfalls (see ../shared/spec/python-stack.md §4): an xmlsec SignatureContext is single-use; the ID
must be registered (`register_id`) or xmlsec cannot resolve "#id"; the key is set from the certificate
we validated ourselves, so xmlsec never picks a key from KeyInfo on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import xmlsec
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification
from lxml import etree

from xdscore.principal import SignerCertificate
from xdscore.vocabulary import NS
from xdscore.wsse_faults import SecurityFault, WsseFault

_DS = f"{{{NS.DS}}}"

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

# Signature methods: URI -> (key type, uses SHA-1, xmlsec transform)
_SIGNATURE_METHODS: dict[str, tuple[type, bool, Any]] = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": (rsa.RSAPublicKey, True, xmlsec.constants.TransformRsaSha1),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": (
        rsa.RSAPublicKey,
        False,
        xmlsec.constants.TransformRsaSha256,
    ),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": (
        rsa.RSAPublicKey,
        False,
        xmlsec.constants.TransformRsaSha384,
    ),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": (
        rsa.RSAPublicKey,
        False,
        xmlsec.constants.TransformRsaSha512,
    ),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": (
        ec.EllipticCurvePublicKey,
        True,
        xmlsec.constants.TransformEcdsaSha1,
    ),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": (
        ec.EllipticCurvePublicKey,
        False,
        xmlsec.constants.TransformEcdsaSha256,
    ),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": (
        ec.EllipticCurvePublicKey,
        False,
        xmlsec.constants.TransformEcdsaSha384,
    ),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": (
        ec.EllipticCurvePublicKey,
        False,
        xmlsec.constants.TransformEcdsaSha512,
    ),
}

# Digest methods: URI -> (uses SHA-1, xmlsec transform)
_DIGEST_METHODS: dict[str, tuple[bool, Any]] = {
    "http://www.w3.org/2000/09/xmldsig#sha1": (True, xmlsec.constants.TransformSha1),
    "http://www.w3.org/2001/04/xmlenc#sha256": (False, xmlsec.constants.TransformSha256),
    "http://www.w3.org/2001/04/xmldsig-more#sha384": (False, xmlsec.constants.TransformSha384),
    "http://www.w3.org/2001/04/xmlenc#sha512": (False, xmlsec.constants.TransformSha512),
}


@dataclass(frozen=True)
class VerifiedSignature:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # leaf first, trust anchor last
    signature_method: str
    der: bytes  # the signer's certificate as received

    def signer(self) -> SignerCertificate:
        der = self.der
        return SignerCertificate(
            subject=self.certificate.subject.rfc4514_string(),
            issuer=self.certificate.issuer.rfc4514_string(),
            serial_number=self.certificate.serial_number,
            sha256=hashlib.sha256(der).hexdigest(),
        )


def _failed(reason: str) -> SecurityFault:
    return SecurityFault(WsseFault.FAILED_CHECK, reason)


def _children(el: etree._Element, tag: str) -> list[etree._Element]:
    return [c for c in el if c.tag == tag]


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _one(el: etree._Element, tag: str, what: str) -> etree._Element:
    found = _children(el, tag)
    if len(found) != 1:
        raise _failed(f"{what}: expected exactly one {tag.split('}')[1]}, found {len(found)}")
    return found[0]


def find_signature(element: etree._Element) -> etree._Element | None:
    """The assertion's ds:Signature (direct child); None when unsigned. Several are refused."""
    sigs = _children(element, f"{_DS}Signature")
    if len(sigs) > 1:
        raise _failed(f"the assertion carries {len(sigs)} ds:Signature elements; exactly one is allowed")
    return sigs[0] if sigs else None


def _check_signed_info(signature: etree._Element, element_id: str, allow_sha1: bool) -> tuple[str, str]:
    """Check SignedInfo's shape; return (signature method, digest method)."""
    signed_info = _one(signature, f"{_DS}SignedInfo", "ds:Signature")
    c14n = _one(signed_info, f"{_DS}CanonicalizationMethod", "ds:SignedInfo").get("Algorithm", "")
    if c14n != EXC_C14N:
        raise _failed(f"CanonicalizationMethod {c14n!r} is not allowed; use exclusive c14n ({EXC_C14N})")
    method = _one(signed_info, f"{_DS}SignatureMethod", "ds:SignedInfo").get("Algorithm", "")
    if method not in _SIGNATURE_METHODS:
        raise _failed(f"SignatureMethod {method!r} is not allowed (RSA or ECDSA with SHA-2, or SHA-1)")
    if _SIGNATURE_METHODS[method][1] and not allow_sha1:
        raise _failed(f"SignatureMethod {method} uses SHA-1, which this service refuses")
    references = _children(signed_info, f"{_DS}Reference")
    if len(references) != 1:
        raise _failed(f"ds:SignedInfo must hold exactly one ds:Reference (to the assertion), found {len(references)}")
    ref = references[0]
    uri = ref.get("URI")
    if uri != f"#{element_id}":
        raise _failed(f"ds:Reference URI {uri!r} does not name the assertion itself (#{element_id})")
    transforms_el = _children(ref, f"{_DS}Transforms")
    transforms = []
    if len(transforms_el) == 1:
        transforms = [t.get("Algorithm", "") if t.tag == f"{_DS}Transform" else str(t.tag) for t in _elements(transforms_el[0])]
    if transforms not in ([ENVELOPED], [ENVELOPED, EXC_C14N]):
        raise _failed(
            f"ds:Reference transforms {transforms} are not allowed; SAML allows enveloped-signature "
            "then exclusive c14n only"
        )
    digest = _one(ref, f"{_DS}DigestMethod", "ds:Reference").get("Algorithm", "")
    if digest not in _DIGEST_METHODS:
        raise _failed(f"DigestMethod {digest!r} is not allowed")
    if _DIGEST_METHODS[digest][0] and not allow_sha1:
        raise _failed(f"DigestMethod {digest} uses SHA-1, which this service refuses")
    return method, digest


def _key_info_certificates(signature: etree._Element) -> list[tuple[x509.Certificate, bytes]]:
    # Walk by tag comparison rather than findall(): nodes created in-process by xmlsec are not found
    # by lxml's name-dictionary lookups.
    certs_b64 = [
        cert
        for key_info in _children(signature, f"{_DS}KeyInfo")
        for data in _children(key_info, f"{_DS}X509Data")
        for cert in _children(data, f"{_DS}X509Certificate")
    ]
    if not certs_b64:
        raise _failed("ds:KeyInfo carries no ds:X509Certificate; the signer cannot be identified")
    certs = []
    for el in certs_b64:
        try:
            der = base64.b64decode("".join((el.text or "").split()), validate=True)
            certs.append((x509.load_der_x509_certificate(der), der))
        except (binascii.Error, ValueError) as exc:
            raise _failed(f"ds:X509Certificate cannot be read: {exc}") from None
    return certs


def _subject_text(cert: x509.Certificate) -> str:
    # cryptography parses some Name values lazily: an untrusted certificate may fail only here.
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "(unreadable subject)"


def verify_chain(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: tuple[x509.Certificate, ...],
    now: datetime,
) -> tuple[x509.Certificate, ...]:
    """Path-validate the signer's certificate to one of the trust anchors at time `now`.

    The end-entity policy is permissive about extensions (health-card and seal certificates carry
    no serverAuth/clientAuth EKU nor SAN), but the key must be usable for signatures.
    """
    if not anchors:
        raise SecurityFault(
            WsseFault.FAILED_AUTHENTICATION, "no trusted certificate authority is configured (XDS_TRUST_DIR)"
        )
    try:
        verifier = (
            verification.PolicyBuilder()
            .store(verification.Store(list(anchors)))
            .time(now)
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        verified = verifier.verify(leaf, intermediates)
    except (verification.VerificationError, ValueError) as exc:
        raise SecurityFault(
            WsseFault.FAILED_AUTHENTICATION, f"the signing certificate {_subject_text(leaf)!r} is not trusted: {exc}"
        ) from None
    try:
        # Names and extensions are parsed lazily by cryptography: read now what the Principal and the
        # Issuer check will read, so a malformed (even CA-issued) certificate is a fault, not a crash.
        leaf.subject.rfc4514_string()
        leaf.issuer.rfc4514_string()
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            raise SecurityFault(
                WsseFault.FAILED_AUTHENTICATION, "the signing certificate's KeyUsage does not allow signatures"
            )
    except x509.ExtensionNotFound:
        pass
    except ValueError as exc:
        raise SecurityFault(WsseFault.FAILED_AUTHENTICATION, f"the signing certificate is malformed: {exc}") from None
    return tuple(verified.chain)


_KEY_CACHE: dict[bytes, Any] = {}
_KEY_CACHE_SIZE = 1024


def _xmlsec_key(der: bytes) -> Any:
    """xmlsec's public key for a certificate, cached by DER: loading it costs about as much as the
    chain check. Only public material is cached; trust is still checked on every call."""
    key = _KEY_CACHE.get(der)
    if key is None:
        if len(_KEY_CACHE) >= _KEY_CACHE_SIZE:
            _KEY_CACHE.clear()
        key = _KEY_CACHE[der] = xmlsec.Key.from_memory(der, xmlsec.constants.KeyDataFormatCertDer)
    return key


def verify_enveloped(
    element: etree._Element,
    signature: etree._Element,
    anchors: tuple[x509.Certificate, ...],
    now: datetime,
    allow_sha1: bool = True,
) -> VerifiedSignature:
    """Verify `signature` (a direct child of `element`) over exactly `element`; raise a SecurityFault."""
    element_id = element.get("ID") or ""
    method, digest = _check_signed_info(signature, element_id, allow_sha1)
    certs = _key_info_certificates(signature)
    leaf, leaf_der = certs[0]
    key_type = _SIGNATURE_METHODS[method][0]
    try:
        public_key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _failed(f"the signing certificate's public key cannot be used: {exc}") from None
    if not isinstance(public_key, key_type):
        raise _failed(f"SignatureMethod {method} does not match the certificate's key type")

    ctx = xmlsec.SignatureContext()  # single-use: one per verification
    ctx.enable_reference_transform(xmlsec.constants.TransformEnveloped)
    ctx.enable_reference_transform(xmlsec.constants.TransformExclC14N)
    ctx.enable_reference_transform(_DIGEST_METHODS[digest][1])
    ctx.enable_signature_transform(xmlsec.constants.TransformExclC14N)
    ctx.enable_signature_transform(_SIGNATURE_METHODS[method][2])
    try:
        ctx.key = _xmlsec_key(leaf_der)
        ctx.register_id(element, "ID")
        ctx.verify(signature)
    except xmlsec.Error as exc:
        raise _failed(
            f"the assertion signature does not verify ({exc}); it was changed after signing "
            "or signed with another key"
        ) from None

    chain = verify_chain(leaf, [c for c, _ in certs[1:]], anchors, now)
    return VerifiedSignature(certificate=leaf, chain=chain, signature_method=method, der=leaf_der)
