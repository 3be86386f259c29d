"""DMP access rules on the registry's transactions (XDS_PROFILE=dmp): TD2.1 on ITI-42, TD3.1 on ITI-18 (and TD3.2
for the repository's ITI-43), TD3.3a-d on ITI-57.

The decision is `xdscore.access.decide` (pure); this module feeds it: the caller from the request's
verified Principal, the patient's record through the `PatientRecords` port, each entry from the stored
or submitted metadata (with the date its logical document was first registered, for the INVISIBLE_PATIENT
announcement). A refusal becomes one RegistryError whose codeContext names the rule and says why; an entry
the caller may not see is left out of the answer (rule 20: the DMP does not say why). Every decision is
summed up in an `AccessNote` that the transaction's audit event carries (the patient's access trace).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from lxml import etree
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from registry.announce import ANNOUNCED, Announcement
from registry.sql import patient_number
from registry.sql import schema as t
from registry.sql.fragments import unpack
from registry.sql.locate import Locator
from registry.sql.queries import StoredObject
from xdscore import xmlsafe
from xdscore.access import forward
from xdscore.access.caller import Caller, caller_of
from xdscore.access.decide import AccessPolicy, announced, check_call, decide
from xdscore.access.entry import INVISIBLE_PATIENT, AccessEntry, Lifecycle, access_entry
from xdscore.access.matrix import Operation
from xdscore.access.record import PatientRecord, PatientRecords, patient_key
from xdscore.access.rules import Decision, Effect
from xdscore.access.update import status_operation, version_operations
from xdscore.ebrim import document_entry, rim
from xdscore.errors import Violation, XdsError
from xdscore.model import DocumentEntry, PatientKey, Submission
from xdscore.principal import Principal
from xdscore.queries import ReturnType, StoredQuery
from xdscore.vocabulary import AssociationType, ErrorCode, Slot

ANONYMOUS = "the DMP takes no anonymous call: send a VIHF (WS-Security SAML assertion)"


def parse_dtm(value: str | None) -> datetime | None:
    """An HL7 DTM (UTC) as the registry stores times, to a datetime; None when absent or unreadable."""
    digits = (value or "")[:14]
    try:
        return datetime.strptime(digits.ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=UTC) if digits else None
    except ValueError:
        return None


@dataclass
class AccessNote:
    """What the access rules decided in one transaction, for its audit event and the logs."""

    caller: Caller | None = None
    allowed: int = 0
    hidden: dict[str, Decision] = field(default_factory=dict)  # entryUUID → why
    refusal: Decision | None = None
    system: bool = False
    # TD3.3b: documents an allowed ITI-57 made visible to the patient before their announcement (the audit
    # event the sink turns into the patient's `document_visible` notification, as the announcement job's)
    made_visible: list[Announcement] = field(default_factory=list)

    def describe(self) -> str:
        if self.system:
            return "DMP access: trusted system (TLS client certificate, no VIHF)"
        who = f" by {self.caller.describe()}" if self.caller else ""
        if self.refusal is not None:
            return f"DMP access refused{who}: rule {self.refusal.rule}: {self.refusal.reason}"
        hidden = ""
        if self.hidden:
            rules = ", ".join(sorted({str(d.rule) for d in self.hidden.values()}))
            hidden = f", {len(self.hidden)} hidden (rules {rules})"
        return f"DMP access allowed{who}: {self.allowed} document(s){hidden}"


def refusal_violation(decision: Decision, location: str = "") -> Violation:
    code = ErrorCode.XDSRegistryError
    return Violation(code, f"DMP access refused (rule {decision.rule}, {decision.source}): {decision.reason}", location)


@dataclass(frozen=True)
class LogicalFacts:
    """What the rules read of an entry's logical document (all versions of its lid)."""

    first_registered: datetime | None  # the INVISIBLE_PATIENT announcement counts from here
    latest: str  # entryUUID of the newest version, whose confidentiality applies to every version


