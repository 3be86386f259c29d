"""Realistic audit events for the audit sink's bulk loader (`bench.audit_load`): rows exactly as the sink stores them.

Each kind of event (ITI-41 and ITI-42 of a submission, ITI-18 and ITI-43 of a consultation, ITI-8 of the
patient feed; a professional's role and access mode; 1 to 3 documents) is built once by the services' own
audit builders (`xdscore.audit_events`, with marker values), wrapped in RFC 5424 syslog, read by the sink's
own parser (`audit.record.read_message`) and turned into its row (`audit.writes.event_values`); each row
and message is then a template whose markers the loader fills with a patient, a time, a professional and
ids. So the rows the trace reads (the event, its patients, its documents, the AuditMessage XML as received)
are what the sink would have stored, at the cost of string joins (tests/bench/test_audit_load.py stores the
same syslog message through the sink and compares the rows).

Notifications (DMP first access, emergency access) are derived as `audit.notify.derive` does: an event is an
access when it succeeded, names a patient and carries an access mode (every event of a professional here).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from audit import notify
from audit.record import patient_key, read_message
from audit.store import Origin, audit_event
from audit.writes import EVENT_COLUMNS as WRITTEN_COLUMNS
from audit.writes import event_values
from xdscore import audit_events as ae
from xdscore import syslog
from xdscore.principal import CodedValue, Principal
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import Status
from xdscore.vocabulary import StoredQueryId as Q

AUTHORITY = "1.2.250.1.213.1.4.8"  # INS-NIR: the DMP's patient identifier domain
REPOSITORY = "1.2.250.1.213.1.1.9.1"
ROLE_SYSTEM = "1.2.250.1.213.1.1.4.5"  # VIHF subject:role (professions, TRE_G15)
ROLES = (("10", "Médecin"), ("60", "Infirmier"), ("21", "Pharmacien"))
MODES = ("normal", "bris_de_glace")
EVENT_COLUMNS = tuple(c.name for c in audit_event.c)
MARKER_TIME = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
_TOKEN = re.compile(r"QX([A-Z0-9]+)QX")
KNOWN = frozenset({"PID", "NAMEID", "SUBJECT", "ORGID", "ORG", "IP", "SS", "DOC0", "DOC1", "DOC2", "HOST", "PROC",
                   "PORT", "TIME", "SYSTS", "QUERY", "CTL"})


def _m(name: str) -> str:
    return f"QX{name}QX"


class Template:
    """A string with markers QXNAMEQX, rendered as a format string (one C call per event)."""

    def __init__(self, text: str) -> None:
        self.names = _TOKEN.findall(text)
        self.format = _TOKEN.sub(r"{\1}", text.replace("{", "{{").replace("}", "}}"))

    def render(self, values: dict[str, str]) -> str:
        return self.format.format_map(values)


def _copy_text(value: object) -> str:
    """A value in COPY text format (the generated values hold no tab, newline or backslash)."""
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value)


@dataclass(frozen=True)
class Kind:
    """One kind of event: its syslog frame and row as templates; the times are filled apart."""

    transaction: str
    header: Template  # the syslog header, up to the BOM
    xml: Template  # the AuditMessage: the message column; header + xml is the syslog message (its sha256, the digest)
    row: Template  # the audit_event line in COPY text format
    access_mode: str
    documents: int
    human: bool
    user_id: Template
    user_name: Template


def _principal(role: tuple[str, str], mode: str) -> Principal:
    return Principal(
        subject_id=_m("SUBJECT"), name_id=_m("NAMEID"), issuer="https://auth.esante.gouv.fr", sp_provided_id="",
        organization=_m("ORG"), organization_id=_m("ORGID"), roles=(CodedValue(role[0], ROLE_SYSTEM, role[1]),),
        purpose_of_use=(CodedValue(mode, ae.DMP_ACCESS_MODE_SYSTEM, "Accès " + mode),), access_mode=mode,
    )


QUERY_MARK = b"QXQUERYQX"
CONTROL_MARK = "QXCTLQX"


def query_request(patient: str) -> bytes:
    """The AdhocQueryRequest of an ITI-18 FindDocuments for `patient`, as the registry received it."""
    from lxml import etree

    element = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": patient,
                                               "$XDSDocumentEntryStatus": [Status.APPROVED.value]}, ReturnType.LEAF_CLASS)
    return bytes(etree.tostring(element, encoding="UTF-8"))


def _facts(transaction: str, principal: Principal | None, documents: int) -> ae.AuditFacts:
    t = ae.Transaction(transaction)
    client = ae.Node("http://www.w3.org/2005/08/addressing/anonymous", _m("IP"))
    server = {"ITI-41": ae.Node("https://dmp.example.fr/repository", "repository.dmp.example.fr", _m("PROC")),
              "ITI-43": ae.Node("https://dmp.example.fr/repository", "repository.dmp.example.fr", _m("PROC"))
              }.get(transaction, ae.Node("https://dmp.example.fr/registry", "registry.dmp.example.fr", _m("PROC")))
    source = ae.AuditSource("pyxds-repository@" + _m("HOST") if transaction in ("ITI-41", "ITI-43")
                            else "pyxds-registry@" + _m("HOST"))
    patient = f"{_m('PID')}^^^&{AUTHORITY}&ISO"
    return ae.AuditFacts(
        t, MARKER_TIME, ae.EventOutcome.SUCCESS, client, server, source, principal=principal, patient_ids=(patient,),
        submission_set_unique_id=_m("SS") if transaction in ("ITI-41", "ITI-42") else "",
        documents=tuple(ae.DocumentRef(_m(f"DOC{i}"), REPOSITORY) for i in range(documents)),
        query=ae.StoredQuery(Q.FindDocuments.value, QUERY_MARK) if transaction == "ITI-18" else None,
        hl7=ae.Hl7Event("A08", CONTROL_MARK) if transaction == "ITI-8" else None,
    )


def _kind(transaction: str, principal: Principal | None, documents: int) -> Kind:
    (xml,) = ae.build(_facts(transaction, principal, documents))
    stamp = syslog.format_timestamp(MARKER_TIME)
    frame = syslog.encode(syslog.atna_message(xml, stamp, _m("HOST"), "pyxds", _m("PROC")))
    record = read_message(frame)
    row = dict(zip(WRITTEN_COLUMNS, event_values(record, Origin("tls", _m("IP") + ":" + "QXPORTQX", MARKER_TIME)),
                   strict=True))
    if record.message != xml or not frame.endswith(syslog.BOM + xml):
        raise AssertionError("the sink's message column is not the AuditMessage as built")
    header = frame[: -len(xml)].decode("utf-8").replace(stamp, _m("SYSTS"))
    text = xml.decode("utf-8")
    # base64 fields: the query and the HL7 control id are filled already encoded
    text = text.replace(base64.b64encode(QUERY_MARK).decode(), _m("QUERY"))
    text = text.replace(base64.b64encode(CONTROL_MARK.encode()).decode(), _m("CTL"))
    text = text.replace(ae._timestamp(MARKER_TIME), _m("TIME"))
    per_event = {"id": "ID", "digest": "DIGEST", "event_time": "AT", "received_at": "RECEIVED", "message": "MESSAGE",
                 "syslog_timestamp": "SYSTS"}
    line = "\t".join(_m(per_event[name]) if name in per_event else _copy_text(row[name]) for name in EVENT_COLUMNS)
    for template in (header, text, line):
        unknown = set(_TOKEN.findall(template)) - KNOWN - set(per_event.values())
        if unknown:
            raise AssertionError(f"unexpected markers {unknown} in a {transaction} template")
    return Kind(transaction, Template(header), Template(text), Template(line), record.access_mode, documents,
                principal is not None, Template(str(row["user_id"])), Template(str(row["user_name"])))


def kinds() -> dict[tuple[str, int, str, int], Kind]:
    """Every kind of event: (transaction, role index, access mode, documents) -> Kind; ITI-8 has no human."""
    out: dict[tuple[str, int, str, int], Kind] = {("ITI-8", -1, "", 0): _kind("ITI-8", None, 0)}
    for r, role in enumerate(ROLES):
        for mode in MODES:
            principal = _principal(role, mode)
            for t in ("ITI-41", "ITI-42", "ITI-18"):
                out[(t, r, mode, 0)] = _kind(t, principal, 0)
            for n in (1, 2, 3):
                out[("ITI-43", r, mode, n)] = _kind("ITI-43", principal, n)
    return out


def copy_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


@dataclass
class Rows:
    """COPY text lines of one chunk, per table and month (first day)."""

    events: dict[dt.date, list[str]]
    patients: dict[dt.date, list[str]]
    documents: dict[dt.date, list[str]]
    notifications: dict[dt.date, list[str]]


def received_time(moment: dt.datetime) -> dt.datetime:
    """When the sink received an event of this time (a millisecond or two later; also its syslog TIMESTAMP)."""
    return moment + dt.timedelta(microseconds=1500 + moment.microsecond % 997)


def render(kind: Kind, event_id: int, moment: dt.datetime, values: dict[str, str], rows: Rows,
           first_access: bool) -> bytes:
    """Append the rows of one event (and its notifications) to `rows`; the syslog message the sink would have
    received (its sha256 is the row's digest)."""
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # EventDateTime has milliseconds
    values["TIME"] = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    received = received_time(moment)
    values["SYSTS"] = syslog.format_timestamp(received)
    xml = kind.xml.render(values).encode("utf-8")
    at = values["AT"] = copy_time(moment)
    values["RECEIVED"] = copy_time(received)
    values["ID"] = str(event_id)
    frame = kind.header.render(values).encode("utf-8") + xml
    values["DIGEST"] = hashlib.sha256(frame).hexdigest()
    values["MESSAGE"] = "\\\\x" + xml.hex()
    line = kind.row.render(values)
    month = dt.date(moment.year, moment.month, 1)
    rows.events.setdefault(month, []).append(line)
    cx = f"{values['PID']}^^^&{AUTHORITY}&ISO"
    rows.patients.setdefault(month, []).append(f"{event_id}\t{at}\t{cx}\t{cx}")
    for i in range(kind.documents):
        rows.documents.setdefault(month, []).append(f"{event_id}\t{at}\t{i}\t{values[f'DOC{i}']}\t{REPOSITORY}\t")
    if not kind.human:
        return frame
    user_id, user_name = kind.user_id.render(values), kind.user_name.render(values)
    base = f"{event_id}\t{cx}\t{cx}\t{{kind}}\t{at}\t{user_id}\t{user_name}\t{kind.access_mode}\t{kind.transaction}\t\t"
    if kind.access_mode in notify.EMERGENCY_MODES:
        text = notify.TEXTS[notify.EMERGENCY_ACCESS].format(who=user_name, mode=kind.access_mode)
        rows.notifications.setdefault(month, []).append(f"{2 * event_id}\t" + base.format(kind=notify.EMERGENCY_ACCESS) + text)
    if first_access:
        text = notify.TEXTS[notify.FIRST_ACCESS].format(who=user_name)
        rows.notifications.setdefault(month, []).append(f"{2 * event_id + 1}\t" + base.format(kind=notify.FIRST_ACCESS) + text)
    return frame


NOTIFICATION_COLUMNS = ("id", "event_id", "patient_id", "patient_key", "kind", "event_time", "user_id", "user_name",
                        "access_mode", "transaction", "document_unique_id", "text")
PATIENT_COLUMNS = ("event_id", "event_time", "patient_id", "patient_key")
DOCUMENT_COLUMNS = ("event_id", "event_time", "position", "document_unique_id", "repository_unique_id",
                    "home_community_id")


def check_key(pid: str) -> None:
    """The loader writes a patient's key as its CX (id^^^&authority&ISO): the sink's key of that CX."""
    cx = f"{pid}^^^&{AUTHORITY}&ISO"
    if patient_key(cx) != cx:
        raise AssertionError(f"patient_key({cx!r}) is not the CX itself")
