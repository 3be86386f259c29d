"""Patient records for tests of the DMP access rules: an in-memory `PatientRecords` (the port the registry and
the repository read; `dmp/` keeps the real ones in SQL)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from xdscore.access.record import Authorisation, PatientRecord, patient_key


class MemoryRecords:
    def __init__(self, records: Iterable[PatientRecord] = ()) -> None:
        self.records = {patient_key(r.patient_id): r for r in records}

    def put(self, record: PatientRecord) -> None:
        self.records[patient_key(record.patient_id)] = record

    def record_for(self, patient_id: str) -> PatientRecord | None:
        return self.records.get(patient_key(patient_id))


RECORDS_FILE = "XDS_TEST_DMP_RECORDS"


def from_file() -> MemoryRecords:
    """`access_records = "tests.dmp_records:from_file"` for a registry run as a process in a test: the records
    of the JSON file named by $XDS_TEST_DMP_RECORDS, a list of {"patient_id", "authorised": [IdNat_PS...],
    "medecins_traitants": [...], "blocked": [...]}."""
    data = json.loads(Path(os.environ[RECORDS_FILE]).read_text(encoding="utf-8"))
    return MemoryRecords(
        PatientRecord(r["patient_id"], authorised=tuple(Authorisation(a) for a in r.get("authorised", ())),
                      medecins_traitants=frozenset(r.get("medecins_traitants", ())),
                      blocked=frozenset(r.get("blocked", ())))
        for r in data
    )
