"""The DMP record store's port: what the DMP's services read and write inside one transaction.

`dmp.sql.store.SqlRecords` implements it on the registry's database. The services (`dmp.patients`,
`dmp.habilitations`, `dmp.patient_list`, `dmp.choices`) are plain functions over a `RecordTx`, so the
checks and the writes of one request see one state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from dmp.model import Actor, HistoryEntry, StoredRecord
from xdscore.access.record import ActorKind


class RecordTx(Protocol):
    def record(self, patient: str) -> StoredRecord | None: ...

    def save(self, record: StoredRecord) -> None:
        """Insert or replace the record's own row (not its actors)."""

    def actors(self, patient: str) -> list[Actor]: ...

    def actor(self, patient: str, kind: ActorKind, actor_id: str) -> Actor | None: ...

    def save_actor(self, patient: str, actor: Actor) -> None: ...

    def remove_actor(self, patient: str, kind: ActorKind, actor_id: str) -> None: ...

    def log(self, entry: HistoryEntry) -> None: ...

    def history(self, patient: str) -> list[HistoryEntry]: ...

    def records_of(self, kind: ActorKind, actor_ids: Iterable[str], structure_id: str = "") -> list[tuple[StoredRecord, Actor]]:
        """Each record with an ACTIVE row of one of these actors, or (`structure_id`) of a professional who
        acted for that structure: the TD0.4 list."""
