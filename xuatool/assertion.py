"""Build and sign test SAML 2.0 assertions: IHE XUA (ITI-40) or the French VIHF.

`AssertionSpec` holds every field a caller may want to vary; `build_assertion` writes the XML (same
layout as ANS's VIHF example: Issuer, Signature, Subject, Conditions, AuthnStatement,
AttributeStatement), `sign_assertion` adds the enveloped signature with xmlsec (exclusive c14n,
RSA-SHA256 by default; RSA-SHA1 and ECDSA-SHA256 on request) and the signer's certificate in KeyInfo.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass, field

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from xdscore import vihf, xua
from xdscore.saml import X509_SUBJECT_NAME
from xdscore.vocabulary import NS
from xuatool.pki import Credential

SAML = NS.SAML2
HL7 = xua.HL7_NS
XSI = NS.XSI
_S = f"{{{SAML}}}"

SMARTCARD_PKI = "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI"
UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

ALGORITHMS = {
    "rsa-sha256": (xmlsec.constants.TransformRsaSha256, xmlsec.constants.TransformSha256),
    "rsa-sha1": (xmlsec.constants.TransformRsaSha1, xmlsec.constants.TransformSha1),
    "rsa-sha512": (xmlsec.constants.TransformRsaSha512, xmlsec.constants.TransformSha512),
    "ecdsa-sha256": (xmlsec.constants.TransformEcdsaSha256, xmlsec.constants.TransformSha256),
    "ecdsa-sha1": (xmlsec.constants.TransformEcdsaSha1, xmlsec.constants.TransformSha1),
}


@dataclass(frozen=True)
class Code:
    code: str
    code_system: str
    display_name: str = ""
    code_system_name: str = ""

    @classmethod
    def parse(cls, text: str) -> Code:
        """`code^codeSystem[^displayName]`, the command-line form."""
        parts = text.split("^")
        return cls(parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else "")


MEDECIN = Code("10", "1.2.250.1.71.1.2.7", "Médecin", "TRE_G15-ProfessionSante")
MEDECINE_GENERALE = Code("SM26", "1.2.250.1.71.4.2.5", "Qualifié en Médecine Générale (SM)", "TRE_R01")
INFIRMIER = Code("60", "1.2.250.1.71.1.2.7", "Infirmier", "TRE_G15-ProfessionSante")
ACCESS_NORMAL = Code("normal", "1.2.250.1.213.1.1.4.248", "Accès normal", "mode acces VIHF 1.0")
ACCESS_BRIS_DE_GLACE = Code("bris_de_glace", "1.2.250.1.213.1.1.4.248", "Accès en bris de glace", "mode acces VIHF 1.0")
ACCESS_CENTRE_15 = Code("centre_15", "1.2.250.1.213.1.1.4.248", "Accès par le centre de régulation", "mode acces VIHF 1.0")
TREATMENT = Code("TREATMENT", "2.16.840.1.113883.3.18.7.1", "Healthcare Treatment", "nhin-purpose")
XUA_MEDICAL_DOCTOR = Code("112247003", "2.16.840.1.113883.6.96", "Medical doctor", "SNOMED_CT")


@dataclass
class AssertionSpec:
    """What goes into a test assertion. `profile` "vihf" adds the VIHF attributes."""

    profile: str = "vihf"
    issuer: str | None = None  # default: the signing certificate's subject DN
    issuer_format: str = X509_SUBJECT_NAME
    name_id: str = "899700000001"
    sp_provided_id: str = ""
    subject_id: str = "MEDECIN, TEST"
    organization: str = ""
    organization_id: str = ""
    roles: list[Code] = field(default_factory=lambda: [MEDECIN, MEDECINE_GENERALE])
    purpose_of_use: list[Code] = field(default_factory=lambda: [ACCESS_NORMAL])
    resource_id: str = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    audiences: list[str] = field(default_factory=list)
    lifetime: dt.timedelta | None = dt.timedelta(hours=1)  # None: no Conditions validity window
    not_before: dt.datetime | None = None  # default: issue instant - 1 minute
    not_on_or_after: dt.datetime | None = None  # default: issue instant + lifetime
    issue_instant: dt.datetime | None = None  # default: now
    authn_context: str = UNSPECIFIED
    authn_instant: dt.datetime | None = None
    subject_confirmation: str | None = BEARER
    # VIHF
    vihf_version: str = "4.0"
    authentication_mode: str = "INDIRECTE"
    structure_id: str = "10B0012345"
    activity_sector: str = "SA07^1.2.250.1.71.4.2.4"
    resource_urn: str = vihf.RESOURCE_URN_DMP
    lps_nom: str = "pyxds-xuatool"
    lps_version: str = "0.1"
    lps_id: str = "1.2.250.1.999.1.1"
    lps_homologation: str = "XUATOOL-TEST"
    extra_attributes: dict[str, list[str]] = field(default_factory=dict)
    omit_attributes: set[str] = field(default_factory=set)
    assertion_id: str | None = None

    @classmethod
    def xua(cls, **kw: object) -> AssertionSpec:
        """A plain IHE XUA assertion (no VIHF attributes), as an IHE X-Assertion Provider would issue."""
        base: dict[str, object] = {
            "profile": "xua",
            "name_id": "alice",
            "subject_id": "Alice Martin",
            "organization": "Test Hospital",
            "organization_id": "urn:oid:1.2.3.4.5",
            "roles": [XUA_MEDICAL_DOCTOR],
            "purpose_of_use": [TREATMENT],
            "resource_id": "IHERED-1000^^^&1.3.6.1.4.1.21367.13.20.1000&ISO",
            "issuer_format": "",
            "issuer": "https://sts.example.org/xua",
        }
        base.update(kw)
        return cls(**base)  # type: ignore[arg-type]


def _instant(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _attribute(statement: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(statement, f"{_S}Attribute", Name=name)


def add_text_attribute(statement: etree._Element, name: str, *values: str) -> etree._Element:
    attr = _attribute(statement, name)
    for v in values:
        etree.SubElement(attr, f"{_S}AttributeValue").text = v
    return attr


def add_coded_attribute(statement: etree._Element, name: str, element: str, codes: list[Code]) -> etree._Element:
    attr = _attribute(statement, name)
    for c in codes:
        value = etree.SubElement(attr, f"{_S}AttributeValue")
        ce = etree.SubElement(value, f"{{{HL7}}}{element}", nsmap={None: HL7})
        ce.set("code", c.code)
        ce.set("codeSystem", c.code_system)
        if c.code_system_name:
            ce.set("codeSystemName", c.code_system_name)
        if c.display_name:
            ce.set("displayName", c.display_name)
        ce.set(f"{{{XSI}}}type", "CE")
    return attr


def _attributes(spec: AssertionSpec) -> list[tuple[str, str, list[Code] | list[str]]]:
    """(name, kind, values) in the order of ANS's example; kind is "text", "Role" or "PurposeOfUse"."""
    rows: list[tuple[str, str, list[Code] | list[str]]] = []
    if spec.profile == "vihf":
        rows += [
            (vihf.VIHF_VERSION, "text", [spec.vihf_version]),
            (vihf.AUTHENTIFICATION_MODE, "text", [spec.authentication_mode]),
            (vihf.SECTEUR_ACTIVITE, "text", [spec.activity_sector]),
        ]
    if spec.resource_id:
        rows.append((xua.RESOURCE_ID, "text", [spec.resource_id]))
    if spec.profile == "vihf":
        rows.append((vihf.RESSOURCE_URN, "text", [spec.resource_urn]))
    rows.append((xua.SUBJECT_ID, "text", [spec.subject_id]))
    if spec.profile == "vihf":
        rows += [
            (vihf.IDENTIFIANT_STRUCTURE, "text", [spec.structure_id]),
            (vihf.LPS_VERSION, "text", [spec.lps_version]),
            (vihf.LPS_ID, "text", [spec.lps_id]),
            (vihf.LPS_NOM, "text", [spec.lps_nom]),
            (vihf.LPS_ID_HOMOLOGATION_DMP, "text", [spec.lps_homologation]),
        ]
    if spec.organization:
        rows.append((xua.ORGANIZATION, "text", [spec.organization]))
    if spec.organization_id:
        rows.append((xua.ORGANIZATION_ID, "text", [spec.organization_id]))
    if spec.purpose_of_use:
        rows.append((xua.PURPOSE_OF_USE, "PurposeOfUse", spec.purpose_of_use))
    if spec.roles:
        rows.append((xua.ROLE, "Role", spec.roles))
    for name, values in spec.extra_attributes.items():
        rows.append((name, "text", values))
    return [r for r in rows if r[0] not in spec.omit_attributes]


