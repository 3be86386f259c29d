"""The audit sink's write path in plain DBAPI: one batch of events and rejections in one transaction
(ITI TF-2a 3.20 Audit Record Repository; the DMP access trace).

Every ITI-41 costs the sink two events (the repository's ITI-41, the registry's ITI-42), stored in small
batches while the write path is busy. Built as SQLAlchemy Core statements, each batch paid ~0.5 ms of
Python per event in statement building, IN-clause expansion and compilation: more than SQLite takes to
store it. So the statements here are text written once (`?` markers, run by `xdsservice.dbapi.Dbapi` on
the driver connection under the transaction `xdsservice.database.writing` opened), side-table rows go
with `executemany`, and on PostgreSQL the inserts that need no answer are pipelined. The tables are the
ones `audit.store` declares and its migrations create; reads stay in SQLAlchemy there.

Times are bound as the store reads them back: a `datetime` on PostgreSQL (timestamptz); on SQLite the
text SQLAlchemy's DateTime writes (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC, no offset), since searches and
retention compare those texts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from audit import notify
from audit.record import CONTROL_CHARACTERS, AuditRecord, Code, patient_key
from xdsservice.dbapi import Dbapi, in_list

MAX_REASON = 2000  # characters of a rejection's reason

EVENT_COLUMNS = (
    "digest", "received_at", "transport", "peer", "peer_certificate", "syslog_timestamp", "syslog_hostname",
    "syslog_app_name", "syslog_procid", "event_id", "event_name", "event_action", "event_type", "event_type_name",
    "event_time", "outcome", "user_id", "user_name", "user_roles", "organisation_id", "organisation", "access_mode",
    "purposes", "source_user_id", "source_address", "destination_user_id", "destination_address", "audit_source_id",
    "submission_set_id", "query_id", "message", "outcome_description",
)
INSERT_EVENT = f"INSERT INTO audit_event ({', '.join(EVENT_COLUMNS)}) VALUES ({in_list(len(EVENT_COLUMNS))})"
INSERT_PATIENT = "INSERT INTO audit_event_patient (event_id, event_time, patient_id, patient_key) VALUES (?, ?, ?, ?)"
INSERT_DOCUMENT = (
    'INSERT INTO audit_event_document (event_id, event_time, "position", document_unique_id, repository_unique_id,'
    " home_community_id) VALUES (?, ?, ?, ?, ?, ?)"
)
NOTIFICATION_FIELDS = ("patient_id", "kind", "event_time", "user_id", "user_name", "access_mode", "transaction",
                       "document_unique_id", "text")
INSERT_NOTIFICATION = (
    "INSERT INTO audit_notification (event_id, patient_key, patient_id, kind, event_time, user_id, user_name,"
    ' access_mode, "transaction", document_unique_id, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)
INSERT_REJECTED = "INSERT INTO audit_rejected (received_at, transport, peer, reason, data, digest) VALUES (?, ?, ?, ?, ?, ?)"
ADD_TO_COUNT = "UPDATE audit_count SET value = value + ? WHERE name = ?"
# A successful DMP access by this user to this patient before this event: then this one is not the first.
EARLIER_ACCESS = (
    "SELECT e.id FROM audit_event_patient p JOIN audit_event e ON e.id = p.event_id AND e.event_time = p.event_time"
    " WHERE p.patient_key = ? AND e.user_id = ? AND e.outcome = 0 AND e.access_mode <> '' AND e.id < ? LIMIT 1"
)


@lru_cache(maxsize=256)
def _ids_sql(digests: int, times: int) -> str:
    # The event times narrow the lookup to their partitions (PostgreSQL).
    return f"SELECT digest, id FROM audit_event WHERE digest IN ({in_list(digests)}) AND event_time IN ({in_list(times)})"


@lru_cache(maxsize=256)
def _rejected_sql(digests: int) -> str:
    return f"SELECT digest FROM audit_rejected WHERE digest IN ({in_list(digests)})"


def sqlite_time(moment: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite DateTime stores it (microseconds always written)."""
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond:06d}")


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def plain(text: str, limit: int) -> str:
    """Text safe for any column: control characters (NUL breaks PostgreSQL) replaced, cut to `limit`."""
    return CONTROL_CHARACTERS.sub("\ufffd", str(text))[:limit]


def rejection_digest(data: bytes, transport: str) -> str | None:
    """The key a rejection is kept once by: the same bytes over the same transport (a resend)."""
    return hashlib.sha256(transport.encode() + b"\0" + bytes(data)).hexdigest() if data else None


def patients_of(record: AuditRecord) -> dict[str, str]:
    """Each patient the event names once: key -> the id as first written."""
    keys = record.patient_keys if len(record.patient_keys) == len(record.patient_ids) else tuple(
        map(patient_key, record.patient_ids))
    out: dict[str, str] = {}
    for key, patient in zip(keys, record.patient_ids, strict=True):
        out.setdefault(key, patient)
    return out


def _codes_json(codes: Iterable[Code]) -> str:
    return json.dumps([{"code": c.code, "system": c.system, "text": c.text} for c in codes], ensure_ascii=False)


