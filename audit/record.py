"""Reading a received ATNA message into the fields the audit repository indexes (ITI TF-2a 3.20; PS3.15 A.5).

`read_message` takes the bytes of one syslog message (RFC 5424) and returns an `AuditRecord`, or raises
`Rejected` with the reason the message cannot be stored as an audit event. Pure: no I/O, no clock.

What is read, beyond the event codes:
- the requestor: the human requestor (a non-source, non-destination participant with UserIsRequestor)
  when there is one, else whichever participant is the requestor, else the source;
- the requestor's organisation: the participant `xdscore.audit_events` adds after the human requestor
  (no role code, not requestor);
- the DMP access mode: a PurposeOfUse coded normal / bris_de_glace / centre_15;
- patients (participant objects of role 1 Patient), documents (role 3 Report, with their repository and
  community), the submission set (role 20 Job) and the stored query (role 24 Query).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from xdscore import syslog, xmlsafe
from xdscore.errors import SoapFault
from xdscore.principal import AccessMode

_ROLE_SOURCE, _ROLE_DESTINATION = "110153", "110152"
_ACCESS_MODES = frozenset(mode.value for mode in AccessMode)


class Rejected(ValueError):
    """Why a message is not an audit event we can store (kept with the raw bytes as a rejected record)."""


@dataclass(frozen=True)
class Code:
    code: str
    system: str
    text: str


@dataclass(frozen=True)
class Participant:
    user_id: str
    user_name: str
    alternative_user_id: str
    requestor: bool
    address: str
    roles: tuple[Code, ...]

    def has_role(self, code: str) -> bool:
        return any(r.code == code for r in self.roles)


@dataclass(frozen=True)
class Document:
    unique_id: str
    repository_unique_id: str = ""
    home_community_id: str = ""


@dataclass(frozen=True)
class AuditRecord:
    digest: str  # sha256 of the syslog message: the same message received twice is stored once
    syslog_timestamp: str
    syslog_hostname: str
    syslog_app_name: str
    syslog_procid: str
    event_id: str
    event_name: str
    event_action: str
    event_type: str  # e.g. ITI-43
    event_type_name: str
    event_time: datetime
    outcome: int
    user_id: str
    user_name: str
    user_roles: tuple[Code, ...]
    organisation_id: str
    organisation: str
    access_mode: str
    purposes: tuple[Code, ...]
    source_user_id: str
    source_address: str
    destination_user_id: str
    destination_address: str
    audit_source_id: str
    submission_set_id: str
    query_id: str
    patient_ids: tuple[str, ...]
    documents: tuple[Document, ...] = field(default=())
    message: bytes = b""  # the AuditMessage XML as received


def _code(element: etree._Element) -> Code:
    return Code(
        element.get("csd-code") or element.get("code") or "",
        element.get("codeSystemName") or element.get("codeSystem") or "",
        element.get("originalText") or element.get("displayName") or "",
    )


def _datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Rejected(f"EventDateTime {text!r} is not an xs:dateTime") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _detail(element: etree._Element, kind: str) -> str:
    for detail in element.findall("ParticipantObjectDetail"):
        if detail.get("type") == kind:
            try:
                return base64.b64decode(detail.get("value", ""), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return str(detail.get("value", ""))
    return ""


def read_audit_message(xml: bytes, max_bytes: int) -> etree._Element:
    try:
        root = xmlsafe.parse_bytes(xml, max_bytes, "AuditMessage")
    except SoapFault as fault:
        raise Rejected(fault.reason) from None
    if etree.QName(root).localname != "AuditMessage":
        raise Rejected(f"root element is {etree.QName(root).localname}, not AuditMessage")
    return root


def read_message(data: bytes, max_bytes: int = syslog.DEFAULT_MAX_FRAME) -> AuditRecord:
    """The audit record carried by one RFC 5424 message."""
    try:
        message = syslog.decode(data)
    except syslog.SyslogError as exc:
        raise Rejected(f"not an RFC 5424 syslog message: {exc}") from None
    if not message.msg:
        raise Rejected("syslog message has no MSG part")
    root = read_audit_message(message.msg, max_bytes)
    ident = root.find("EventIdentification")
    if ident is None or ident.find("EventID") is None:
        raise Rejected("AuditMessage has no EventIdentification/EventID")
    event_id = _code(ident.find("EventID"))
    type_element = ident.find("EventTypeCode")
    event_type = _code(type_element) if type_element is not None else Code("", "", "")
    purposes = tuple(_code(p) for p in ident.findall("PurposeOfUse"))
    outcome_text = ident.get("EventOutcomeIndicator", "")
    if not outcome_text.isdigit():
        raise Rejected(f"EventOutcomeIndicator {outcome_text!r} is not a number")

    participants = [
        Participant(
            ap.get("UserID", ""), ap.get("UserName", ""), ap.get("AlternativeUserID", ""),
            ap.get("UserIsRequestor", "").strip().lower() in ("true", "1"), ap.get("NetworkAccessPointID", ""),
            tuple(_code(r) for r in ap.findall("RoleIDCode")),
        )
        for ap in root.findall("ActiveParticipant")
    ]
    if not participants:
        raise Rejected("AuditMessage has no ActiveParticipant")
    source = next((p for p in participants if p.has_role(_ROLE_SOURCE)), None)
    destination = next((p for p in participants if p.has_role(_ROLE_DESTINATION)), None)
    ends = (source, destination)
    human = next((p for p in participants if p.requestor and p not in ends), None)
    requestor = human or next((p for p in participants if p.requestor), None) or source or participants[0]
    organisation = None
    if human is not None:
        after = participants[participants.index(human) + 1 :]
        organisation = next((p for p in after if not p.roles and not p.requestor and p not in ends), None)

    patients: list[str] = []
    documents: list[Document] = []
    submission_set = query = ""
    for obj in root.findall("ParticipantObjectIdentification"):
        object_id, role = obj.get("ParticipantObjectID", ""), obj.get("ParticipantObjectTypeCodeRole", "")
        if role == "1" and object_id:
            patients.append(object_id)
        elif role == "3" and object_id:
            documents.append(Document(object_id, _detail(obj, "Repository Unique Id"),
                                      _detail(obj, "ihe:homeCommunityID")))
        elif role == "20":
            submission_set = object_id
        elif role == "24":
            query = object_id
    audit_source = root.find("AuditSourceIdentification")

    return AuditRecord(
        digest=hashlib.sha256(data).hexdigest(),
        syslog_timestamp=message.timestamp or "",
        syslog_hostname=message.hostname or "",
        syslog_app_name=message.app_name or "",
        syslog_procid=message.procid or "",
        event_id=event_id.code,
        event_name=event_id.text,
        event_action=ident.get("EventActionCode", ""),
        event_type=event_type.code,
        event_type_name=event_type.text,
        event_time=_datetime(ident.get("EventDateTime", "")),
        outcome=int(outcome_text),
        user_id=requestor.user_id,
        user_name=requestor.user_name,
        user_roles=requestor.roles if requestor is human else (),
        organisation_id=organisation.user_id if organisation else "",
        organisation=organisation.user_name if organisation else "",
        access_mode=next((p.code for p in purposes if p.code in _ACCESS_MODES), ""),
        purposes=purposes,
        source_user_id=source.user_id if source else "",
        source_address=source.address if source else "",
        destination_user_id=destination.user_id if destination else "",
        destination_address=destination.address if destination else "",
        audit_source_id=audit_source.get("AuditSourceID", "") if audit_source is not None else "",
        submission_set_id=submission_set,
        query_id=query,
        patient_ids=tuple(dict.fromkeys(patients)),
        documents=tuple(documents),
        message=message.msg,
    )