def logical_facts(conn: Connection, uuids: Iterable[str]) -> dict[str, LogicalFacts]:
    """For each DocumentEntry: when its logical document was first registered, and its newest version. A
    masked (or hidden-from-the-patient) document stays so in its older versions: masking is a new version
    (TD3.3a) and the obsolete ones must not show what it hides. Read per patient (the tables are keyed by
    patient, registry.sql.schema)."""
    o = t.objects.c
    out: dict[str, LogicalFacts] = {}
    for patient, ids in Locator(conn).entries(uuids).items():
        lids = dict(conn.execute(select(o.uuid, o.lid).where(o.patient == patient, o.uuid.in_(ids))).all())
        per_lid = (select(o.lid, func.min(o.registered_at).label("first"), func.max(o.version).label("top"))
                   .where(o.patient == patient, o.lid.in_(set(lids.values()))).group_by(o.lid).subquery())
        rows = conn.execute(select(per_lid.c.lid, per_lid.c.first, o.uuid)
                            .join(t.objects, and_(o.lid == per_lid.c.lid, o.version == per_lid.c.top))
                            .where(o.patient == patient)).all()
        firsts = {lid: (first, top_uuid) for lid, first, top_uuid in rows}
        out.update({uuid: LogicalFacts(parse_dtm(firsts[lid][0]) if lid in firsts else None,
                                       firsts[lid][1] if lid in firsts else uuid)
                    for uuid, lid in lids.items()})
    return out


def fragments(conn: Connection, uuids: Iterable[str]) -> dict[str, bytes]:
    o = t.objects.c
    out: dict[str, bytes] = {}
    for patient, ids in Locator(conn).entries(uuids).items():
        out.update({u: unpack(f) for u, f in conn.execute(select(o.uuid, o.fragment).where(o.patient == patient, o.uuid.in_(ids)))})
    return out


def stored_entry(xml: bytes, status: str, facts: LogicalFacts | None, latest_xml: bytes | None = None) -> AccessEntry:
    """The rules' view of a stored DocumentEntry: its current status is the row's (the fragment has none),
    its confidentiality flags those of its logical document's newest version."""
    de = document_entry.read(rim.read_object(xmlsafe.parse_bytes(xml)))
    entry = access_entry(de, facts.first_registered if facts else None)
    if latest_xml is not None:
        newest = access_entry(document_entry.read(rim.read_object(xmlsafe.parse_bytes(latest_xml))))
        entry = replace(entry, masked=newest.masked, invisible_to_patient=newest.invisible_to_patient,
                        invisible_to_representatives=newest.invisible_to_representatives)
    try:
        return replace(entry, status=Lifecycle(status))
    except ValueError:
        return entry


def _codes(entry: DocumentEntry) -> frozenset[str]:
    return frozenset(c.code for c in entry.confidentiality_codes)


@dataclass(frozen=True)
class Acting:
    """Who a request acts for: its own verified caller, a caller forwarded by a trusted system
    (`xdscore.access.forward`), or a trusted system itself (`principal` None, `system` True)."""

    principal: Principal | None
    system: bool = False
    operation: Operation | None = None  # a forwarded request's DMP transaction (TD3.2 before an ITI-43)


def acting(principal: Principal | None, trusted: bool, header: etree._Element | None) -> Acting:
    """`trusted`: the connection's TLS client certificate is a configured trusted forwarder's
    (xdsservice.access.trusted_system)."""
    forwarded = forward.read(header) if trusted else None
    if principal is not None:  # its own verified assertion (a signed VIHF the repository passed on)
        return Acting(principal, operation=forwarded.operation if forwarded else None)
    if forwarded is not None:
        return Acting(forwarded.principal, operation=forwarded.operation)
    return Acting(None, system=trusted)


