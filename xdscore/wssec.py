"""WS-Security header verification: Timestamp and signed SAML 2.0 assertion (IHE XUA, ITI TF-2b 3.40; VIHF).

Input: the soap:Header element of a parsed request and a `Policy` (trust anchors as loaded certificates,
audiences, clock skew, the current time, the attribute profile). Output: a `Principal` built from the
verified assertion, None when no assertion came and none is required, or a `SecurityFault` (SOAP 1.2
Sender fault with a wsse subcode, `xdscore.wsse_faults`). No I/O: loading the trust store from its
folder and reading the clock are the service's job (`xdsservice.security`).

Theory of operation (why signature wrapping cannot work here):
1. The header must hold exactly one wsse:Security, and it exactly one saml2:Assertion, as a *direct
   child*: the assertion is located by position, never by searching the message.
2. Every ID-like attribute (ID, Id, wsu:Id, xml:id, AssertionID) in the whole envelope must be unique,
   so "#id" can name one element only, whatever resolver a downstream tool uses.
3. The assertion's ds:Signature is its direct child and its single ds:Reference URI must be
   "#" + that same element's ID; only that ID attribute is registered with xmlsec
   (`xdscore.xmldsig`). The digest was therefore computed over exactly the element located in 1.
4. Every decision afterwards (time, audience, subject, attributes) reads that same element object, and
   text is read from text nodes only (comments are not signed under exclusive c14n).
The published wrapping variants (McIntosh & Austel 2005; Somorovsky et al. 2012, XSW1-8 adapted to
WS-Security) each break one of these steps: tests/security/wrapping_corpus/ holds them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree

from xdscore import forwarded, saml, vihf, xmldsig, xua
from xdscore.principal import AccessMode, AuthenticatedBy, Principal, SignerCertificate
from xdscore.vocabulary import NS
from xdscore.wsse_faults import SecurityFault, WsseFault

_WSSE = f"{{{NS.WSSE}}}"
_WSU = f"{{{NS.WSU}}}"
_SAML2 = f"{{{NS.SAML2}}}"
SAML1_NS = "urn:oasis:names:tc:SAML:1.0:assertion"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# Attributes that XML-DSig resolvers commonly treat as IDs.
TLS_CLIENT_AUTH = "tls-client-certificate"  # VerifiedSignature.signature_method of a card seen through TLS
ID_ATTRIBUTES = frozenset({"ID", "Id", "AssertionID", f"{_WSU}Id", f"{{{XML_NS}}}id"})


class Profile(str, Enum):
    """Which attribute rules apply: plain IHE XUA, or the French VIHF (required VIHF attributes)."""

    XUA = "xua"
    VIHF = "vihf"


@dataclass(frozen=True)
class Policy:
    trust_anchors: tuple[x509.Certificate, ...]
    now: datetime  # timezone-aware
    require_assertion: bool = True  # False: a request without wsse:Security/assertion is anonymous
    clock_skew: timedelta = timedelta(minutes=5)
    audiences: frozenset[str] = frozenset()  # empty: AudienceRestriction not enforced
    profile: Profile = Profile.XUA
    required_attributes: frozenset[str] = frozenset()  # added to the profile's own required set
    require_timestamp: bool = False
    max_assertion_age: timedelta | None = None  # refuse assertions issued longer ago than this
    allow_sha1: bool = True  # RSA-SHA1 is still used by deployed VIHF clients
    check_issuer_dn: bool = True  # an X509SubjectName Issuer must be the signing certificate's subject
    # SHA-256 fingerprints of the TLS client certificates of services trusted to forward a DMP DIRECTE caller's
    # card (xdscore.forwarded): the repository in front of this registry
    trusted_forwarders: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("Policy.now must be timezone-aware (UTC)")

    def at(self, now: datetime) -> Policy:
        return dataclasses.replace(self, now=now)


def _invalid(reason: str) -> SecurityFault:
    return SecurityFault(WsseFault.INVALID_SECURITY, reason)


def _element_children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def find_security_header(header: etree._Element | None) -> etree._Element | None:
    if header is None:
        return None
    found = [c for c in header if c.tag == f"{_WSSE}Security"]
    if len(found) > 1:
        raise _invalid(f"the message has {len(found)} wsse:Security headers; exactly one is allowed")
    return found[0] if found else None


def check_unique_ids(root: etree._Element) -> None:
    """Refuse any ID value used twice in the message (the precondition of every wrapping attack)."""
    seen: set[str] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            if name in ID_ATTRIBUTES:
                value = value.strip()
                if value in seen:
                    raise _invalid(f"the ID {value!r} appears more than once in the message")
                seen.add(value)


def _instant(el: etree._Element, what: str) -> datetime:
    try:
        return saml.parse_instant(saml.simple_text(el, what), what)
    except SecurityFault as fault:
        raise _invalid(fault.reason) from None


def check_timestamp(security: etree._Element, policy: Policy) -> None:
    """wsu:Timestamp (WSS 1.1 §10): at most one; Created not in the future; Expires not passed."""
    stamps = [c for c in security if c.tag == f"{_WSU}Timestamp"]
    if len(stamps) > 1:
        raise _invalid(f"wsse:Security holds {len(stamps)} wsu:Timestamp elements; at most one is allowed")
    if not stamps:
        if policy.require_timestamp:
            raise _invalid("wsse:Security has no wsu:Timestamp, which this service requires")
        return
    created_els = [c for c in stamps[0] if c.tag == f"{_WSU}Created"]
    expires_els = [c for c in stamps[0] if c.tag == f"{_WSU}Expires"]
    if len(created_els) > 1 or len(expires_els) > 1:
        raise _invalid("wsu:Timestamp holds more than one Created or Expires")
    created = _instant(created_els[0], "wsu:Created") if created_els else None
    expires = _instant(expires_els[0], "wsu:Expires") if expires_els else None
    if created and expires and created >= expires:
        raise _invalid("wsu:Timestamp Created is not before Expires")
    if created and created > policy.now + policy.clock_skew:
        raise _invalid(f"wsu:Timestamp Created {created.isoformat()} is in the future")
    if expires and expires <= policy.now - policy.clock_skew:
        raise SecurityFault(WsseFault.MESSAGE_EXPIRED, f"the message has expired: wsu:Expires was {expires.isoformat()}")


def find_assertion(security: etree._Element) -> etree._Element | None:
    """The one saml2:Assertion that is a direct child of wsse:Security (by position, not by search)."""
    children = _element_children(security)
    if any(etree.QName(c).namespace == SAML1_NS for c in children):
        raise SecurityFault(WsseFault.UNSUPPORTED_SECURITY_TOKEN, "SAML 1.x assertions are not supported; send SAML 2.0")
    if any(c.tag == f"{_SAML2}EncryptedAssertion" for c in children):
        raise SecurityFault(WsseFault.UNSUPPORTED_SECURITY_TOKEN, "encrypted assertions are not supported")
    assertions = [c for c in children if c.tag == f"{_SAML2}Assertion"]
    if len(assertions) > 1:
        raise _invalid(f"wsse:Security holds {len(assertions)} saml2:Assertion elements; exactly one is allowed")
    return assertions[0] if assertions else None


def _check_issuer(facts: saml.AssertionFacts, signed: xmldsig.VerifiedSignature, policy: Policy) -> None:
    if not policy.check_issuer_dn or facts.issuer_format != saml.X509_SUBJECT_NAME:
        return
    subject = signed.certificate.subject.rfc4514_string()
    issuer_key = saml.dn_key(facts.issuer)
    if issuer_key is None or issuer_key != saml.dn_key(subject):
        raise SecurityFault(
            WsseFault.FAILED_AUTHENTICATION,
            f"the Issuer {facts.issuer!r} is not the subject of the signing certificate ({subject!r})",
        )


def _check_required(attributes: dict[str, saml.SamlAttribute], policy: Policy) -> None:
    required = set(policy.required_attributes)
    if policy.profile is Profile.VIHF:
        required |= vihf.required(attributes)
    for name in sorted(required):
        attr = attributes.get(name)
        if attr is None or not any(v.text or v.element is not None for v in attr.values):
            raise SecurityFault(WsseFault.INVALID_SECURITY_TOKEN, f"the required attribute {name} is missing")


def holder_name(cert: x509.Certificate) -> str:
    """"SURNAME, Given name" of a professional card's certificate, else its CN (else its whole DN)."""
    def first(oid: x509.ObjectIdentifier) -> str:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else ""
    surname, given = first(NameOID.SURNAME), first(NameOID.GIVEN_NAME)
    if surname:
        return f"{surname}, {given}" if given else surname
    return first(NameOID.COMMON_NAME) or cert.subject.rfc4514_string()


