"""Named test assertions, valid and invalid, each with the fault a verifying service must answer.

The names follow the NIST XDS test kit's XUA variants (tests 11966_*, 11990_*, 11897_*: `expired`,
`notyetvalid`, `unsigned`, `unknownaudience`, `invalidauthnstatement`, `secondrole`,
`secondpurposeofuse`, `secondauthncontext`, `withauthzconsent`), which the Gazelle STS issues on
request; the rest cover what the kit does not (untrusted signer, tampering, VIHF rules...).
How the "second" variants are built (our reading of the Gazelle names): a second Attribute element
with the same Name; a second AuthnContextClassRef.

`make(name, ctx)` returns a ready wsse:Security element; `expected_fault(name, profile)` the wsse
subcode (None = accepted). `unknownaudience` is refused only by a service that enforces an audience.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from xdscore import vihf, xua
from xdscore.vocabulary import NS
from xdscore.wsse_faults import WsseFault
from xuatool.assertion import (
    ACCESS_BRIS_DE_GLACE,
    INFIRMIER,
    SMARTCARD_PKI,
    AssertionSpec,
    Code,
    build_assertion,
    sign_assertion,
)
from xuatool.header import security_header, timestamp_for
from xuatool.pki import Credential, TestPki

_S = f"{{{NS.SAML2}}}"


@dataclass(frozen=True)
class VariantContext:
    pki: TestPki
    now: dt.datetime
    profile: str = "vihf"  # "vihf" | "xua"
    audience: str | None = None  # the service's audience: valid variants are addressed to it
    signer: str = "seal"  # "seal" (INDIRECTE) or "card" (DIRECTE)
    timestamp: bool = True

    def spec(self, **overrides: object) -> AssertionSpec:
        base = AssertionSpec.xua() if self.profile == "xua" else AssertionSpec()
        if self.signer == "card":
            base = replace(base, authentication_mode="DIRECTE", authn_context=SMARTCARD_PKI)
        if self.audience:
            base = replace(base, audiences=[self.audience])
        base = replace(base, issue_instant=self.now)
        return replace(base, **overrides)  # type: ignore[arg-type]

    def credential(self) -> Credential:
        cred: Credential = getattr(self.pki, self.signer)
        return cred


Builder = Callable[[VariantContext], etree._Element]


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    expected: WsseFault | None
    build: Builder
    profiles: tuple[str, ...] = ("vihf", "xua")
    needs_audience: bool = False
    tags: tuple[str, ...] = field(default=())


def signed_security(
    ctx: VariantContext,
    spec: AssertionSpec,
    signer: Credential | None = None,
    algorithm: str | None = None,
    before_sign: Callable[[etree._Element], None] | None = None,
    after_sign: Callable[[etree._Element], None] | None = None,
    timestamp: tuple[dt.datetime, dt.datetime] | None = None,
) -> etree._Element:
    cred = signer or ctx.credential()
    assertion = build_assertion(spec, cred, ctx.now)
    if before_sign:
        before_sign(assertion)
    assertion = sign_assertion(assertion, cred, algorithm)
    if after_sign:
        after_sign(assertion)
    stamp = timestamp or (timestamp_for(ctx.now) if ctx.timestamp else None)
    return security_header(assertion, stamp)


def _valid(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec())


def _expired(ctx: VariantContext) -> etree._Element:
    issued = ctx.now - dt.timedelta(hours=2)
    return signed_security(ctx, ctx.spec(issue_instant=issued, lifetime=dt.timedelta(hours=1)))


def _not_yet_valid(ctx: VariantContext) -> etree._Element:
    start = ctx.now + dt.timedelta(hours=1)
    return signed_security(ctx, ctx.spec(not_before=start, not_on_or_after=start + dt.timedelta(hours=1)))


def _unsigned(ctx: VariantContext) -> etree._Element:
    return security_header(build_assertion(ctx.spec(), ctx.credential(), ctx.now), timestamp_for(ctx.now))


def _untrusted(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec(), signer=ctx.pki.rogue)


def _expired_certificate(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec(), signer=ctx.pki.expired)


def _tampered(ctx: VariantContext) -> etree._Element:
    def change_subject(a: etree._Element) -> None:
        name_id = a.find(f"{_S}Subject/{_S}NameID")
        assert name_id is not None
        name_id.text = "899700099999"

    return signed_security(ctx, ctx.spec(), after_sign=change_subject)


def _unknown_audience(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec(audiences=["urn:example:unknown-audience"]))


def _duplicate_attribute(name: str) -> Callable[[etree._Element], None]:
    def duplicate(a: etree._Element) -> None:
        for attr in a.iter(f"{_S}Attribute"):
            if attr.get("Name") == name:
                copy = etree.fromstring(etree.tostring(attr))
                attr.addnext(copy)
                return

    return duplicate


def _second_role(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec(), before_sign=_duplicate_attribute(xua.ROLE))


def _second_purpose(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec(), before_sign=_duplicate_attribute(xua.PURPOSE_OF_USE))


def _second_authn_context(ctx: VariantContext) -> etree._Element:
    def add(a: etree._Element) -> None:
        ref = a.find(f"{_S}AuthnStatement/{_S}AuthnContext/{_S}AuthnContextClassRef")
        assert ref is not None
        extra = etree.Element(f"{_S}AuthnContextClassRef")
        extra.text = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
        ref.addnext(extra)

    return signed_security(ctx, ctx.spec(), before_sign=add)


def _invalid_authn_statement(ctx: VariantContext) -> etree._Element:
    def drop_instant(a: etree._Element) -> None:
        st = a.find(f"{_S}AuthnStatement")
        assert st is not None
        del st.attrib["AuthnInstant"]

    return signed_security(ctx, ctx.spec(), before_sign=drop_instant)


def _with_authz_consent(ctx: VariantContext) -> etree._Element:
    extra = {xua.ACP: ["urn:oid:1.3.6.1.4.1.21367.2017.7.101"], xua.BPPC_DOCID: ["urn:oid:1.2.3.4.99.1"]}
    return signed_security(ctx, ctx.spec(extra_attributes=extra))


def _missing_attribute(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec(omit_attributes={vihf.IDENTIFIANT_STRUCTURE}))


def _issuer_mismatch(ctx: VariantContext) -> etree._Element:
    spec = ctx.spec(issuer="C=FR, O=SOME OTHER STRUCTURE, CN=DMP SIGN", issuer_format=AssertionSpec().issuer_format)
    return signed_security(ctx, spec)


def _expired_timestamp(ctx: VariantContext) -> etree._Element:
    stamp = (ctx.now - dt.timedelta(minutes=30), ctx.now - dt.timedelta(minutes=20))
    return signed_security(ctx, ctx.spec(), timestamp=stamp)


def _bad_access_mode(ctx: VariantContext) -> etree._Element:
    code = Code("urgence", "1.2.250.1.213.1.1.4.248", "not an ANS code")
    return signed_security(ctx, ctx.spec(purpose_of_use=[code]))


def _wrong_resource_urn(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec(resource_urn="urn:other"))


def _bris_de_glace(ctx: VariantContext) -> etree._Element:
    return signed_security(ctx, ctx.spec(purpose_of_use=[ACCESS_BRIS_DE_GLACE], roles=[INFIRMIER]))


def _sha1(ctx: VariantContext) -> etree._Element:
    ec_key = isinstance(ctx.credential().private_key, ec.EllipticCurvePrivateKey)
    return signed_security(ctx, ctx.spec(), algorithm="ecdsa-sha1" if ec_key else "rsa-sha1")


_ALL = [
    Variant("valid", "a valid assertion addressed to the service", None, _valid),
    Variant("withauthzconsent", "valid, with the XUA Authz-Consent (ACP) attributes", None, _with_authz_consent),
    Variant("sha1", "valid, signed with SHA-1 (RSA-SHA1) as older VIHF clients do", None, _sha1),
    Variant("bris_de_glace", "valid VIHF, emergency access mode, nurse", None, _bris_de_glace, ("vihf",)),
    Variant("expired", "Conditions/NotOnOrAfter one hour ago", WsseFault.INVALID_SECURITY_TOKEN, _expired),
    Variant("notyetvalid", "Conditions/NotBefore in one hour", WsseFault.INVALID_SECURITY_TOKEN, _not_yet_valid),
    Variant("unsigned", "no ds:Signature", WsseFault.INVALID_SECURITY_TOKEN, _unsigned),
    Variant("untrusted", "signed by a look-alike seal from an untrusted CA", WsseFault.FAILED_AUTHENTICATION, _untrusted),
    Variant(
        "expiredcertificate", "signed with a certificate past its validity", WsseFault.FAILED_AUTHENTICATION,
        _expired_certificate,
    ),
    Variant("tampered", "NameID changed after signing", WsseFault.FAILED_CHECK, _tampered),
    Variant(
        "unknownaudience", "AudienceRestriction names another service", WsseFault.FAILED_AUTHENTICATION,
        _unknown_audience, needs_audience=True,
    ),
    Variant("secondrole", "the role Attribute appears twice", WsseFault.INVALID_SECURITY_TOKEN, _second_role),
    Variant(
        "secondpurposeofuse", "the purposeofuse Attribute appears twice", WsseFault.INVALID_SECURITY_TOKEN,
        _second_purpose,
    ),
    Variant(
        "secondauthncontext", "two AuthnContextClassRef in AuthnContext", WsseFault.INVALID_SECURITY_TOKEN,
        _second_authn_context,
    ),
    Variant(
        "invalidauthnstatement", "AuthnStatement without AuthnInstant", WsseFault.INVALID_SECURITY_TOKEN,
        _invalid_authn_statement,
    ),
    Variant(
        "missingattribute", "VIHF without Identifiant_Structure", WsseFault.INVALID_SECURITY_TOKEN,
        _missing_attribute, ("vihf",),
    ),
    Variant(
        "issuermismatch", "X509SubjectName Issuer that is not the signer", WsseFault.FAILED_AUTHENTICATION,
        _issuer_mismatch,
    ),
    Variant("expiredtimestamp", "wsu:Timestamp expired 20 minutes ago", WsseFault.MESSAGE_EXPIRED, _expired_timestamp),
    Variant(
        "badaccessmode", "VIHF purposeofuse code not in TRE_R248", WsseFault.INVALID_SECURITY_TOKEN,
        _bad_access_mode, ("vihf",),
    ),
    Variant(
        "wrongresourceurn", "VIHF Ressource_URN other than urn:dmp", WsseFault.INVALID_SECURITY_TOKEN,
        _wrong_resource_urn, ("vihf",),
    ),
]
VARIANTS: dict[str, Variant] = {v.name: v for v in _ALL}

# NIST test kit folder suffix -> variant (e.g. 11966_expired -> expired).
NIST_SUFFIXES = (
    "valid",
    "expired",
    "notyetvalid",
    "unsigned",
    "unknownaudience",
    "invalidauthnstatement",
    "secondrole",
    "secondpurposeofuse",
    "secondauthncontext",
    "withauthzconsent",
)


def names(profile: str = "vihf") -> list[str]:
    return [v.name for v in _ALL if profile in v.profiles]


def make(name: str, ctx: VariantContext) -> etree._Element:
    """The wsse:Security element of variant `name`."""
    variant = VARIANTS[name]
    if ctx.profile not in variant.profiles:
        raise ValueError(f"variant {name} applies to profiles {variant.profiles}, not {ctx.profile}")
    return variant.build(ctx)


def expected_fault(name: str, audience_enforced: bool = True) -> WsseFault | None:
    variant = VARIANTS[name]
    if variant.needs_audience and not audience_enforced:
        return None
    return variant.expected


def variant_for_nist_test(test_id: str) -> str | None:
    """`11966_secondrole` -> "secondrole"; plain test ids -> "valid"; unknown suffixes -> None."""
    if "_" not in test_id:
        return "valid"
    suffix = test_id.split("_", 1)[1]
    return suffix if suffix in NIST_SUFFIXES else None