def event_values(record: AuditRecord, origin: Any, time: Callable[[datetime], Any] = utc) -> tuple[Any, ...]:
    """The values of an event's `audit_event` row, in `EVENT_COLUMNS` order; `time` binds the two times."""
    return (
        record.digest, time(utc(origin.received_at)), origin.transport, plain(origin.peer, 255),
        None if origin.peer_certificate is None else plain(origin.peer_certificate, 4000),
        record.syslog_timestamp, record.syslog_hostname, record.syslog_app_name, record.syslog_procid,
        record.event_id, record.event_name, record.event_action[:1], record.event_type, record.event_type_name,
        time(record.event_time), record.outcome, record.user_id, record.user_name,
        _codes_json(record.user_roles), record.organisation_id, record.organisation, record.access_mode,
        _codes_json(record.purposes), record.source_user_id, record.source_address, record.destination_user_id,
        record.destination_address, record.audit_source_id, record.submission_set_id, record.query_id,
        record.message, record.outcome_description,
    )


class BatchWriter:
    """Stores one batch on a write connection (`db`); `time` turns a UTC datetime into its bound value."""

    def __init__(self, db: Dbapi) -> None:
        self.db = db
        self.time: Callable[[datetime], Any] = sqlite_time if db.sqlite else utc

    def add(self, unique: dict[str, tuple[AuditRecord, Any]],
            rejected: Sequence[tuple[bytes, str, Any]]) -> tuple[int, int, list[notify.Notification]]:
        """Store the events of `unique` (by digest) not stored yet and the rejections not kept yet; the
        number of each that were new, and the DMP notifications stored with them."""
        inserted: dict[str, int] = {}
        if unique:
            # Plain executemany then one SELECT: fewer statements than INSERT ... RETURNING per row. A
            # concurrent sink storing the same message makes this batch fail (unique digest) and be retried.
            known = self._ids(unique)
            new = [digest for digest in unique if digest not in known]
            if new:
                self.db.executemany(INSERT_EVENT, [event_values(*unique[digest], self.time) for digest in new])
                inserted = self._ids({digest: unique[digest] for digest in new})
        patients: list[tuple[Any, ...]] = []
        documents: list[tuple[Any, ...]] = []
        for digest, event_id in inserted.items():
            record = unique[digest][0]
            at = self.time(record.event_time)
            patients += [(event_id, at, p, k) for k, p in patients_of(record).items()]
            documents += [(event_id, at, i, d.unique_id, d.repository_unique_id, d.home_community_id)
                          for i, d in enumerate(record.documents)]
        with self.db.pipeline():
            self.db.executemany(INSERT_PATIENT, patients)
            self.db.executemany(INSERT_DOCUMENT, documents)
        notes, note_rows = self._notifications([(unique[digest][0], event_id) for digest, event_id in inserted.items()])
        kept = self._new_rejections(rejected)
        with self.db.pipeline():
            self.db.executemany(INSERT_NOTIFICATION, note_rows)
            self.db.executemany(INSERT_REJECTED, kept)
            if inserted:
                self.db.execute(ADD_TO_COUNT, (len(inserted), "events"))
            if kept:
                self.db.execute(ADD_TO_COUNT, (len(kept), "rejected"))
        return len(inserted), len(kept), notes

    def _ids(self, records: dict[str, tuple[AuditRecord, Any]]) -> dict[str, int]:
        """The ids of these messages already stored."""
        times = list({self.time(r.event_time) for r, _ in records.values()})
        return dict(self.db.rows(_ids_sql(len(records), len(times)), [*records, *times]))  # type: ignore[arg-type]

    def _new_rejections(self, rejected: Sequence[tuple[bytes, str, Any]]) -> list[tuple[Any, ...]]:
        """The rows of the rejections not kept yet (by digest; an empty frame has none and is always kept)."""
        rows: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        for data, reason, o in rejected:
            transport = plain(o.transport, 8)
            digest = rejection_digest(data, transport)
            if digest is not None and digest in seen:
                continue
            if digest is not None:
                seen.add(digest)
            rows.append((self.time(utc(o.received_at)), transport, plain(o.peer, 255), plain(reason, MAX_REASON),
                         bytes(data), digest))
        if seen:
            known = {digest for (digest,) in self.db.rows(_rejected_sql(len(seen)), list(seen))}
            rows = [row for row in rows if row[5] not in known]
        return rows

    def _notifications(self, new: list[tuple[AuditRecord, int]]) -> tuple[list[notify.Notification], list[tuple[Any, ...]]]:
        """The DMP notifications of the new events (audit.notify), and their rows."""
        rows: list[tuple[Any, ...]] = []
        out: list[notify.Notification] = []
        for record, event_id in sorted(new, key=lambda pair: pair[1]):
            first: set[str] = set()
            patients = patients_of(record)
            if notify.is_access(record):
                for key in patients:
                    if not self.db.rows(EARLIER_ACCESS, (key, record.user_id, event_id)):
                        first.add(patients[key])
            for note in notify.derive(record, frozenset(first), tuple(patients.values())):
                out.append(note)
                values = [getattr(note, k) for k in NOTIFICATION_FIELDS]
                values[2] = self.time(note.event_time)
                rows.append((event_id, patient_key(note.patient_id), *values))
        return out, rows
