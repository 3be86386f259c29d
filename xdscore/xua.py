"""IHE XUA attributes (ITI TF-2b 3.40.4.1.2; OASIS XSPA SAML profile) read from a verified assertion.

One table of attribute names, and one function that turns the attributes into the XUA part of a
`Principal`. Coded attributes (role, purposeofuse) carry an hl7:CE element in each AttributeValue.
A coded attribute that must be single (purposeofuse) and arrives twice is refused, like NIST's
`_secondpurposeofuse` XUA test variant; roles may have several values (the VIHF sends profession then
specialty in one Attribute), but the Attribute itself may appear only once (`_secondrole`; see
`xdscore.saml`).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdscore.principal import CodedValue
from xdscore.saml import SamlAttribute
from xdscore.wsse_faults import SecurityFault, WsseFault

HL7_NS = "urn:hl7-org:v3"

SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ORGANIZATION = "urn:oasis:names:tc:xspa:1.0:subject:organization"
ORGANIZATION_ID = "urn:oasis:names:tc:xspa:1.0:subject:organization-id"
NPI = "urn:oasis:names:tc:xspa:1.0:subject:npi"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
HOME_COMMUNITY_ID = "urn:nhin:names:saml:homeCommunityId"
ACP = "urn:ihe:iti:xua:2012:acp"  # Authz-Consent option: the patient privacy policy acknowledged
BPPC_DOCID = "urn:ihe:iti:bppc:2007:docid"

SINGLE_VALUED = frozenset({SUBJECT_ID, ORGANIZATION, ORGANIZATION_ID, PURPOSE_OF_USE, RESOURCE_ID, NPI})


def _token(reason: str) -> SecurityFault:
    return SecurityFault(WsseFault.INVALID_SECURITY_TOKEN, reason)


def coded_values(attr: SamlAttribute, element_name: str) -> tuple[CodedValue, ...]:
    """Each AttributeValue must hold one hl7 CE element (`hl7:Role`, `hl7:PurposeOfUse`) with a code."""
    out = []
    for value in attr.values:
        el = value.element
        if el is None or el.tag != f"{{{HL7_NS}}}{element_name}":
            raise _token(f"each value of {attr.name} must be an hl7:{element_name} element (HL7 v3 CE)")
        code = (el.get("code") or "").strip()
        if not code:
            raise _token(f"an hl7:{element_name} value of {attr.name} has no code")
        out.append(
            CodedValue(
                code=code,
                code_system=(el.get("codeSystem") or "").strip(),
                display_name=el.get("displayName") or "",
                code_system_name=el.get("codeSystemName") or "",
            )
        )
    return tuple(out)


def text_values(attr: SamlAttribute) -> tuple[str, ...]:
    """Attribute values as strings; a CE value is written `code^codeSystem` (the VIHF text convention)."""
    out = []
    for value in attr.values:
        if value.element is not None:
            out.append(f"{value.element.get('code', '')}^{value.element.get('codeSystem', '')}")
        else:
            out.append(value.text)
    return tuple(out)


def _check_single(attr: SamlAttribute) -> None:
    if len(attr.values) != 1:
        raise _token(f"attribute {attr.name} must have exactly one value, found {len(attr.values)}")


def single_text(attributes: dict[str, SamlAttribute], name: str) -> str:
    """The one text value of a plain-text attribute ("" when absent). An element in its place (an
    xi:include, a CE where a string is expected) is refused rather than read as `code^codeSystem`."""
    attr = attributes.get(name)
    if attr is None:
        return ""
    _check_single(attr)
    if attr.values[0].element is not None:
        raise _token(f"attribute {name} must hold text, not an element")
    return attr.values[0].text


@dataclass(frozen=True)
class XuaClaims:
    subject_id: str
    organization: str
    organization_id: str
    roles: tuple[CodedValue, ...]
    purpose_of_use: tuple[CodedValue, ...]
    resource_id: str


def read_claims(attributes: dict[str, SamlAttribute]) -> XuaClaims:
    """Map the XUA attributes; refuse malformed coded values and repeated single values."""
    for name in SINGLE_VALUED:
        if name in attributes:
            _check_single(attributes[name])
    roles = coded_values(attributes[ROLE], "Role") if ROLE in attributes else ()
    purpose = coded_values(attributes[PURPOSE_OF_USE], "PurposeOfUse") if PURPOSE_OF_USE in attributes else ()
    return XuaClaims(
        subject_id=single_text(attributes, SUBJECT_ID),
        organization=single_text(attributes, ORGANIZATION),
        organization_id=single_text(attributes, ORGANIZATION_ID),
        roles=roles,
        purpose_of_use=purpose,
        resource_id=single_text(attributes, RESOURCE_ID),
    )