def build_assertion(spec: AssertionSpec, signer: Credential | None, now: dt.datetime | None = None) -> etree._Element:
    """The unsigned assertion element (a new document root)."""
    now = now or dt.datetime.now(dt.UTC)
    issued = spec.issue_instant or now
    a = etree.Element(f"{_S}Assertion", nsmap={"saml2": SAML, "xsi": XSI})
    a.set("ID", spec.assertion_id or f"_{uuid.uuid4()}")
    a.set("IssueInstant", _instant(issued))
    a.set("Version", "2.0")
    issuer = etree.SubElement(a, f"{_S}Issuer")
    if spec.issuer_format:
        issuer.set("Format", spec.issuer_format)
    if spec.issuer is not None:
        issuer.text = spec.issuer
    elif signer is not None:
        issuer.text = signer.certificate.subject.rfc4514_string()
    else:
        issuer.text = "CN=unsigned"
    subject = etree.SubElement(a, f"{_S}Subject")
    name_id = etree.SubElement(subject, f"{_S}NameID")
    name_id.text = spec.name_id
    if spec.sp_provided_id:
        name_id.set("SPProvidedID", spec.sp_provided_id)
    if spec.subject_confirmation:
        etree.SubElement(subject, f"{_S}SubjectConfirmation", Method=spec.subject_confirmation)
    not_before = spec.not_before or (issued - dt.timedelta(minutes=1) if spec.lifetime else None)
    not_after = spec.not_on_or_after or (issued + spec.lifetime if spec.lifetime else None)
    if not_before or not_after or spec.audiences:
        conditions = etree.SubElement(a, f"{_S}Conditions")
        if not_before:
            conditions.set("NotBefore", _instant(not_before))
        if not_after:
            conditions.set("NotOnOrAfter", _instant(not_after))
        if spec.audiences:
            restriction = etree.SubElement(conditions, f"{_S}AudienceRestriction")
            for audience in spec.audiences:
                etree.SubElement(restriction, f"{_S}Audience").text = audience
    authn = etree.SubElement(a, f"{_S}AuthnStatement", AuthnInstant=_instant(spec.authn_instant or issued))
    ctx = etree.SubElement(authn, f"{_S}AuthnContext")
    etree.SubElement(ctx, f"{_S}AuthnContextClassRef").text = spec.authn_context
    statement = etree.SubElement(a, f"{_S}AttributeStatement")
    for name, kind, values in _attributes(spec):
        if kind == "text":
            add_text_attribute(statement, name, *[str(v) for v in values])
        else:
            add_coded_attribute(statement, name, kind, [v for v in values if isinstance(v, Code)])
    return a


