"""The DMP's `/habilitations` messages (Habilitations.wsdl, namespace urn:si-dmp-habilitations): TD0.3
`setAuthorization` (action AJOUT / SUPPRESSION, optional role MEDECIN_TRAITANT; the patient is the VIHF's
resource-id, not in the body) and TD1.6 `listAuthorizationByPatient` (mode ACTIVE / INTERDITE / TOUTE).

The WSDL's schema is `elementFormDefault="unqualified"` with every child declared `form="qualified"`, so
every element is in the service namespace (as KIT-MSG's TD0.3 / TD1.6 pairs write them). A body we cannot
read raises `MessageError`, answered as a SOAP Sender fault (the WSDL has no fault message; a JAX-WS
service answers an unreadable body with a fault).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xdscore.dmpws.vocabulary import AuthorizationMode, DmpNS, HabilitationAction, HabilitationRole, ServiceStatus

_N = f"{{{DmpNS.HABILITATIONS}}}"
SET_AUTHORIZATION = f"{_N}setAuthorization"
LIST_AUTHORIZATIONS = f"{_N}listAuthorizationByPatient"


class MessageError(ValueError):
    """A body that is not the operation's element, or a value outside the WSDL's enumeration."""


@dataclass(frozen=True)
class SetAuthorization:
    action: HabilitationAction
    role: HabilitationRole | None = None


@dataclass(frozen=True)
class AuthorizationEntry:
    """One row of TD1.6 (`AuthorizationByPatient`)."""

    national_id: str
    national_id_type: str
    first_name: str = ""
    last_name: str = ""
    speciality_codes: tuple[str, ...] = ()  # e.g. G15_10/SM26
    speciality_labels: tuple[str, ...] = ()
    start: str = ""  # startOfAuthorization, YYYYMMDDhhmmss UTC
    last_action: str = ""
    mode: AuthorizationMode = AuthorizationMode.ACTIVE
    medecin_traitant: bool = False  # specificRight MEDECIN_TRAITANT


def _enum_child(body: etree._Element, name: str, kind: type[HabilitationAction] | type[HabilitationRole]
                | type[AuthorizationMode], required: bool) -> str | None:
    elements = body.findall(f"{_N}{name}")
    if len(elements) > 1:
        raise MessageError(f"{etree.QName(body).localname}: {name} is given {len(elements)} times (at most once)")
    if not elements:
        if required:
            raise MessageError(f"{etree.QName(body).localname}: {name} is missing")
        return None
    value = (elements[0].text or "").strip()
    allowed = [m.value for m in kind]
    if value not in allowed:
        raise MessageError(f"{etree.QName(body).localname}: {name} {value!r} is not one of {', '.join(allowed)}")
    return value


def _only(body: etree._Element, tag: str, children: set[str]) -> None:
    if body.tag != tag:
        raise MessageError(f"the body element is {body.tag}, expected {tag}")
    for child in body:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        name = etree.QName(child)
        if name.namespace != DmpNS.HABILITATIONS or name.localname not in children:
            raise MessageError(f"{etree.QName(body).localname}: unexpected element {child.tag}")


def read_set_authorization(body: etree._Element) -> SetAuthorization:
    _only(body, SET_AUTHORIZATION, {"action", "role"})
    # The WSDL makes action optional, but setAuthorization without one does nothing we can name.
    action = _enum_child(body, "action", HabilitationAction, required=True)
    role = _enum_child(body, "role", HabilitationRole, required=False)
    assert action is not None
    return SetAuthorization(HabilitationAction(action), HabilitationRole(role) if role else None)


def read_list_authorizations(body: etree._Element) -> AuthorizationMode:
    """The requested mode; the WSDL makes it optional: absent means TOUTE."""
    _only(body, LIST_AUTHORIZATIONS, {"mode"})
    mode = _enum_child(body, "mode", AuthorizationMode, required=False)
    return AuthorizationMode(mode) if mode else AuthorizationMode.TOUTE


def _sub(parent: etree._Element, name: str, text: str | None) -> etree._Element:
    el = etree.SubElement(parent, f"{_N}{name}")
    if text:
        el.text = text
    return el


def _response(name: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{_N}{name}", nsmap={"ns1": DmpNS.HABILITATIONS})
    return root, _sub(root, "output", None)


def set_authorization_response(status: ServiceStatus, context: str = "") -> etree._Element:
    root, output = _response("setAuthorizationResponse")
    _sub(output, "status", status.value)
    _sub(output, "context", context)
    return root


def list_authorizations_response(entries: list[AuthorizationEntry], status: ServiceStatus,
                                 context: str = "") -> etree._Element:
    root, output = _response("listAuthorizationByPatientResponse")
    for entry in entries:
        row = _sub(output, "listOfAuthorizationByPatient", None)
        _sub(row, "nationalId", entry.national_id)
        _sub(row, "nationalIdType", entry.national_id_type)
        if entry.first_name:
            _sub(row, "firstName", entry.first_name)
        if entry.last_name:
            _sub(row, "lastName", entry.last_name)
        for code in entry.speciality_codes:
            _sub(row, "codeSpeciality", code)
        for label in entry.speciality_labels:
            _sub(row, "libSpeciality", label)
        if entry.start:
            _sub(row, "startOfAuthorization", entry.start)
        if entry.last_action:
            _sub(row, "lastActionDate", entry.last_action)
        _sub(row, "mode", entry.mode.value)
        if entry.medecin_traitant:
            _sub(row, "specificRight", HabilitationRole.MEDECIN_TRAITANT.value)
    _sub(output, "status", status.value)
    _sub(output, "context", context)
    return root
