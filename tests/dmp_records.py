"""Patient records for tests of the DMP access rules: an in-memory `PatientRecords` (the port the registry and
the repository read; `dmp/` keeps the real ones in SQL)."""

from __future__ import annotations

from collections.abc import Iterable

from xdscore.access.record import PatientRecord, patient_key


class MemoryRecords:
    def __init__(self, records: Iterable[PatientRecord] = ()) -> None:
        self.records = {patient_key(r.patient_id): r for r in records}

    def put(self, record: PatientRecord) -> None:
        self.records[patient_key(record.patient_id)] = record

    def record_for(self, patient_id: str) -> PatientRecord | None:
        return self.records.get(patient_key(patient_id))