def principal_from(
    facts: saml.AssertionFacts, signed: xmldsig.VerifiedSignature, policy: Policy, by_tls: bool = False,
    forwarder: x509.Certificate | None = None,
) -> Principal:
    """Map the verified assertion's facts and attributes to a Principal. `by_tls`: the caller was
    authenticated by its TLS client certificate (DMP DIRECTE, unsigned VIHF), whose holder names it;
    `forwarder`: on the connection of that trusted forwarder, which passed the card on."""
    attributes = facts.attributes
    _check_required(attributes, policy)
    claims = xua.read_claims(attributes)
    french = vihf.read_claims(attributes, claims) if (policy.profile is Profile.VIHF or vihf.is_vihf(attributes)) else None
    return Principal(
        subject_id=claims.subject_id or (holder_name(signed.certificate) if by_tls else facts.name_id),
        authenticated_by=(AuthenticatedBy.FORWARDED_TLS_CLIENT_CERTIFICATE if forwarder is not None
                          else AuthenticatedBy.TLS_CLIENT_CERTIFICATE if by_tls else AuthenticatedBy.SIGNATURE),
        forwarded_by=_certificate_of(forwarder) if forwarder is not None else None,
        name_id=facts.name_id,
        issuer=facts.issuer,
        sp_provided_id=facts.sp_provided_id,
        assertion_id=facts.assertion_id,
        authn_context=facts.authn_context,
        authn_instant=facts.authn_instant,
        signer=signed.signer(),
        organization=claims.organization,
        organization_id=claims.organization_id,
        roles=claims.roles,
        purpose_of_use=claims.purpose_of_use,
        resource_id=claims.resource_id,
        vihf_version=french.version if french else "",
        authentication_mode=french.authentication_mode if french else "",
        structure_id=french.structure_id if french else "",
        activity_sector=french.activity_sector if french else "",
        resource_urn=french.resource_urn if french else "",
        access_mode=french.access_mode if french else AccessMode.NORMAL.value,
        confidentiality_codes=french.confidentiality_codes if french else (),
        software=french.software if french else {},
        attributes={name: xua.text_values(attr) for name, attr in attributes.items()},
    )


