"""The DMP announcement timer (CSP R1111-53), a scheduled job of the registry under XDS_PROFILE=dmp.

A professional may keep a document from the patient until an announcement consultation (confidentiality
INVISIBLE_PATIENT). "If no consultation has taken place within two weeks, the patient is told that the record
was updated and is invited to see a professional; after one month the data becomes visible." The access
decision already shows such a document to the patient once `announcement_days` have passed since its logical
document was first registered (`xdscore.access.decide.announced`); this job tells the patient: at
`notice_days` a DMP-ANNOUNCEMENT-NOTICE audit event, at `announcement_days` a DMP-ANNOUNCED one, each naming
the patient and the document, which the audit sink turns into notifications (`audit.notify`). Each is done
once per logical document (`dmp_announcements`), whatever the number of registry processes or restarts: the
row is written in the same transaction that selects the work, under the registry's write lock.

A document whose newest version no longer carries INVISIBLE_PATIENT (a professional made it visible,
TD3.3b) is not announced; deprecated and deleted versions are not looked at, nor signature entries, whose
INVISIBLE_PATIENT is for good (rule 17).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.engine import Connection

from registry.sql import patient_number
from registry.sql import schema as t
from registry.sql.fragments import unpack
from registry.sql.store import SqlRegistry
from xdscore import xmlsafe
from xdscore.access.decide import AccessPolicy
from xdscore.access.entry import INVISIBLE_PATIENT, SIGNATURE_CLASS_CODE
from xdscore.clock import dtm
from xdscore.ebrim import document_entry, rim
from xdscore.model import PatientKey
from xdscore.vocabulary import DmpStatus, Status

log = logging.getLogger("xds.registry.announce")

NOTICE, ANNOUNCED = "notice", "announced"
LIVE_STATUSES = (Status.APPROVED.value, DmpStatus.ARCHIVED.value)


@dataclass(frozen=True)
class Announcement:
    kind: str  # NOTICE | ANNOUNCED
    lid: str
    patient_id: str  # the DocumentEntry's patientId, as submitted
    unique_id: str
    repository_unique_id: str


def due(conn: Connection, now: datetime, policy: AccessPolicy) -> list[Announcement]:
    """What is due at `now`: documents hidden from the patient whose notice or announcement has not been made."""
    o, d, c, a = t.objects.c, t.documents.c, t.document_codes.c, t.dmp_announcements.c
    # Every join and group holds the patient: the tables are distributed by it (registry.sql.schema), so on
    # Citus each worker answers for its own patients.
    firsts = (select(o.patient, o.lid, func.min(o.registered_at).label("first")).where(o.kind == "DE")
              .group_by(o.patient, o.lid).subquery())
    notice_by, announce_by = dtm(now - policy.announcement_notice), dtm(now - policy.announcement_delay)
    hidden = exists().where(c.patient == o.patient, c.uuid == o.uuid, c.code_type == "C",
                            c.value.like(f"{INVISIBLE_PATIENT}^^%"))
    signature = d.class_code.like(f"{SIGNATURE_CLASS_CODE}^^%")  # rule 17: hidden for good, never announced
    rows = (
        select(o.lid, o.fragment, d.repository_unique_id, firsts.c.first, a.notice_at, a.announced_at)
        .select_from(t.objects.join(t.documents, and_(d.patient == o.patient, d.uuid == o.uuid))
                     .join(firsts, and_(firsts.c.patient == o.patient, firsts.c.lid == o.lid))
                     .outerjoin(t.dmp_announcements, and_(a.patient == o.patient, a.lid == o.lid)))
        .where(o.kind == "DE", o.status.in_(LIVE_STATUSES), hidden, ~signature, firsts.c.first <= notice_by,
               or_(a.notice_at.is_(None), and_(a.announced_at.is_(None), firsts.c.first <= announce_by)))
    )
    out = []
    for lid, fragment, repository, first, notice_at, announced_at in conn.execute(rows):
        de = document_entry.read(rim.read_object(xmlsafe.parse_bytes(unpack(fragment))))
        base = {"lid": lid, "patient_id": de.patient_id or "", "unique_id": de.unique_id or "",
                "repository_unique_id": repository or ""}
        if announced_at is None and first <= announce_by:
            out.append(Announcement(ANNOUNCED, **base))  # a notice not sent in time is not sent late
        elif notice_at is None:
            out.append(Announcement(NOTICE, **base))
    return out


def mark(conn: Connection, done: list[Announcement], now: datetime) -> None:
    a = t.dmp_announcements
    stamp = dtm(now)
    known = {(p, lid) for p, lid in conn.execute(select(a.c.patient, a.c.lid).where(a.c.lid.in_([x.lid for x in done])))} if done else set()
    for x in done:
        key = PatientKey.parse(x.patient_id)
        patient = patient_number.of(key) if key else patient_number.NONE
        values = {"notice_at": stamp} if x.kind == NOTICE else {"notice_at": stamp, "announced_at": stamp}
        if (patient, x.lid) in known:
            if x.kind == ANNOUNCED:  # keep the time the notice was sent
                values = {"announced_at": stamp}
            conn.execute(a.update().where(a.c.patient == patient, a.c.lid == x.lid).values(**values))
        else:
            conn.execute(a.insert().values(patient=patient, lid=x.lid, **values))
            known.add((patient, x.lid))


class Announcer:
    """Runs `run_once` every `interval` seconds while the registry serves; `report` gets what was done."""

    def __init__(self, store: SqlRegistry, policy: AccessPolicy, interval: float,
                 report: Callable[[list[Announcement]], None],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.policy, self.interval, self.report, self.clock = store, policy, interval, report, clock
        self._task: asyncio.Task[None] | None = None

    def run_once(self, now: datetime | None = None) -> list[Announcement]:
        moment = now or self.clock()
        with self.store.write(["dmp-announcements"]) as tx:
            done = due(tx.conn, moment, self.policy)
            mark(tx.conn, done, moment)
        if done:
            log.info("DMP announcements: %d notice(s), %d document(s) made visible",
                     sum(x.kind == NOTICE for x in done), sum(x.kind == ANNOUNCED for x in done))
            self.report(done)
        return done

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="dmp-announcements")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # the job must outlive a database hiccup; it retries at the next tick
                log.exception("DMP announcement job failed; retried in %.0f s", self.interval)


__all__ = ["ANNOUNCED", "NOTICE", "Announcement", "Announcer", "due", "mark"]