def sign_assertion(
    assertion: etree._Element,
    signer: Credential,
    algorithm: str | None = None,
    chain: tuple[x509.Certificate, ...] = (),
) -> etree._Element:
    """Add an enveloped signature right after saml2:Issuer (SAML core §5.4).

    Returns the signed assertion as a NEW element (re-parsed, see below; it replaces the original in
    its parent if it had one). `chain` certificates (intermediate CAs) follow the signer's in
    KeyInfo/X509Data."""
    if algorithm is None:
        algorithm = "ecdsa-sha256" if isinstance(signer.private_key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    sign_method, digest_method = ALGORITHMS[algorithm]
    sig = xmlsec.template.create(assertion, xmlsec.constants.TransformExclC14N, sign_method, ns="ds")
    assertion.insert(1, sig)
    ref = xmlsec.template.add_reference(sig, digest_method, uri=f"#{assertion.get('ID')}")
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(sig))
    ctx = xmlsec.SignatureContext()  # single-use
    key = xmlsec.Key.from_memory(signer.key_pem(), xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(signer.cert_pem(), xmlsec.constants.KeyDataFormatCertPem)
    ctx.key = key
    ctx.register_id(assertion, "ID")
    ctx.sign(sig)
    # Nodes that xmlsec creates are invisible to lxml's find() (their names are not in the document's
    # name dictionary), so hand back a re-parsed copy that every lxml call sees whole.
    signed = etree.fromstring(etree.tostring(assertion))
    if chain:
        _fill_chain(signed, signer, chain)
    parent = assertion.getparent()
    if parent is not None:
        parent.replace(assertion, signed)
    return signed


def _fill_chain(assertion: etree._Element, signer: Credential, chain: tuple[x509.Certificate, ...]) -> None:
    # KeyInfo is outside SignedInfo, so adding certificates after signing is legitimate.
    ds = f"{{{NS.DS}}}"
    x509_data = assertion.find(f"{ds}Signature/{ds}KeyInfo/{ds}X509Data")
    assert x509_data is not None
    for el in list(x509_data):
        x509_data.remove(el)
    for cert in (signer.certificate, *chain):
        el = etree.SubElement(x509_data, f"{ds}X509Certificate")
        el.text = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
