"""Reading a received ATNA message into the fields the audit repository indexes (ITI TF-2a 3.20; PS3.15 A.5).

`read_message` takes the bytes of one syslog message (RFC 5424) and returns an `AuditRecord`, or raises
`Rejected` with the reason the message cannot be stored as an audit event. Pure: no I/O, no clock.

Every value is validated and bounded here, before it can reach SQL: EventOutcomeIndicator is one of the
DICOM values (0, 4, 8, 12), EventActionCode one of C R U D E, EventDateTime an xs:dateTime whose UTC
instant is a representable date (years 0001-9999; offsets within ±14:00), identifiers no longer than
their column (`LIMITS`, in characters, and at most `MAX_KEY_BYTES` of UTF-8 so that PostgreSQL indexes
take them), display texts cut to their column, and no text holds a control character. A message that
breaks one of these is rejected with the reason, never half-stored (docs/audit.md, "Poison messages").

What is read, beyond the event codes:
- the requestor: the human requestor (a non-source, non-destination participant with UserIsRequestor)
  when there is one, else whichever participant is the requestor, else the source;
- the requestor's organisation: the participant `xdscore.audit_events` adds after the human requestor
  (no role code, not requestor);
- the DMP access mode: a PurposeOfUse coded normal / bris_de_glace / centre_15;
- patients (participant objects of role 1 Patient), documents (role 3 Report, with their repository and
  community), the submission set (role 20 Job) and the stored query (role 24 Query). Each patient id also
  gets its key (`patient_key`): CX.1 and the assigning authority's universal id (CX.4.2), so the trace
  finds a patient whichever way a sender wrote the CX (`123^^^&1.2.3&ISO^NH` is `123^^^&1.2.3&ISO`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import partial

from lxml import etree

from xdscore import syslog, xmlsafe
from xdscore.errors import SoapFault
from xdscore.model import PatientKey
from xdscore.principal import AccessMode
from xdsservice import names

_ROLE_SOURCE, _ROLE_DESTINATION = "110153", "110152"
_ACCESS_MODES = frozenset(mode.value for mode in AccessMode)
OUTCOMES = frozenset({0, 4, 8, 12})  # DICOM PS3.15 A.5.1 EventOutcomeIndicator
ACTIONS = frozenset({"", "C", "R", "U", "D", "E"})  # EventActionCode (optional)

# Column sizes, in characters (audit.store builds its columns from this table). Identifiers longer than
# their column are refused: cutting one could make it name someone else. Display texts are cut.
LIMITS: dict[str, int] = {
    "event_id": 64, "event_type": 64, "user_id": 1024, "organisation_id": 1024, "source_user_id": 1024,
    "source_address": 255, "destination_user_id": 1024, "destination_address": 255, "audit_source_id": 255,
    "submission_set_id": 255, "query_id": 255, "patient_id": 512, "document_unique_id": 255,
    "repository_unique_id": 255, "home_community_id": 255,
    # display texts
    "event_name": 255, "event_type_name": 255, "user_name": 1024, "organisation": 1024,
    "outcome_description": 2000,
}
TEXTS = frozenset({"event_name", "event_type_name", "user_name", "organisation", "outcome_description"})
MAX_KEY_BYTES = 2000  # a PostgreSQL b-tree entry holds at most ~2,700 bytes: indexed identifiers stay below
MAX_LIST = 10_000  # patients or documents named by one message
# XML 1.0 cannot carry these, but a base64 ParticipantObjectDetail can; PostgreSQL text refuses NUL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_XS_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-](\d{2}):(\d{2}))?", re.ASCII
)


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
    patient_keys: tuple[str, ...] = ()  # patient_key() of each patient id, in the same order (set by `bounded`)
    message: bytes = b""  # the AuditMessage XML as received
    outcome_description: str = ""  # EventOutcomeDescription (DMP profile: the access decision)


def _code(element: etree._Element) -> Code:
    return Code(
        element.get("csd-code") or element.get("code") or "",
        element.get("codeSystemName") or element.get("codeSystem") or "",
        element.get("originalText") or element.get("displayName") or "",
    )


def _datetime(text: str) -> datetime:
    """An xs:dateTime as a UTC datetime; no offset means UTC. Refused when the UTC instant has no date
    in 0001-9999 (9999-12-31T23:59:59-14:00 is in year 10000), or the text is not an xs:dateTime."""
    shown = text if len(text) <= 64 else text[:64] + "..."
    match = _XS_DATETIME.fullmatch(text.strip())
    if match is None:
        raise Rejected(f"EventDateTime {shown!r} is not an xs:dateTime")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone, zone_hours, zone_minutes = match.group(7), match.group(8), match.group(9), match.group(10)
    offset = timedelta(0)
    if zone and zone != "Z":
        hours, minutes = int(zone_hours), int(zone_minutes)
        if hours > 14 or minutes > 59 or (hours == 14 and minutes):
            raise Rejected(f"EventDateTime {shown!r} has a time zone offset beyond ±14:00")
        offset = timedelta(hours=hours, minutes=minutes) * (-1 if zone[0] == "-" else 1)
    try:
        moment = datetime(year, month, day, hour, minute, second, int((fraction or "0")[:6].ljust(6, "0")),
                          tzinfo=timezone(offset))
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Rejected(f"EventDateTime {shown!r} is not a date-time between 0001 and 9999 in UTC") from None


def _outcome(text: str) -> int:
    text = text.strip(" \t\r\n")  # xs:integer collapses whitespace
    if not (text.isascii() and text.isdigit() and len(text) <= 2 and int(text) in OUTCOMES):
        shown = text if len(text) <= 32 else text[:32] + "..."
        raise Rejected(f"EventOutcomeIndicator {shown!r} is not one of 0, 4, 8, 12")
    return int(text)


def _checked(name: str, value: str) -> str:
    """`value` within its column: an identifier too long is refused, a display text is cut."""
    if CONTROL_CHARACTERS.search(value):
        raise Rejected(f"{name} holds a control character")
    limit = LIMITS[name]
    if len(value) > limit or (name not in TEXTS and len(value.encode("utf-8")) > MAX_KEY_BYTES):
        if name in TEXTS:
            return value[: limit - 1] + "…"
        raise Rejected(f"{name} is longer than {limit} characters ({MAX_KEY_BYTES} bytes)")
    return value


def patient_key(patient_id: str) -> str:
    """What a patient is matched on: CX.1 and the assigning authority (CX.4.2, its universal id, else CX.4.1),
    written `id^^^&authority&ISO` (`xdscore.model.PatientKey`, as the registry and the DMP records key
    patients). Other components (CX.4.3, CX.5 `NH` / `PI`...) do not tell patients apart. An id with no
    assigning authority is its own key, as given."""
    key = PatientKey.parse(patient_id.strip())
    return str(key) if key is not None else patient_id


def _code_checked(code: Code) -> Code:
    if any(CONTROL_CHARACTERS.search(part) for part in (code.code, code.system, code.text)):
        raise Rejected("a coded value holds a control character")
    return code


def bounded(record: AuditRecord) -> AuditRecord:
    """`record` with every value checked against what the store can hold; `Rejected` otherwise."""
    if record.event_action not in ACTIONS:
        raise Rejected(f"EventActionCode {record.event_action[:16]!r} is not one of C, R, U, D, E")
    if record.outcome not in OUTCOMES:
        raise Rejected(f"EventOutcomeIndicator {record.outcome} is not one of 0, 4, 8, 12")
    if len(record.patient_ids) > MAX_LIST or len(record.documents) > MAX_LIST:
        raise Rejected(f"the message names more than {MAX_LIST} patients or documents")
    changes: dict[str, object] = {name: _checked(name, getattr(record, name)) for name in LIMITS
                                  if hasattr(record, name)}
    changes["patient_ids"] = patients = tuple(_checked("patient_id", p) for p in record.patient_ids)
    changes["patient_keys"] = tuple(_checked("patient_id", patient_key(p)) for p in patients)
    changes["documents"] = tuple(
        Document(_checked("document_unique_id", d.unique_id), _checked("repository_unique_id", d.repository_unique_id),
                 _checked("home_community_id", d.home_community_id))
        for d in record.documents
    )
    changes["user_roles"] = tuple(_code_checked(c) for c in record.user_roles)
    changes["purposes"] = tuple(_code_checked(c) for c in record.purposes)
    return dataclasses.replace(record, **changes)


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
    # Parsed where its names may go: on a thread of its own when they are new (xdsservice.names, issue 16).
    return names.parse_here(message.msg, partial(_record, data, message, max_bytes), "audit-record")


def _record(data: bytes, message: syslog.SyslogMessage, max_bytes: int) -> AuditRecord:
    root = read_audit_message(message.msg, max_bytes)
    ident = root.find("EventIdentification")
    if ident is None or ident.find("EventID") is None:
        raise Rejected("AuditMessage has no EventIdentification/EventID")
    event_id = _code(ident.find("EventID"))
    type_element = ident.find("EventTypeCode")
    event_type = _code(type_element) if type_element is not None else Code("", "", "")
    purposes = tuple(_code(p) for p in ident.findall("PurposeOfUse"))
    outcome = _outcome(ident.get("EventOutcomeIndicator", ""))
    event_time = _datetime(ident.get("EventDateTime", ""))

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

    return bounded(AuditRecord(
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
        event_time=event_time,
        outcome=outcome,
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
        outcome_description=(ident.findtext("EventOutcomeDescription") or "").strip(),
    ))