class RegistryAccess:
    def __init__(self, records: PatientRecords, policy: AccessPolicy,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.records = records
        self.policy = policy
        self.clock = clock

    def record(self, patient_id: str | None) -> PatientRecord | None:
        return self.records.record_for(patient_id) if patient_id else None

    # --- TD2.1: ITI-42 -----------------------------------------------------------------------------

    def check_submission(self, who: Acting, sub: Submission, note: AccessNote) -> list[Violation]:
        """Every DocumentEntry of the submission must be the caller's to add (rules 1-4, 12, 14)."""
        principal = who.principal
        if principal is None:
            note.system = who.system
            return [] if who.system else [Violation(ErrorCode.XDSRegistryError, ANONYMOUS)]
        ss = sub.submission_set
        patient = ss.patient_id if ss is not None else None
        record = self.record(patient)
        caller = note.caller = caller_of(principal, record)
        now = self.clock()
        decisions = [(de.entry_uuid, decide(caller, record, access_entry(de, now), Operation.FEED, now, self.policy))
                     for de in sub.document_entries]
        if not decisions:
            decisions = [("", check_call(caller, record, Operation.FEED, now))]
        refused = [(uuid, d) for uuid, d in decisions if d.effect is Effect.REFUSE]
        if not refused:
            note.allowed = len(sub.document_entries)
            return []
        note.refusal = refused[0][1]
        if refused[0][1].rule == 1 and record is None:
            return [Violation(ErrorCode.XDSUnknownPatientId,
                              f"DMP access refused (rule 1): patient {patient} has no DMP", patient or "")]
        return [refusal_violation(d, uuid) for uuid, d in refused]

    # --- TD3.3a-d: ITI-57 ---------------------------------------------------------------------------

    def check_update(self, who: Acting, sub: Submission, conn: Connection, note: AccessNote) -> list[Violation]:
        """Each new DocumentEntry version and each availability-status change of a DocumentEntry, as the DMP
        operation it is (`xdscore.access.update`), decided on the stored entry (TD3.3a-d, rules 5-8, 20)."""
        principal = who.principal
        if principal is None:
            note.system = who.system
            return [] if who.system else [Violation(ErrorCode.XDSRegistryError, ANONYMOUS)]
        ss = sub.submission_set
        record = self.record(ss.patient_id if ss is not None else None)
        caller = note.caller = caller_of(principal, record)
        now = self.clock()
        o = t.objects.c
        work: list[tuple[str, Operation]] = []  # (stored entryUUID, operation)
        shown: dict[str, DocumentEntry] = {}  # stored entryUUID → its entry, when the new version lifts INVISIBLE_PATIENT
        lids = {de.rim.lid for de in sub.document_entries if de.rim.lid}
        key = PatientKey.parse(ss.patient_id or "") if ss is not None else None
        if lids and key is not None:
            patient = patient_number.of(key)  # a new version is its logical document's patient's (ITI-57 checks it)
            tops = (select(o.lid, func.max(o.version).label("top"))
                    .where(o.patient == patient, o.lid.in_(lids), o.kind == "DE").group_by(o.lid).subquery())
            rows = conn.execute(select(o.uuid, o.lid, o.fragment).join(tops, and_(tops.c.lid == o.lid, tops.c.top == o.version))
                                .where(o.patient == patient))
            by_lid = {lid: (uuid, unpack(fragment)) for uuid, lid, fragment in rows}
            for de in sub.document_entries:
                if de.rim.lid in by_lid:
                    uuid, xml = by_lid[de.rim.lid]
                    old = document_entry.read(rim.read_object(xmlsafe.parse_bytes(xml)))
                    work += [(uuid, op) for op in version_operations(old, de)]
                    if INVISIBLE_PATIENT in _codes(old) - _codes(de):
                        shown[uuid] = old
        for a in sub.associations:
            if a.association_type == AssociationType.UPDATE_AVAILABILITY_STATUS.value:
                original, new = a.rim.slot_first(Slot.ORIGINAL_STATUS) or "", a.rim.slot_first(Slot.NEW_STATUS) or ""
                work.append((a.target_uuid, status_operation(original, new)))
        stored = {u: (status, unpack(f)) for patient, ids in Locator(conn).entries(u for u, _ in work).items()
                  for u, status, f in conn.execute(
                      select(o.uuid, o.status, o.fragment).where(o.patient == patient, o.uuid.in_(ids), o.kind == "DE"))}
        facts = logical_facts(conn, stored)
        newer = fragments(conn, {f.latest for u, f in facts.items() if f.latest != u})
        decisions, entries = [], {}
        for uuid, operation in work:
            if uuid not in stored:
                continue  # not a DocumentEntry (a Folder), or unknown: the update's own checks answer
            status, xml = stored[uuid]
            fact = facts.get(uuid)
            entry = entries[uuid] = stored_entry(xml, status, fact, newer.get(fact.latest) if fact else None)
            decisions.append((uuid, decide(caller, record, entry, operation, now, self.policy)))
        if not decisions:
            decisions = [("", check_call(caller, record, Operation.FEED, now))]
        refused = [(uuid, d) for uuid, d in decisions if d.effect is Effect.REFUSE]
        note.allowed = len(decisions) - len(refused)
        if refused:
            note.refusal = refused[0][1]
        else:
            # "every document made visible" notifies the patient (issue 13): by a professional (TD3.3b) as by
            # the timer; not a signature entry (rule 17), nor one the patient already sees (announced by time)
            note.made_visible = [
                Announcement(ANNOUNCED, old.logical_id or "", old.patient_id or "", old.unique_id or "",
                             old.repository_unique_id or "")
                for uuid, old in shown.items()
                if uuid in entries and not entries[uuid].signature and not announced(entries[uuid], self.policy, now)]
        return [refusal_violation(d, uuid) for uuid, d in refused]

    # --- TD3.1: ITI-18 -----------------------------------------------------------------------------

    def query_guard(self, who: Acting, note: AccessNote) -> QueryGuard:
        return QueryGuard(self, who.principal, who.system, note, who.operation)


@dataclass
class QueryGuard:
    """Called by `registry.query.answer` on the objects a stored query selected: drops the entries the caller
    may not see (and the associations that touch them), or raises the refusal as an XdsError."""

    access: RegistryAccess
    principal: Principal | None
    system: bool
    note: AccessNote
    operation: Operation | None = None  # None: TD3.1a search, or TD3.1b lookup for an ObjectRef query

    def __call__(self, q: StoredQuery, objects: list[StoredObject], conn: Connection) -> list[StoredObject]:
        if self.principal is None:
            self.note.system = self.system
            if self.system:
                return objects
            raise XdsError(ErrorCode.XDSRegistryError, ANONYMOUS)
        access, now = self.access, self.access.clock()
        operation = self.operation or (Operation.LOOKUP if q.return_type is ReturnType.OBJECT_REF else Operation.SEARCH)
        patients = {patient_key(p) for p in self._named_patients(q)} | {o.patient for o in objects if o.patient}
        if not patients and self.principal.resource_id:
            patients = {patient_key(self.principal.resource_id)}
        records: dict[str, PatientRecord | None] = {}
        for patient in sorted(patients):
            record = records[patient] = access.record(patient)
            caller = caller_of(self.principal, record)
            self.note.caller = self.note.caller or caller
            decision = check_call(caller, record, operation, now)
            if decision.effect is Effect.REFUSE:
                self.note.refusal = decision
                v = refusal_violation(decision, q.query.name)
                raise XdsError(v.code, v.context, v.location)
        documents = [o for o in objects if o.kind == "DE"]
        facts = logical_facts(conn, (o.uuid for o in documents))
        newer = fragments(conn, {f.latest for u, f in facts.items() if f.latest != u})
        dropped: set[str] = set()
        for obj in documents:
            record = records.get(obj.patient or "")
            caller = caller_of(self.principal, record)
            fact = facts.get(obj.uuid)
            entry = stored_entry(obj.xml, obj.status, fact, newer.get(fact.latest) if fact else None)
            decision = decide(caller, record, entry, operation, now, access.policy)
            if decision.effect is Effect.ALLOW:
                self.note.allowed += 1
            else:
                dropped.add(obj.uuid)
                self.note.hidden[obj.uuid] = decision
        if not dropped:
            return objects
        return [o for o in objects if o.uuid not in dropped and not (o.kind == "AS" and _touches(o, dropped))]

    @staticmethod
    def _named_patients(q: StoredQuery) -> list[str]:
        names = ("$XDSDocumentEntryPatientId", "$XDSSubmissionSetPatientId", "$XDSFolderPatientId", "$patientId")
        return [p for p in (q.one(n) for n in names) if p]


def _touches(association: StoredObject, uuids: set[str]) -> bool:
    element = xmlsafe.parse_bytes(association.xml)
    return element.get("sourceObject") in uuids or element.get("targetObject") in uuids


__all__ = ["AccessNote", "QueryGuard", "RegistryAccess"]