def is_trusted_forwarder(client_certificate: x509.Certificate | None, policy: Policy) -> bool:
    """The connection's TLS client certificate is one of the pinned trusted forwarders."""
    return client_certificate is not None and forwarded.fingerprint(client_certificate) in policy.trusted_forwarders


def _certificate_of(cert: x509.Certificate) -> SignerCertificate:
    der = cert.public_bytes(Encoding.DER)
    return xmldsig.VerifiedSignature(cert, (), TLS_CLIENT_AUTH, der).signer()


def _forwarded_card(security: etree._Element | None, forwarder: x509.Certificate) -> x509.Certificate:
    card = forwarded.read_card(security) if security is not None else None
    if card is None:
        raise SecurityFault(
            WsseFault.FAILED_AUTHENTICATION,
            f"the trusted forwarder {forwarder.subject.rfc4514_string()!r} passed an unsigned DIRECTE VIHF without the "
            "card it verified (a wsse:BinarySecurityToken, X509v3)",
        )
    return card


def verify_unsigned_directe(
    assertion: etree._Element, policy: Policy, client_certificate: x509.Certificate | None,
    security: etree._Element | None = None,
) -> Principal:
    """An unsigned assertion is accepted in one case only: a DMP VIHF in DIRECTE mode, authenticated by the
    professional's card, which chains to the trust anchors and whose DN is the Issuer. The card is the TLS
    client certificate of the connection (the official DIRECTE requests, dmp-services.md), or, when that
    certificate is a trusted forwarder's (`policy.trusted_forwarders`), the card the forwarder passed on in
    `security` (xdscore.forwarded)."""
    attributes = saml.read_attributes(assertion)
    french = policy.profile is Profile.VIHF or vihf.is_vihf(attributes)
    mode = vihf.authentication_mode(attributes) if french else ""
    if mode != vihf.DIRECTE:
        hint = " (an INDIRECTE VIHF is signed with the structure's seal certificate)" if mode.startswith(vihf.INDIRECTE) else ""
        raise SecurityFault(WsseFault.INVALID_SECURITY_TOKEN, f"the SAML assertion is not signed{hint}")
    if client_certificate is None:
        raise SecurityFault(
            WsseFault.FAILED_AUTHENTICATION,
            "the VIHF (DIRECTE) is not signed and the connection carries no verified TLS client certificate: an "
            "unsigned DIRECTE VIHF is accepted only over TLS authenticated by the professional's card",
        )
    forwarder = client_certificate if is_trusted_forwarder(client_certificate, policy) else None
    holder = _forwarded_card(security, forwarder) if forwarder is not None else client_certificate
    what = "the forwarded card" if forwarder is not None else "the TLS client certificate"
    try:
        chain = xmldsig.verify_chain(holder, [], policy.trust_anchors, policy.now)
    except SecurityFault as fault:
        raise SecurityFault(fault.kind, fault.reason.replace("the signing certificate", what)) from None
    card = xmldsig.VerifiedSignature(holder, chain, TLS_CLIENT_AUTH, holder.public_bytes(Encoding.DER))
    facts = saml.read_assertion(assertion, policy.now, policy.clock_skew, policy.audiences, policy.max_assertion_age)
    _check_issuer(facts, card, policy)
    return principal_from(facts, card, policy, by_tls=True, forwarder=forwarder)


