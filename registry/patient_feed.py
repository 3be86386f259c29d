"""ITI-8 Patient Identity Feed: the Document Registry's side (ITI TF-2a 3.8; HL7 v2.3.1 and v2.5 ADT).

`interpret(text)` splits one ADT message (`xdscore.hl7v2`) and decides what to do: A01/A04/A05/A08
create or update the patient of each PID-3 identifier of the affinity domain; A40 merges the MRG-1
(subsumed) id into the PID-3 (surviving) id. `apply` writes the decision in a store transaction; `ack`
builds the HL7 ACK (AA, or AE / AR with the reason). The MLLP listener (`registry.mllp_server`) does the I/O.

Interpreting a message costs time linear in its size (issue 16: a 1 MB ADT is ACKed in milliseconds;
hl7apy, used before, took seconds per hundred KB of identifiers). A message is bounded by the frame
size, `max_segments` (default `MAX_SEGMENTS`), at most `max_patient_segments` PID/MRG segments (an A40
may merge several patients; each is SQL work) of at most `max_segment_chars` characters each (registry
settings `feed_max_segments`, `feed_max_patient_segments`, `feed_max_segment_chars`; defaults below).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.sql.store import RegistryTx
from xdscore import hl7v2
from xdscore.model import PatientKey

CREATE_OR_UPDATE = frozenset({"A01", "A04", "A05", "A08"})
MERGE = "A40"
SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
READ_SEGMENTS = frozenset({"MSH", "EVN", "PID", "MRG"})  # the only ones interpret() looks at
MAX_SEGMENTS = 50_000  # segments of one message (registry setting feed_max_segments)
MAX_SEGMENT = 16 * 1024  # characters of one PID or MRG segment (feed_max_segment_chars)
MAX_PATIENT_SEGMENTS = 200  # PID + MRG segments of one message (feed_max_patient_segments)
# HL7 v2 table 0357 (message error condition codes) used in the ERR segment of a refusal.
SEGMENT_SEQUENCE_ERROR = "100"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_VERSION_ID = "203"
APPLICATION_INTERNAL_ERROR = "207"
_ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}


@dataclass(frozen=True)
class SavePatient:
    key: PatientKey
    cx: str
    demographics: dict[str, str]


@dataclass(frozen=True)
class MergePatient:
    subsumed: PatientKey
    surviving: PatientKey
    cx: str


Action = SavePatient | MergePatient


@dataclass
class FeedDecision:
    """What one message asks for, plus what the ACK needs to echo."""

    control_id: str = ""
    version: str = "2.5"
    trigger: str = ""
    sending: tuple[str, str] = ("", "")
    receiving: tuple[str, str] = ("", "")
    actions: list[Action] = field(default_factory=list)
    reject: tuple[str, str] | None = None  # (AE | AR, reason)
    error: str = ""  # HL7 table 0357 code of the ERR segment (default: 200 for AR, 207 for AE)


def _fields(text: str) -> tuple[list[str], str]:
    """The MSH's fields (MSH-n is at index n - 1) and its component separator, with the separators it
    declares, else the standard ones (best effort: this also reads the head of a refused frame)."""
    first = text.split("\r", 1)[0]
    try:
        separators = hl7v2.separators_of(first)
    except hl7v2.Hl7Error:
        separators = hl7v2.Separators()
    return first.split(separators.field), separators.component


def _message_type(text: str) -> str:
    msh, component = _fields(text)
    return msh[8].split(component)[0] if len(msh) > 8 else ""


def _header(text: str, decision: FeedDecision) -> None:
    """Best-effort MSH reading, so that even an unparseable message gets an ACK that refers to it."""
    msh, component = _fields(text)
    if len(msh) > 9:
        decision.control_id = msh[9]
    if len(msh) > 11 and msh[11]:
        decision.version = msh[11].split(component)[0]
    if len(msh) > 5:
        decision.sending = (msh[2], msh[3])
        decision.receiving = (msh[4], msh[5])
    if len(msh) > 8:
        parts = msh[8].split(component)
        decision.trigger = parts[1] if len(parts) > 1 else ""


def _key(cx: str, affinity_domain: str) -> PatientKey | None:
    key = PatientKey.parse(cx)
    if key is None:
        return None
    if affinity_domain and key.authority != affinity_domain:
        return None
    return key


def _demographics(pid: hl7v2.Segment) -> dict[str, str]:
    out: dict[str, str] = {}
    for label, n in (("name", 5), ("birth_date", 7), ("sex", 8), ("address", 11)):
        value = pid.first(n)
        if value:
            out[label] = value
    return out


def interpret(text: str, affinity_domain: str = "", max_segments: int = MAX_SEGMENTS,
              max_patient_segments: int = MAX_PATIENT_SEGMENTS, max_segment_chars: int = MAX_SEGMENT) -> FeedDecision:
    decision = FeedDecision()
    text = text.replace("\n", "\r").strip("\r")
    _header(text, decision)
    if not text.startswith("MSH"):
        decision.reject, decision.error = ("AR", "message does not start with an MSH segment"), SEGMENT_SEQUENCE_ERROR
        return decision
    if decision.version not in SUPPORTED_VERSIONS:
        decision.reject = ("AR", f"HL7 version {decision.version[:20]!r} is not supported; this registry accepts "
                                 f"{', '.join(SUPPORTED_VERSIONS)}")
        decision.error = UNSUPPORTED_VERSION_ID
        return decision
    if _message_type(text) != "ADT":
        decision.reject = ("AR", f"message type {_message_type(text)[:20] or '?'} is not part of ITI-8 (ADT)")
        decision.error = UNSUPPORTED_MESSAGE_TYPE
        return decision
    if decision.trigger not in CREATE_OR_UPDATE and decision.trigger != MERGE:
        decision.reject = ("AR", f"event {decision.trigger[:20] or '?'} is not part of ITI-8 (A01, A04, A05, A08, A40)")
        decision.error = UNSUPPORTED_EVENT_CODE
        return decision
    try:
        msg = hl7v2.parse(text, READ_SEGMENTS, max_segments)
    except hl7v2.Hl7Error as exc:
        decision.reject, decision.error = ("AR", str(exc)), APPLICATION_INTERNAL_ERROR
        return decision
    patient_segments = [seg for seg in msg.segments if seg.name in ("PID", "MRG")]
    if len(patient_segments) > max_patient_segments:
        decision.reject = ("AE", f"the message has {len(patient_segments)} PID/MRG segments; at most "
                                 f"{max_patient_segments} are accepted")
        return decision
    if any(sum(len(f) + 1 for f in seg.fields) > max_segment_chars for seg in patient_segments):
        decision.reject = ("AE", f"a PID or MRG segment is longer than {max_segment_chars} characters")
        return decision
    if decision.trigger == MERGE:
        _merge(patient_segments, decision, affinity_domain)
    else:
        _save(patient_segments, decision, affinity_domain)
    return decision


def _save(segments: list[hl7v2.Segment], decision: FeedDecision, affinity_domain: str) -> None:
    pid = next((seg for seg in segments if seg.name == "PID"), None)
    if pid is None:
        decision.reject = ("AE", "no PID segment")
        return
    demographics = _demographics(pid)
    for cx in pid.repetitions(3):
        key = _key(cx, affinity_domain)
        if key is not None:
            decision.actions.append(SavePatient(key, cx, demographics))
    if not decision.actions:
        where = f"of assigning authority {affinity_domain}" if affinity_domain else "with an assigning authority"
        decision.reject = ("AE", f"PID-3 holds no patient identifier {where}")


def _merge(segments: list[hl7v2.Segment], decision: FeedDecision, affinity_domain: str) -> None:
    surviving: PatientKey | None = None
    surviving_cx = ""
    for seg in segments:
        if seg.name == "PID":
            surviving, surviving_cx = None, ""
            for cx in seg.repetitions(3):
                key = _key(cx, affinity_domain)
                if key is not None:
                    surviving, surviving_cx = key, cx
                    break
        elif seg.name == "MRG":
            if surviving is None:
                decision.reject = ("AE", "MRG segment without a PID identifier of the affinity domain")
                return
            for rep in seg.repetitions(1):
                old = _key(rep, affinity_domain)
                if old is not None and old != surviving:
                    decision.actions.append(MergePatient(old, surviving, surviving_cx))
    if not decision.actions:
        decision.reject = ("AE", "A40 names no prior patient identifier (MRG-1) of the affinity domain to merge")


def apply(decision: FeedDecision, tx: RegistryTx, now: str) -> None:
    for action in decision.actions:
        if isinstance(action, SavePatient):
            tx.save_patient(action.key, action.cx, action.demographics, now)
        else:
            if tx.patient(action.surviving) is None:
                tx.save_patient(action.surviving, action.cx, {}, now)
            tx.merge_patient(action.subsumed, action.surviving, now)


def header_only(text: str) -> FeedDecision:
    """What the ACK of a message needs, read from its first bytes (an oversized frame's head)."""
    decision = FeedDecision()
    _header(text.replace("\n", "\r").lstrip("\r"), decision)
    return decision


def ack(decision: FeedDecision, now: str, ack_control_id: str, code: str = "AA", text: str = "") -> str:
    """The ACK: MSH with sender and receiver swapped, MSA echoing MSH-10, ERR when not accepted."""
    version = decision.version if decision.version in SUPPORTED_VERSIONS else "2.5"
    trigger = decision.trigger or ""
    structure = "^ACK" if version.startswith("2.5") else ""
    segments = [
        "|".join(
            ["MSH", "^~\\&", decision.receiving[0], decision.receiving[1], decision.sending[0], decision.sending[1],
             now, "", f"ACK^{trigger}{structure}", ack_control_id, "P", version]
        ),
        "|".join(["MSA", code, decision.control_id, _escape(text)]) if text else f"MSA|{code}|{decision.control_id}",
    ]
    if code != "AA":
        error = decision.error or (UNSUPPORTED_MESSAGE_TYPE if code == "AR" else APPLICATION_INTERNAL_ERROR)
        hl7_code = f"{error}^{_ERROR_TEXT.get(error, '')}^HL70357"
        if version.startswith("2.5"):
            segments.append(f"ERR|||{hl7_code}|E||||{_escape(text)}")
        else:
            segments.append(f"ERR|^^^{hl7_code.replace('^', '&')}")
    return "\r".join(segments) + "\r"


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\")
        .replace("~", "\\R\\").replace("\r", " ").replace("\n", " ")
    )
