"""ATNA audit messages of the XDS.b transactions (ITI TF-2a 3.20 Record Audit Event; DICOM PS3.15 A.5).

One builder per transaction (ITI-41, ITI-42, ITI-57, ITI-18, ITI-43, ITI-8, and the DMP's own services), each a pure function of an
`AuditFacts` returning the DICOM AuditMessage documents (XML bytes) to send; `build` dispatches on
`AuditFacts.transaction`. The codes follow each transaction's "Audit Record Considerations" section
(ITI TF-2a 3.8.5.1, 3.18.5.1; TF-2b 3.41.5.1, 3.42.5.1, 3.43.6.1, 3.57.5.1) as IPF's server-side audit
strategies implement them (see ../shared/spec/xds-b.md §7.3). Where this module departs from IPF it says so.

Rules common to every message:
- ActiveParticipants are the source, the human requestor(s) from the XUA assertion, then the destination.
  Exactly one is UserIsRequestor="true" (DICOM PS3.15 A.5.2): the human when there is one, else the client.
- The human requestor is UserID `SPProvidedID<NameID@Issuer>` (ITI TF-2b 3.40.4.2) with the assertion's
  roles as RoleIDCode; UserName is the readable subject-id when the assertion has one (IPF repeats the
  alias there; the DMP access trace shown to patients needs the name). The requestor's organisation,
  when known, follows as one more ActiveParticipant without role code, never a requestor.
- The assertion's purposes of use, and the DMP access mode (normal / bris_de_glace / centre_15, VIHF),
  go into EventIdentification/PurposeOfUse.
- NetworkAccessPointTypeCode is 2 for an IP address and 1 for a machine name (PS3.15 A.5.1).
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache

from lxml import etree

from xdscore.principal import CodedValue, Principal
from xdscore.vocabulary import UUID, ResponseStatus

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
# TRE_R248 ModeAcces (VIHF "mode acces VIHF 1.0"): the code system of the DMP access modes.
DMP_ACCESS_MODE_SYSTEM = "1.2.250.1.213.1.1.4.248"


class Transaction(str, Enum):
    """The transactions we audit, with the EventTypeCode text IHE gives them."""

    ITI_8 = "ITI-8"
    ITI_18 = "ITI-18"
    ITI_41 = "ITI-41"
    ITI_42 = "ITI-42"
    ITI_43 = "ITI-43"
    ITI_57 = "ITI-57"
    DMP = "DMP"  # the DMP's own web services and the patient's choices (facts.dmp says which)
    ITI_62 = "ITI-62"
    ITI_86 = "ITI-86"
    ITI_92 = "ITI-92"
    # The DMP announcement of a document hidden from the patient (CSP R1111-53), written by the registry's
    # announcement job: no IHE transaction, so the EventTypeCode is ours (DMP_ANNOUNCED below).
    DMP_ANNOUNCED = "DMP-ANNOUNCED"
    DMP_ANNOUNCEMENT_NOTICE = "DMP-ANNOUNCEMENT-NOTICE"

    @property
    def display_name(self) -> str:
        return _TRANSACTION_NAMES[self]

    @property
    def code(self) -> Code:
        """As EventTypeCode (and ITI-18's query ParticipantObjectIDTypeCode) write it."""
        system = DMP_EVENT_SYSTEM if self.value.startswith("DMP-") else "IHE Transactions"
        return Code(self.value, system, self.display_name)


_TRANSACTION_NAMES = {
    Transaction.ITI_8: "Patient Identity Feed",
    Transaction.ITI_18: "Registry Stored Query",
    Transaction.ITI_41: "Provide and Register Document Set-b",
    Transaction.ITI_42: "Register Document Set-b",
    Transaction.ITI_43: "Retrieve Document Set",
    Transaction.ITI_57: "Update Document Set",
    Transaction.DMP: "DMP web service",
    Transaction.ITI_62: "Remove Metadata",
    Transaction.ITI_86: "Remove Documents",
    Transaction.ITI_92: "Restricted Update Document Set",
    Transaction.DMP_ANNOUNCED: "DMP document made visible to the patient (R1111-53)",
    Transaction.DMP_ANNOUNCEMENT_NOTICE: "DMP announcement notice to the patient (R1111-53)",
}
DMP_EVENT_SYSTEM = "urn:pyxds:dmp"


class EventOutcome(str, Enum):
    """EventOutcomeIndicator (PS3.15 A.5.1)."""

    SUCCESS = "0"
    MINOR_FAILURE = "4"
    SERIOUS_FAILURE = "8"
    MAJOR_FAILURE = "12"

    @classmethod
    def of_response(cls, status: ResponseStatus) -> EventOutcome:
        """Success → 0, PartialSuccess → 4, Failure → 8.

        DICOM leaves 4 and 8 to the reporting application. IPF reports 8 whenever the RegistryErrorList
        holds an Error-severity entry, so its PartialSuccess is 8; we keep 4 so that a partial answer stays
        distinguishable from a refusal in the audit trail.
        """
        return {
            ResponseStatus.SUCCESS: cls.SUCCESS,
            ResponseStatus.PARTIAL_SUCCESS: cls.MINOR_FAILURE,
            ResponseStatus.FAILURE: cls.SERIOUS_FAILURE,
        }[status]


class EventAction(str, Enum):
    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"


@dataclass(frozen=True)
class Code:
    """A coded value as the audit schema writes it: csd-code, codeSystemName, originalText."""

    code: str
    system: str
    text: str


# DICOM PS3.16 CID 400 (EventID), CID 402 (RoleIDCode); RFC 3881 / PS3.15 A.5.2 ParticipantObjectIDTypeCode.
EVENT_EXPORT = Code("110106", "DCM", "Export")
EVENT_IMPORT = Code("110107", "DCM", "Import")
EVENT_PATIENT_RECORD = Code("110110", "DCM", "Patient Record")
EVENT_QUERY = Code("110112", "DCM", "Query")
ROLE_SOURCE = Code("110153", "DCM", "Source Role ID")
ROLE_DESTINATION = Code("110152", "DCM", "Destination Role ID")
ID_PATIENT_NUMBER = Code("2", "RFC-3881", "Patient Number")
ID_REPORT_NUMBER = Code("9", "RFC-3881", "Report Number")
ID_SUBMISSION_SET = Code(UUID.SS_NODE, "IHE XDS Metadata", "submission set classificationNode")
ID_XDS_OBJECT = Code("urn:ihe:iti:2017:ObjectRef", "IHE XDS Metadata", "registry object reference")
AUDIT_SOURCE_APPLICATION_SERVER = Code("4", "DCM", "Application Server Process or Thread")

# ParticipantObjectTypeCode (1 person, 2 system object) and ...TypeCodeRole (PS3.15 A.5.1).
_PERSON, _SYSTEM = "1", "2"
_ROLE_PATIENT, _ROLE_REPORT, _ROLE_JOB, _ROLE_QUERY = "1", "3", "20", "24"


@dataclass(frozen=True)
class Node:
    """One end of the exchange.

    `user_id`: for the client, the wsa:ReplyTo (else wsa:From) address, or `MSH-4|MSH-3` for HL7; for us,
    our endpoint URL, or `MSH-6|MSH-5`. `address`: host name or IP (NetworkAccessPointID). `process_id`:
    our process id (AlternativeUserID), left empty for the client.
    """

    user_id: str = ""
    address: str = ""
    process_id: str = ""


@dataclass(frozen=True)
class AuditSource:
    source_id: str  # AuditSourceID: this service, e.g. "pyxds-registry@host"
    enterprise_site_id: str = ""


@dataclass(frozen=True)
class DocumentRef:
    """A document of an ITI-43 request; `retrieved` is False for one the repository could not return."""

    unique_id: str
    repository_unique_id: str = ""
    home_community_id: str = ""
    retrieved: bool = True


@dataclass(frozen=True)
class StoredQuery:
    """The ITI-18 query: its id and the AdhocQueryRequest exactly as received."""

    query_id: str
    request: bytes
    home_community_id: str = ""
    encoding: str = "UTF-8"


@dataclass(frozen=True)
class Hl7Event:
    """The ITI-8 message: trigger event (MSH-9.2), control id (MSH-10), and MRG-1 for an A40 merge."""

    trigger: str
    control_id: str
    prior_patient_id: str = ""


@dataclass(frozen=True)
class DmpEvent:
    """A call of the DMP's services (TD0.2 … TD1.6) or a change of the patient's choices: its
    EventTypeCode (code system "DMPi"), whether it read or changed the record, and what changed."""

    code: str  # TD0.2, TD0.3, …; "CHOIX_PATIENT" for the patient's choices
    name: str
    action: EventAction
    changes: tuple[str, ...] = ()  # dmp.model.Change values, one ParticipantObjectDetail each


@dataclass(frozen=True)
class AuditFacts:
    """What one transaction tells the audit trail; the builders decide where each fact goes."""

    transaction: Transaction
    event_time: datetime  # timezone-aware; the builders write it in UTC
    outcome: EventOutcome
    client: Node
    server: Node
    audit_source: AuditSource
    principal: Principal | None = None
    patient_ids: tuple[str, ...] = ()  # CX, e.g. 123^^^&1.2.250.1.213.1.4.8&ISO
    submission_set_unique_id: str = ""
    documents: tuple[DocumentRef, ...] = ()
    query: StoredQuery | None = None
    hl7: Hl7Event | None = None
    outcome_description: str = ""
    dmp: DmpEvent | None = None
    removed_objects: tuple[str, ...] = ()  # ITI-62: entryUUIDs of the registry objects removed (or asked for)


# --- building blocks -------------------------------------------------------------------------------


def _coded(parent: etree._Element, tag: str, code: Code) -> None:
    attrs = {"csd-code": code.code, "codeSystemName": code.system or "unknown"}
    if code.text:
        attrs["displayName"] = code.text
    attrs["originalText"] = code.text or code.code
    etree.SubElement(parent, tag, attrs)


def _code_of(value: CodedValue) -> Code:
    return Code(value.code, value.code_system, value.display_name or value.code)


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("event_time must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _b64(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


@lru_cache(maxsize=1024)  # a service sees few addresses, and parsing one costs a third of a message's build
def _nap_type(address: str) -> str:
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return "1"
    return "2"


def _purposes(principal: Principal | None) -> list[Code]:
    if principal is None:
        return []
    purposes = [_code_of(p) for p in principal.purpose_of_use]
    mode = principal.access_mode
    if mode and all(p.code != mode for p in purposes):
        purposes.append(Code(mode, DMP_ACCESS_MODE_SYSTEM, mode))
    return purposes


class _Message:
    """An AuditMessage under construction; elements are appended in schema order by the builders."""

    def __init__(self, facts: AuditFacts, event_id: Code, action: EventAction, outcome: EventOutcome) -> None:
        self.facts = facts
        self.root = etree.Element("AuditMessage")
        ident = etree.SubElement(
            self.root,
            "EventIdentification",
            EventActionCode=action.value,
            EventDateTime=_timestamp(facts.event_time),
            EventOutcomeIndicator=outcome.value,
        )
        _coded(ident, "EventID", event_id)
        event_type = Code(facts.dmp.code, "DMPi", facts.dmp.name) if facts.dmp else facts.transaction.code
        _coded(ident, "EventTypeCode", event_type)
        if facts.outcome_description:
            etree.SubElement(ident, "EventOutcomeDescription").text = facts.outcome_description
        for purpose in _purposes(facts.principal):
            _coded(ident, "PurposeOfUse", purpose)

    def participant(
        self, user_id: str, *, requestor: bool, roles: Iterable[Code] = (), user_name: str = "",
        alternative_user_id: str = "", address: str = "",
    ) -> None:
        attrs = {"UserID": user_id}
        if alternative_user_id:
            attrs["AlternativeUserID"] = alternative_user_id
        if user_name:
            attrs["UserName"] = user_name
        attrs["UserIsRequestor"] = "true" if requestor else "false"
        if address:
            attrs["NetworkAccessPointID"] = address
            attrs["NetworkAccessPointTypeCode"] = _nap_type(address)
        element = etree.SubElement(self.root, "ActiveParticipant", attrs)
        for role in roles:
            _coded(element, "RoleIDCode", role)

    def participants(self, source: Node, destination: Node, *, client_is_source: bool) -> None:
        """Source, human requestor(s), destination; the client is the requestor unless a human is."""
        principal = self.facts.principal
        client_requests = principal is None
        for node, role, is_client in (
            (source, ROLE_SOURCE, client_is_source),
            (destination, ROLE_DESTINATION, not client_is_source),
        ):
            user_id = node.user_id or (WSA_ANONYMOUS if is_client else "unknown")
            self.participant(
                user_id, requestor=is_client and client_requests, roles=(role,),
                alternative_user_id=node.process_id, address=node.address,
            )
            if role is ROLE_SOURCE and principal is not None:
                self._human(principal)

    def _human(self, principal: Principal) -> None:
        alias = principal.audit_user_id
        readable = principal.subject_id if principal.subject_id and principal.subject_id != principal.name_id else ""
        self.participant(
            alias, requestor=True, user_name=readable or alias, roles=[_code_of(r) for r in principal.roles]
        )
        organisation_id = principal.organization_id or principal.structure_id
        if organisation_id or principal.organization:
            self.participant(
                organisation_id or principal.organization, requestor=False,
                user_name=principal.organization or organisation_id,
            )

    def audit_source(self) -> None:
        source = self.facts.audit_source
        attrs = {"AuditSourceID": source.source_id}
        if source.enterprise_site_id:
            attrs = {"AuditEnterpriseSiteID": source.enterprise_site_id, **attrs}
        element = etree.SubElement(self.root, "AuditSourceIdentification", attrs)
        _coded(element, "AuditSourceTypeCode", AUDIT_SOURCE_APPLICATION_SERVER)

    def participant_object(
        self, object_id: str, type_code: str, role: str, id_type: Code, *,
        query: bytes | None = None, details: Iterable[tuple[str, str]] = (),
    ) -> None:
        element = etree.SubElement(
            self.root,
            "ParticipantObjectIdentification",
            ParticipantObjectID=object_id,
            ParticipantObjectTypeCode=type_code,
            ParticipantObjectTypeCodeRole=role,
        )
        _coded(element, "ParticipantObjectIDTypeCode", id_type)
        if query is not None:
            etree.SubElement(element, "ParticipantObjectQuery").text = _b64(query)
        for kind, value in details:
            if value:
                etree.SubElement(element, "ParticipantObjectDetail", type=kind, value=_b64(value))

    def patients(self, patient_ids: Iterable[str], details: Iterable[tuple[str, str]] = ()) -> None:
        kept = tuple(details)
        for patient_id in dict.fromkeys(p for p in patient_ids if p):  # unique, in order
            self.participant_object(patient_id, _PERSON, _ROLE_PATIENT, ID_PATIENT_NUMBER, details=kept)

    def bytes(self) -> bytes:
        body: bytes = etree.tostring(self.root, encoding="UTF-8", xml_declaration=False)
        return XML_DECLARATION + body


# --- one builder per transaction -------------------------------------------------------------------


def _import(facts: AuditFacts, action: EventAction) -> tuple[bytes, ...]:
    message = _Message(facts, EVENT_IMPORT, action, facts.outcome)
    message.participants(facts.client, facts.server, client_is_source=True)
    message.audit_source()
    message.patients(facts.patient_ids)
    if facts.submission_set_unique_id:
        message.participant_object(facts.submission_set_unique_id, _SYSTEM, _ROLE_JOB, ID_SUBMISSION_SET)
    return (message.bytes(),)


def build_iti41(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-41 Provide and Register Document Set-b, Document Repository side (TF-2b 3.41.5.1.2)."""
    return _import(facts, EventAction.CREATE)


def build_iti42(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-42 Register Document Set-b, Document Registry side (TF-2b 3.42.5.1.2)."""
    return _import(facts, EventAction.CREATE)


def build_iti57(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-57 Update Document Set, Document Registry side (TF-2b 3.57.5.1.2): an Import with action U."""
    return _import(facts, EventAction.UPDATE)


def build_iti92(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-92 Restricted Update Document Set, Document Registry side: as ITI-57 (TF-2b 3.92.5.1)."""
    return _import(facts, EventAction.UPDATE)


def build_iti62(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-62 Remove Metadata, Document Registry side (TF-2b 3.62.5.1.2): a Patient Record delete naming the
    patient(s) and each registry object removed, by entryUUID."""
    message = _Message(facts, EVENT_PATIENT_RECORD, EventAction.DELETE, facts.outcome)
    message.participants(facts.client, facts.server, client_is_source=True)
    message.audit_source()
    message.patients(facts.patient_ids)
    for uuid in dict.fromkeys(facts.removed_objects):
        message.participant_object(uuid, _SYSTEM, _ROLE_REPORT, ID_XDS_OBJECT)
    return (message.bytes(),)


def build_iti86(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-86 Remove Documents, Document Repository side (TF-2b 3.86.5.1.2): a Patient Record delete per
    outcome (documents removed, documents not), each document named by uniqueId with its repository."""
    removed = tuple(d for d in facts.documents if d.retrieved)
    missing = tuple(d for d in facts.documents if not d.retrieved)
    groups = [(docs, outcome) for docs, outcome in (
        (removed, EventOutcome.SUCCESS), (missing, EventOutcome.SERIOUS_FAILURE)) if docs] or [((), facts.outcome)]
    messages = []
    for documents, outcome in groups:
        message = _Message(facts, EVENT_PATIENT_RECORD, EventAction.DELETE, outcome)
        message.participants(facts.client, facts.server, client_is_source=True)
        message.audit_source()
        message.patients(facts.patient_ids)
        for doc in documents:
            message.participant_object(doc.unique_id, _SYSTEM, _ROLE_REPORT, ID_REPORT_NUMBER,
                                       details=[("Repository Unique Id", doc.repository_unique_id),
                                                ("ihe:homeCommunityID", doc.home_community_id)])
        messages.append(message.bytes())
    return tuple(messages)


def build_iti18(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-18 Registry Stored Query, Document Registry side (TF-2a 3.18.5.1.2).

    The query object carries the stored query id, the AdhocQueryRequest as received (base64, as the
    schema's ParticipantObjectQuery is), its QueryEncoding and the homeCommunityId when the query had one.
    """
    if facts.query is None:
        raise ValueError("an ITI-18 audit needs the query")
    message = _Message(facts, EVENT_QUERY, EventAction.EXECUTE, facts.outcome)
    message.participants(facts.client, facts.server, client_is_source=True)
    message.audit_source()
    message.patients(facts.patient_ids)
    query = facts.query
    message.participant_object(
        query.query_id, _SYSTEM, _ROLE_QUERY, Transaction.ITI_18.code,
        query=query.request,
        details=[("QueryEncoding", query.encoding), ("urn:ihe:iti:xca:2010:homeCommunityId", query.home_community_id)],
    )
    return (message.bytes(),)


def build_iti43(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-43 Retrieve Document Set, Document Repository side (TF-2b 3.43.6.1.2): an Export.

    Data flows from us to the consumer, so we are the Source (endpoint URL, process id) and the consumer
    the Destination. Like IPF, one message per outcome: the documents returned (0) and those that were
    not (8), so the trace never claims a document was read when it was not.
    """
    retrieved = tuple(d for d in facts.documents if d.retrieved)
    missing = tuple(d for d in facts.documents if not d.retrieved)
    groups = [(docs, outcome) for docs, outcome in (
        (retrieved, EventOutcome.SUCCESS), (missing, EventOutcome.SERIOUS_FAILURE)) if docs]
    if not groups:
        groups = [((), facts.outcome)]
    messages = []
    for documents, outcome in groups:
        message = _Message(facts, EVENT_EXPORT, EventAction.READ, outcome)
        message.participants(facts.server, facts.client, client_is_source=False)
        message.audit_source()
        message.patients(facts.patient_ids[:1])
        for doc in documents:
            message.participant_object(
                doc.unique_id, _SYSTEM, _ROLE_REPORT, ID_REPORT_NUMBER,
                details=[
                    ("Repository Unique Id", doc.repository_unique_id),
                    ("ihe:homeCommunityID", doc.home_community_id),
                ],
            )
        messages.append(message.bytes())
    return tuple(messages)


_ITI8_ACTIONS = {
    "A01": EventAction.CREATE,
    "A04": EventAction.CREATE,
    "A05": EventAction.CREATE,
    "A08": EventAction.UPDATE,
}


def build_iti8(facts: AuditFacts) -> tuple[bytes, ...]:
    """ITI-8 Patient Identity Feed, Document Registry side (TF-2a 3.8.5.1.2): a Patient Record event.

    A01/A04/A05 create, A08 updates; an A40 merge gives two messages, a delete of the subsumed id (MRG-1)
    and an update of the surviving one. The patient carries MSH-10 as a ParticipantObjectDetail.
    """
    hl7 = facts.hl7
    if hl7 is None:
        raise ValueError("an ITI-8 audit needs the HL7 message facts")
    if hl7.trigger == "A40":
        if not hl7.prior_patient_id:
            raise ValueError("an A40 audit needs the subsumed patient id (MRG-1)")
        steps = [(EventAction.DELETE, (hl7.prior_patient_id,)), (EventAction.UPDATE, facts.patient_ids)]
    elif hl7.trigger in _ITI8_ACTIONS:
        steps = [(_ITI8_ACTIONS[hl7.trigger], facts.patient_ids)]
    else:
        raise ValueError(f"ITI-8 does not audit trigger event {hl7.trigger!r}")
    messages = []
    for action, patient_ids in steps:
        message = _Message(facts, EVENT_PATIENT_RECORD, action, facts.outcome)
        message.participants(facts.client, facts.server, client_is_source=True)
        message.audit_source()
        message.patients(patient_ids, details=[("MSH-10", hl7.control_id)])
        messages.append(message.bytes())
    return tuple(messages)


def build_dmp(facts: AuditFacts) -> tuple[bytes, ...]:
    """A DMP service call or a patient's choice (DMPi TD transactions: no IHE audit section; the DMP keeps
    every action in the patient's trace, R1111-43): a Patient Record event (DICOM 110110) on the patient,
    with the VIHF's human requestor and access mode as for every transaction, one detail per change."""
    if facts.dmp is None:
        raise ValueError("a DMP audit needs the DMP event")
    message = _Message(facts, EVENT_PATIENT_RECORD, facts.dmp.action, facts.outcome)
    message.participants(facts.client, facts.server, client_is_source=True)
    message.audit_source()
    message.patients(facts.patient_ids, details=[("DMP change", change) for change in facts.dmp.changes])
    return (message.bytes(),)


def build_dmp_announcement(facts: AuditFacts) -> tuple[bytes, ...]:
    """The registry's announcement job (DMP, CSP R1111-53): a Patient Record update naming the patient and
    the document now visible to it (or the notice at two weeks). The registry is the source and the
    requestor: no human acted."""
    message = _Message(facts, EVENT_PATIENT_RECORD, EventAction.UPDATE, facts.outcome)
    message.participants(facts.server, facts.server, client_is_source=True)
    message.audit_source()
    message.patients(facts.patient_ids)
    for doc in facts.documents:
        message.participant_object(doc.unique_id, _SYSTEM, _ROLE_REPORT, ID_REPORT_NUMBER,
                                   details=[("Repository Unique Id", doc.repository_unique_id)])
    return (message.bytes(),)


BUILDERS: dict[Transaction, Callable[[AuditFacts], tuple[bytes, ...]]] = {
    Transaction.DMP_ANNOUNCED: build_dmp_announcement,
    Transaction.DMP_ANNOUNCEMENT_NOTICE: build_dmp_announcement,
    Transaction.ITI_8: build_iti8,
    Transaction.ITI_18: build_iti18,
    Transaction.ITI_41: build_iti41,
    Transaction.ITI_42: build_iti42,
    Transaction.ITI_43: build_iti43,
    Transaction.ITI_57: build_iti57,
    Transaction.DMP: build_dmp,
    Transaction.ITI_62: build_iti62,
    Transaction.ITI_86: build_iti86,
    Transaction.ITI_92: build_iti92,
}


def build(facts: AuditFacts) -> tuple[bytes, ...]:
    """The audit messages of one transaction, ready for `xdsservice.audit_sender.AuditSender.emit_all`."""
    return BUILDERS[facts.transaction](facts)
