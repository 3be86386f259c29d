"""The caller a trusted system acts for: a SOAP header block from the repository to the registry.

In the DMP the registry and the repository are one system; here they are two services. The registry decides
the access rules (it holds the metadata and reads the patient records), so the repository asks it on behalf
of its caller: the ITI-42 of an ITI-41 (TD2.1) and an ITI-18 GetDocuments before an ITI-43 (TD3.2, so
that ITI-43 refuses exactly what the registry would hide). A signed VIHF is forwarded as it came; a DIRECTE
VIHF authenticated only by the card on the caller's own TLS connection proves nothing on another
connection (docs/dmp.md), so the repository states the verified caller in this block, and the registry
believes it only over a TLS connection whose client certificate it verified (the repository's) and when the
request carries no assertion of its own.

    <acc:OnBehalfOf xmlns:acc="urn:pyxds:access:1" operation="TD3.2" nameId=… subjectId=… issuer=…
        authenticationMode="DIRECTE" accessMode="normal" structureId=… resourceId=… vihfVersion="3.0"
        authenticatedBy="tls-client-certificate">
      <acc:Role code="10" codeSystem="1.2.250.1.71.1.2.7"/> …
      <acc:PurposeOfUse code="normal" codeSystem="1.2.250.1.213.1.1.4.248"/>
    </acc:OnBehalfOf>

This project's own header (not an IHE or DMP message), never sent to anyone but our registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xdscore.access.matrix import Operation
from xdscore.principal import AccessMode, AuthenticatedBy, CodedValue, Principal

NS_ACCESS = "urn:pyxds:access:1"
ON_BEHALF_OF = f"{{{NS_ACCESS}}}OnBehalfOf"
_ATTRIBUTES = (
    ("nameId", "name_id"), ("subjectId", "subject_id"), ("issuer", "issuer"), ("spProvidedId", "sp_provided_id"),
    ("authenticationMode", "authentication_mode"), ("accessMode", "access_mode"), ("structureId", "structure_id"),
    ("organization", "organization"), ("organizationId", "organization_id"), ("resourceId", "resource_id"),
    ("vihfVersion", "vihf_version"), ("assertionId", "assertion_id"),
)


@dataclass(frozen=True)
class Forwarded:
    principal: Principal
    operation: Operation | None = None  # the DMP transaction the registry decides for (TD3.2 for an ITI-43)


def write(principal: Principal, operation: Operation | None = None) -> etree._Element:
    element = etree.Element(ON_BEHALF_OF, nsmap={"acc": NS_ACCESS})
    if operation is not None:
        element.set("operation", operation.value)
    element.set("authenticatedBy", principal.authenticated_by.value)
    for attribute, name in _ATTRIBUTES:
        value = getattr(principal, name)
        if value:
            element.set(attribute, value)
    for tag, values in (("Role", principal.roles), ("PurposeOfUse", principal.purpose_of_use)):
        for v in values:
            etree.SubElement(element, f"{{{NS_ACCESS}}}{tag}", code=v.code, codeSystem=v.code_system,
                             displayName=v.display_name)
    return element


def _coded(element: etree._Element, tag: str) -> tuple[CodedValue, ...]:
    return tuple(CodedValue(e.get("code", ""), e.get("codeSystem", ""), e.get("displayName", ""))
                 for e in element.iterchildren(f"{{{NS_ACCESS}}}{tag}"))


def read(header: etree._Element | None) -> Forwarded | None:
    """The OnBehalfOf block of a soap:Header, None when there is none or it is unreadable."""
    if header is None:
        return None
    element = header.find(ON_BEHALF_OF)
    if element is None:
        return None
    values = {name: element.get(attribute, "") for attribute, name in _ATTRIBUTES}
    values["access_mode"] = values["access_mode"] or AccessMode.NORMAL.value
    try:
        operation = Operation(element.get("operation")) if element.get("operation") else None
        authenticated_by = AuthenticatedBy(element.get("authenticatedBy") or AuthenticatedBy.SIGNATURE.value)
    except ValueError:
        return None
    principal = Principal(roles=_coded(element, "Role"), purpose_of_use=_coded(element, "PurposeOfUse"),
                          authenticated_by=authenticated_by, **values)
    return Forwarded(principal, operation)
