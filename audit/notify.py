"""DMP notifications: what the patient must be told, derived from the audit events the sink stores.

- every **emergency access** (VIHF purposeofuse bris_de_glace / centre_15): "the holder and the médecin
  traitant are informed afterwards, electronically" (CSP R1111-48; dmp-access-and-scale.md §2.2 item 17);
- a professional's **first access** to the record (arrêté du 26/10/2023, dmp-access-and-scale.md item 22);
- a document hidden from the patient (INVISIBLE_PATIENT) **made visible**, and the **notice** at two
  weeks (CSP R1111-53), from the registry's announcement events (`xdscore.audit_events.Transaction.DMP_ANNOUNCED`).

Only successful DMP accesses count (an event with a patient and a VIHF access mode, outcome 0), and never the
patient's (or anyone's) access to its own record. Notifications are stored with the event that caused them
(`audit.store`, listed by the HTTP API) and handed to the delivery channels after the event is stored:
`NotificationChannel` is the interface, `FileChannel` (JSON lines) and `LogChannel` the implementations.
A channel that fails is logged; the stored notification stays the record.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from audit.record import AuditRecord
from xdscore.audit_events import Transaction

log = logging.getLogger("xds.audit.notify")

FIRST_ACCESS = "first_access"
EMERGENCY_ACCESS = "emergency_access"
DOCUMENT_VISIBLE = "document_visible"
ANNOUNCEMENT_NOTICE = "announcement_notice"
EMERGENCY_MODES = frozenset({"bris_de_glace", "centre_15"})
TEXTS = {
    FIRST_ACCESS: "{who} accessed your DMP for the first time",
    EMERGENCY_ACCESS: "{who} accessed your DMP in emergency mode ({mode})",
    DOCUMENT_VISIBLE: "a document of your DMP is now visible to you ({document})",
    ANNOUNCEMENT_NOTICE: "your DMP was updated: please see a health professional about a new document ({document})",
}


@dataclass(frozen=True)
class Notification:
    patient_id: str
    kind: str
    event_time: datetime
    user_id: str = ""
    user_name: str = ""
    access_mode: str = ""
    transaction: str = ""
    document_unique_id: str = ""
    text: str = ""


def _name_id(user_id: str) -> str:
    """The NameID of an XUA audit user id `SPProvidedID<NameID@Issuer>` (the id itself otherwise)."""
    if "<" in user_id and "@" in user_id:
        return user_id.split("<", 1)[1].rsplit("@", 1)[0]
    return user_id


def is_own_record(user_id: str, patient_id: str) -> bool:
    name_id = _name_id(user_id)
    return bool(name_id) and (name_id == patient_id or name_id == patient_id.split("^")[0])


def is_access(record: AuditRecord) -> bool:
    """A successful DMP access by a professional (the events first-access notifications count)."""
    return record.outcome == 0 and bool(record.access_mode) and bool(record.patient_ids) and bool(record.user_id)


def derive(record: AuditRecord, first_access_to: frozenset[str] = frozenset(),
           patients: tuple[str, ...] | None = None) -> list[Notification]:
    """The notifications `record` calls for; `first_access_to`: the patients this event is the user's first
    access to (the store knows the history); `patients`: the record's patients once each (two forms of one
    patient's CX are one patient, `audit.record.patient_key`), default all its patient ids."""
    patients = record.patient_ids if patients is None else patients
    out: list[Notification] = []
    if record.event_type in (Transaction.DMP_ANNOUNCED.value, Transaction.DMP_ANNOUNCEMENT_NOTICE.value):
        kind = DOCUMENT_VISIBLE if record.event_type == Transaction.DMP_ANNOUNCED.value else ANNOUNCEMENT_NOTICE
        for patient in patients:
            for document in record.documents or ():
                out.append(Notification(patient, kind, record.event_time, transaction=record.event_type,
                                        document_unique_id=document.unique_id,
                                        text=TEXTS[kind].format(document=document.unique_id)))
        return out
    if not is_access(record):
        return out
    who = record.user_name or _name_id(record.user_id)
    for patient in patients:
        if is_own_record(record.user_id, patient):
            continue
        base = {"patient_id": patient, "event_time": record.event_time, "user_id": record.user_id,
                "user_name": record.user_name, "access_mode": record.access_mode, "transaction": record.event_type}
        if record.access_mode in EMERGENCY_MODES:
            out.append(Notification(kind=EMERGENCY_ACCESS, text=TEXTS[EMERGENCY_ACCESS].format(
                who=who, mode=record.access_mode), **base))  # type: ignore[arg-type]
        if patient in first_access_to:
            out.append(Notification(kind=FIRST_ACCESS, text=TEXTS[FIRST_ACCESS].format(who=who), **base))  # type: ignore[arg-type]
    return out


class NotificationChannel(Protocol):
    """How notifications reach the patient (and the médecin traitant): e-mail, SMS, Mon espace santé..."""

    def deliver(self, notification: Notification) -> None: ...


class FileChannel:
    """Appends each notification as one JSON line to a file (flushed and fsynced: what was delivered stays)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def deliver(self, notification: Notification) -> None:
        line = json.dumps({**asdict(notification), "event_time": notification.event_time.isoformat()},
                          ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


class LogChannel:
    """Logs each notification (INFO, logger `xds.audit.notify`)."""

    def deliver(self, notification: Notification) -> None:
        log.info("notification %s for %s: %s", notification.kind, notification.patient_id, notification.text)


def deliver_all(channels: tuple[NotificationChannel, ...], notifications: list[Notification]) -> None:
    for notification in notifications:
        for channel in channels:
            try:
                channel.deliver(notification)
            except Exception:  # a channel must never stop the sink
                log.exception("notification channel %s failed", type(channel).__name__)
