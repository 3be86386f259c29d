"""The registry's side of the DMP actor's port (`dmp.ports.RegistryFacts`): the identity the patient feed
gave (ITI-8) and the dates of a patient's documents (TD0.4 lastAddDate / lastUpdateDate), read from the
registry's own tables; the DMP actor never reads them itself."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import case, func, select

from dmp.ports import DocumentDates
from registry.sql import patient_number, schema
from registry.sql.store import SqlRegistry
from xdscore.model import PatientKey


class RegistryFactsSql:
    def __init__(self, store: SqlRegistry) -> None:
        self.store = store

    def demographics(self, patient: str) -> dict[str, str] | None:
        key = PatientKey.parse(patient)
        if key is None:
            return None
        with self.store.read() as tx:
            found = tx.patient(key)
        return dict(found.demographics) if found is not None else None

    def document_dates(self, patients: Iterable[str]) -> dict[str, DocumentDates]:
        wanted = sorted(set(patients))
        if not wanted:
            return {}
        o, p = schema.objects, schema.patients
        # A first version is an addition; any DocumentEntry version (ITI-57 metadata update) is an update. By
        # patient number, each checked against its text (registry.sql.patient_number).
        stmt = (select(p.c.key_text, func.max(case((o.c.version == 1, o.c.registered_at))), func.max(o.c.registered_at))
                .select_from(o.join(p, p.c.patient == o.c.patient))
                .where(o.c.patient.in_([patient_number.number(w) for w in wanted]), p.c.key_text.in_(wanted), o.c.kind == "DE")
                .group_by(o.c.patient, p.c.key_text))
        with self.store.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return {patient: DocumentDates(added or "", updated or "") for patient, added, updated in rows}