def verify_assertion(
    assertion: etree._Element, policy: Policy, client_certificate: x509.Certificate | None = None,
    security: etree._Element | None = None,
) -> Principal:
    """Verify one located assertion (signature, chain, then content) and build the Principal; `security` is
    the wsse:Security element it was found in."""
    saml.check_shape(assertion)
    signature = xmldsig.find_signature(assertion)
    if signature is None:
        return verify_unsigned_directe(assertion, policy, client_certificate, security)
    signed = xmldsig.verify_enveloped(assertion, signature, policy.trust_anchors, policy.now, policy.allow_sha1)
    facts = saml.read_assertion(
        assertion, policy.now, policy.clock_skew, policy.audiences, policy.max_assertion_age
    )
    _check_issuer(facts, signed, policy)
    return principal_from(facts, signed, policy)


def verify(
    header: etree._Element | None, policy: Policy, client_certificate: x509.Certificate | None = None
) -> Principal | None:
    """Verify the WS-Security header of a request; see the module docstring for the order of checks.
    `client_certificate`: the TLS client certificate the connection was authenticated with, if any. A trusted
    forwarder (`policy.trusted_forwarders`) may call without an assertion even when one is required: its
    certificate, pinned in the settings, authenticates it (the repository's own ITI-18 before an ITI-43 or in
    its cleanup); who it acts for is then the access layer's to read (xdscore.access.forward)."""
    security = find_security_header(header)
    anonymous_allowed = not policy.require_assertion or is_trusted_forwarder(client_certificate, policy)
    if security is None:
        if not anonymous_allowed:
            raise _invalid("the message has no wsse:Security header; this service requires a signed SAML assertion")
        return None
    assert header is not None
    check_unique_ids(header.getroottree().getroot())
    check_timestamp(security, policy)
    assertion = find_assertion(security)
    if assertion is None:
        if not anonymous_allowed:
            raise _invalid("wsse:Security carries no saml2:Assertion; this service requires one")
        return None
    return verify_assertion(assertion, policy, client_certificate, security)
