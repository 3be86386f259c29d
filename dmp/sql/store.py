"""The DMP record store on SQL (the registry's database, `dmp.sql.schema`): read and write transactions
that implement `dmp.store.RecordTx`.

The engine is the registry's (one engine per database: `xdsservice.database`). Writes on SQLite are
serialized by the engine's BEGIN IMMEDIATE; on PostgreSQL a transaction-scoped advisory lock on the
patient serializes two writers of one record, so read-check-write sequences (TD0.3 on an existing
authorisation) cannot interleave.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, select

from dmp.model import Actor, Change, HistoryEntry, StoredRecord, Who, person_from_json, person_json
from dmp.sql import schema
from dmp.sql.migrate import upgrade
from xdscore.access.record import ActorKind, PatientRecord, RecordStatus, patient_key
from xdscore.dmpws.vocabulary import AuthorizationMode
from xdsservice.database import advisory_lock, make_engine, writing

R, A, H = schema.records, schema.actors, schema.history


def _record(row: Any) -> StoredRecord:
    return StoredRecord(
        patient=row.patient, status=RecordStatus(row.status), opposes_bris_de_glace=bool(row.opposes_bris_de_glace),
        opposes_centre_15=bool(row.opposes_centre_15), hidden_from_everyone=bool(row.hidden_from_everyone),
        masked_visible_in_emergency=bool(row.masked_visible_in_emergency), mes_attached=bool(row.mes_attached),
        internet_account=bool(row.internet_account), person=person_from_json(row.person), ins_c=row.ins_c,
        created_at=row.created_at, updated_at=row.updated_at, closed_at=row.closed_at,
        closure_reason=row.closure_reason,
    )


def _actor(row: Any) -> Actor:
    return Actor(
        kind=ActorKind(row.kind), actor_id=row.actor_id, mode=AuthorizationMode(row.mode), first_name=row.first_name,
        last_name=row.last_name, specialities=tuple(tuple(s) for s in json.loads(row.specialities or "[]")),
        structure_id=row.structure_id, authorised_at=row.authorised_at, medecin_traitant=bool(row.medecin_traitant),
        last_action_at=row.last_action_at,
        last_access_at=row.last_access_at,
    )


class SqlRecordTx:
    """One transaction on the record tables (`dmp.store.RecordTx`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock(self, patient: str) -> None:
        advisory_lock(self.conn, f"dmp:{patient}")

    def record(self, patient: str) -> StoredRecord | None:
        row = self.conn.execute(select(R).where(R.c.patient == patient)).first()
        return _record(row) if row is not None else None

    def save(self, record: StoredRecord) -> None:
        values = {
            "status": record.status.value, "opposes_bris_de_glace": record.opposes_bris_de_glace,
            "opposes_centre_15": record.opposes_centre_15, "hidden_from_everyone": record.hidden_from_everyone,
            "masked_visible_in_emergency": record.masked_visible_in_emergency, "mes_attached": record.mes_attached,
            "internet_account": record.internet_account, "person": person_json(record.person),
            "ins_c": record.ins_c, "created_at": record.created_at, "updated_at": record.updated_at,
            "closed_at": record.closed_at, "closure_reason": record.closure_reason,
        }
        done = self.conn.execute(R.update().where(R.c.patient == record.patient).values(**values))
        if done.rowcount == 0:
            self.conn.execute(R.insert().values(patient=record.patient, **values))

    def actors(self, patient: str) -> list[Actor]:
        rows = self.conn.execute(select(A).where(A.c.patient == patient).order_by(A.c.id))
        return [_actor(r) for r in rows]

    def actor(self, patient: str, kind: ActorKind, actor_id: str) -> Actor | None:
        row = self.conn.execute(select(A).where(
            A.c.patient == patient, A.c.kind == kind.value, A.c.actor_id == actor_id)).first()
        return _actor(row) if row is not None else None

    def save_actor(self, patient: str, actor: Actor) -> None:
        values = {
            "mode": actor.mode.value, "first_name": actor.first_name, "last_name": actor.last_name,
            "specialities": json.dumps([list(s) for s in actor.specialities], ensure_ascii=False),
            "structure_id": actor.structure_id, "authorised_at": actor.authorised_at,
            "medecin_traitant": actor.medecin_traitant,
            "last_action_at": actor.last_action_at, "last_access_at": actor.last_access_at,
        }
        key = and_(A.c.patient == patient, A.c.kind == actor.kind.value, A.c.actor_id == actor.actor_id)
        if self.conn.execute(A.update().where(key).values(**values)).rowcount == 0:
            self.conn.execute(A.insert().values(patient=patient, kind=actor.kind.value, actor_id=actor.actor_id, **values))

    def remove_actor(self, patient: str, kind: ActorKind, actor_id: str) -> None:
        self.conn.execute(delete(A).where(A.c.patient == patient, A.c.kind == kind.value, A.c.actor_id == actor_id))

    def log(self, entry: HistoryEntry) -> None:
        self.conn.execute(H.insert().values(
            patient=entry.patient, at=entry.at, change=entry.change.value, who=entry.who.id,
            who_name=entry.who.name, via=entry.who.via, detail=json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)))

    def history(self, patient: str) -> list[HistoryEntry]:
        rows = self.conn.execute(select(H).where(H.c.patient == patient).order_by(H.c.seq))
        return [HistoryEntry(r.patient, r.at, Change(r.change), Who(r.who, r.who_name, r.via), json.loads(r.detail))
                for r in rows]

    def records_of(self, kind: ActorKind, actor_ids: Iterable[str], structure_id: str = "") -> list[tuple[StoredRecord, Actor]]:
        ids = sorted(set(actor_ids))
        who = and_(A.c.kind == kind.value, A.c.actor_id.in_(ids)) if ids else None
        if structure_id:
            by_structure = and_(A.c.kind == ActorKind.PROFESSIONAL.value, A.c.structure_id == structure_id)
            who = or_(who, by_structure) if who is not None else by_structure
        if who is None:
            return []
        rows = self.conn.execute(
            select(R, *[c.label(f"a_{c.name}") for c in A.c])
            .join(A, A.c.patient == R.c.patient)
            .where(who, A.c.mode == AuthorizationMode.ACTIVE.value, A.c.authorised_at != "")
            .order_by(R.c.patient, A.c.id))
        out: list[tuple[StoredRecord, Actor]] = []
        for row in rows:
            m = row._mapping
            actor = _actor(type("Row", (), {c.name: m[f"a_{c.name}"] for c in A.c})())
            out.append((_record(row), actor))
        return out

    def view(self, patient: str, authorisation_days: int = 0) -> PatientRecord | None:
        """The access decision's view of a record (xdscore.access.record.PatientRecord)."""
        record = self.record(patient)
        return record.view(self.actors(patient), authorisation_days) if record is not None else None


