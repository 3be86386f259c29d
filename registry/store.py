"""The registry's store port: what the transactions may read, and the changes they hand back to write.

Transactions are pure functions over `RegistryReader`; the SQL store (`registry.sql.store`) implements it
inside one database transaction, so the checks and the writes of a submission see the same state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from xdscore.model import ObjectKind, Patient, PatientKey, RegistryEntry


@dataclass(frozen=True)
class StoredRef:
    """What the stateful rules need to know about an object already registered."""

    entry_uuid: str
    kind: ObjectKind
    status: str
    patient: str | None  # str(PatientKey)
    lid: str | None = None
    unique_id: str | None = None
    version: int = 1


@dataclass(frozen=True)
class StoredAssociation:
    """An association already registered, with its current availabilityStatus (ITI-57 may deprecate it)."""

    entry_uuid: str
    association_type: str
    source: str
    target: str
    status: str


@dataclass(frozen=True)
class StoredDocument:
    entry_uuid: str
    unique_id: str
    hash: str | None
    size: int | None
    status: str


@dataclass
class Changes:
    """Everything one accepted transaction writes, applied atomically by the store."""

    new_objects: list[RegistryEntry] = field(default_factory=list)
    status_updates: dict[str, str] = field(default_factory=dict)  # entryUUID -> new availabilityStatus
    folder_updates: dict[str, str] = field(default_factory=dict)  # Folder entryUUID -> lastUpdateTime
    removed: list[str] = field(default_factory=list)  # entryUUIDs deleted (ITI-62), before the inserts


class RegistryReader(Protocol):
    def expect_submission(self, patient: PatientKey | None, document_unique_ids: Iterable[str | None],
                          package_unique_ids: Iterable[str | None]) -> None:
        """A hint: `patient(patient)` and `unique_ids_in_use(...)` of these follow (one submission's checks),
        so a store may read them together. Answers are as if read when asked."""

    def patient(self, key: PatientKey) -> Patient | None: ...

    def existing_uuids(self, uuids: Iterable[str]) -> set[str]: ...

    def refs(self, uuids: Iterable[str]) -> dict[str, StoredRef]: ...

    def documents_by_unique_id(self, unique_ids: Iterable[str]) -> dict[str, list[StoredDocument]]: ...

    def used_package_unique_ids(self, unique_ids: Iterable[str]) -> set[str]: ...

    def unique_ids_in_use(self, document_unique_ids: Iterable[str], package_unique_ids: Iterable[str]
                          ) -> tuple[dict[str, list[StoredDocument]], set[str]]: ...

    def folders_of_documents(self, document_uuids: Iterable[str]) -> dict[str, list[str]]: ...

    def relationship_sources(self, target_uuids: Iterable[str], association_types: Iterable[str]) -> dict[str, list[str]]: ...

    # --- metadata lifecycle (ITI-57, ITI-92, ITI-62) ---------------------------------------------------

    def latest_versions(self, lids: Iterable[str]) -> dict[str, StoredRef]: ...

    def stored_entries(self, uuids: Iterable[str]) -> dict[str, RegistryEntry]: ...

    def associations_touching(self, uuids: Iterable[str]) -> list[StoredAssociation]: ...