class SqlRecords:
    """The record store on an engine (the registry's): migrations, read and write transactions, and the
    access rules' port (`xdscore.access.record.PatientRecords.record_for`)."""

    def __init__(self, engine: Engine, authorisation_days: int = 0) -> None:
        self.engine = engine
        self.authorisation_days = authorisation_days

    def migrate(self) -> None:
        upgrade(self.engine)

    @contextmanager
    def write(self, patient: str = "") -> Iterator[SqlRecordTx]:
        with writing(self.engine) as conn:
            tx = SqlRecordTx(conn)
            if patient:
                tx.lock(patient)
            yield tx

    @contextmanager
    def read(self) -> Iterator[SqlRecordTx]:
        with self.engine.connect() as conn, conn.begin():
            yield SqlRecordTx(conn)

    def record_for(self, patient_id: str) -> PatientRecord | None:
        """The record of the patient whose INS CX is `patient_id`, None when the patient has no DMP."""
        with self.read() as tx:
            return tx.view(patient_key(patient_id), self.authorisation_days)


def from_environment() -> SqlRecords:
    """The records of the registry's database for another process (the repository's access rules:
    `XDS_ACCESS_RECORDS=dmp.sql.store:from_environment`): `XDS_REGISTRY_DATABASE_URL`, else the registry's
    default SQLite file under `XDS_REGISTRY_DATA_DIR` or `$XDS_DATA_DIR/registry`; the authorisation
    lifetime from `XDS_DMP_AUTHORIZATION_DAYS` (as the registry reads them)."""
    env = os.environ
    url = env.get("XDS_REGISTRY_DATABASE_URL", "")
    if not url:
        folder = Path(env.get("XDS_REGISTRY_DATA_DIR") or Path(env.get("XDS_DATA_DIR") or "./data") / "registry")
        url = f"sqlite:///{(folder / 'registry.db').resolve()}"
    days = env.get("XDS_DMP_AUTHORIZATION_DAYS", "0").strip() or "0"
    return SqlRecords(make_engine(url), int(days) if days.isdigit() else 0)
