"""The registry's writes (registry.sql.writes): PostgreSQL's one-statement insert of a submission (JSON rows
read back by INSERT ... SELECT) stores exactly the rows SQLite's multi-row inserts store, and refuses what they
refuse."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from harness.builders import new_patient_id, single_document
from registry.register import RegisterSettings, register
from registry.sql import schema
from registry.sql.store import SqlRegistry
from registry.sql.writes import COLUMNS
from xdscore.model import Code, DocumentEntry, PatientKey
from xdscore.profiles.ihe import PROFILE
from xdscore.vocabulary import AssociationType

NOW = "20251130120000"


class Submissions:
    """Two submissions, made once for every backend: a rich one (codes, authors, reference ids, a folder),
    then a document appended to its document."""

    def __init__(self, patient: str) -> None:
        self.first = single_document(patient, event_codes=(Code("E1", "1.2.3", "Event"), Code("E2", "1.2.3", "Event 2")),
                                     reference_ids=("ref1^^^&1.2.3&ISO", "ref2^^^&1.2.3&ISO"))
        self.first.add_folder(codes=(Code("F1", "1.2.3", "Folder code"),))
        self.patient = patient
        self._second: dict[str, Any] = {}

    def second(self, target: str) -> Any:
        if target not in self._second:
            second = self._second[target] = single_document(self.patient)
            second.relate(next(o.id for o in second.objects if o.tag == "ExtrinsicObject"), target, AssociationType.APPEND)
        return self._second[target]


@contextmanager
def fed_store(url: str, patient: str) -> Iterator[SqlRegistry]:
    """A migrated registry store at `url` with `patient` fed (ITI-8), disposed of at the end."""
    store = SqlRegistry(url)
    store.migrate()
    key = PatientKey.parse(patient)
    assert key is not None
    try:
        with store.write() as tx:
            tx.save_patient(key, patient, {}, NOW)
        yield store
    finally:
        store.dispose()


def stored_rows(url: str, submissions: Submissions) -> dict[str, list[tuple[Any, ...]]]:
    """Register the submissions with fixed ids and time; every row of every table the writes fill."""
    ids = (f"urn:uuid:00000000-0000-4000-8000-{n:012d}" for n in itertools.count())
    with fed_store(url, submissions.patient) as store:
        second = submissions.second(first_entry_uuid(store, submissions.first, ids))
        with store.write() as tx:
            outcome = register(second.submission(), tx, RegisterSettings(PROFILE), NOW, lambda: next(ids))
            assert outcome.changes is not None, outcome.violations
            tx.apply(outcome.changes, NOW)
        with store.engine.connect() as conn:
            return {name: sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT {', '.join(cols)} FROM {name}"))
                    for name, cols in COLUMNS.items()}


def first_entry_uuid(store: SqlRegistry, builder: Any, ids: Any) -> str:
    with store.write() as tx:
        outcome = register(builder.submission(), tx, RegisterSettings(PROFILE), NOW, lambda: next(ids))
        assert outcome.changes is not None, outcome.violations
        tx.apply(outcome.changes, NOW)
    return next(o.entry_uuid for o in outcome.changes.new_objects if isinstance(o, DocumentEntry))


def test_postgresql_stores_the_rows_sqlite_stores(pg_url: str, tmp_path: Path) -> None:
    submissions = Submissions(new_patient_id())
    on_sqlite = stored_rows(f"sqlite:///{tmp_path / 'registry.db'}", submissions)
    on_postgresql = stored_rows(pg_url, submissions)
    assert {name for name, rows in on_sqlite.items() if rows} >= {
        "objects", "documents", "document_codes", "document_authors", "document_reference_ids", "submission_sets",
        "folders", "folder_codes", "associations", "registry_ids"}
    for name in COLUMNS:
        assert on_postgresql[name] == on_sqlite[name], name


def test_a_value_longer_than_its_column_is_refused_not_cut(pg_url: str) -> None:
    """The JSON values are cast to the column's type without its length: the insert refuses an over-long
    value, as a plain insert does, and nothing of the submission is stored."""
    patient = new_patient_id()
    with fed_store(pg_url, patient) as store:
        with pytest.raises(DBAPIError, match="too long"), store.write() as tx:
            outcome = register(single_document(patient).submission(), tx, RegisterSettings(PROFILE), NOW,
                               lambda: f"urn:uuid:{new_patient_id()[:8]}")
            assert outcome.changes is not None
            long_mime = [replace(o, mime_type="x" * 200) if isinstance(o, DocumentEntry) else o
                         for o in outcome.changes.new_objects]
            tx.apply(replace(outcome.changes, new_objects=long_mime), NOW)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM objects").scalar() == 0


def test_every_column_of_the_written_tables_is_filled() -> None:
    """A column added to the schema must be added to COLUMNS too (else its rows would go without it):
    every column but the generated `objects.seq` is named, and nothing the schema lacks."""
    for name, cols in COLUMNS.items():
        table = schema.metadata.tables[name]
        generated = {c.name for c in table.c if c.autoincrement is True}
        assert set(cols) == {c.name for c in table.c} - generated, name
        assert len(cols) == len(set(cols)), name


def test_on_postgresql_a_registration_runs_prepared_statements(pg_url: str) -> None:
    """The write path's statements are server-side prepared (xdsservice.dbapi): PostgreSQL parses and plans
    each once per connection, then only binds and runs it (issue 15: its CPU per registration -10 %)."""
    patient = new_patient_id()
    ids = (f"urn:uuid:00000000-0000-4000-9000-{n:012d}" for n in itertools.count())
    with fed_store(pg_url, patient) as store, store.write() as tx:
        outcome = register(single_document(patient).submission(), tx, RegisterSettings(PROFILE), NOW, lambda: next(ids))
        assert outcome.changes is not None, outcome.violations
        tx.apply(outcome.changes, NOW)
        prepared = [s for (s,) in tx.conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements")]
    assert any("FROM patients" in s for s in prepared), prepared  # the known-patient check
    assert any("FROM registry_ids" in s for s in prepared), prepared  # the uniqueId lookup
    assert any("INSERT INTO objects" in s for s in prepared), prepared  # the submission's rows


def test_sqlite_inserts_a_tables_rows_in_statements_of_at_most_999_values(tmp_path: Path) -> None:
    """SQLite gets each table's rows as multi-row INSERTs: 800 reference ids (3 columns: 333 rows a statement)
    are all stored, in three statements, each row once."""
    patient = new_patient_id()
    refs = tuple(f"ref{i}^^^&1.2.3&ISO" for i in range(800))
    statements: list[str] = []
    with fed_store(f"sqlite:///{tmp_path / 'registry.db'}", patient) as store:
        with store.write() as tx:
            tx.conn.connection.driver_connection.set_trace_callback(statements.append)
            outcome = register(single_document(patient, reference_ids=refs).submission(), tx, RegisterSettings(PROFILE),
                               NOW, lambda: f"urn:uuid:{new_patient_id()[:8]}-0000-4000-8000-000000000000")
            assert outcome.changes is not None, outcome.violations
            tx.apply(outcome.changes, NOW)
            tx.conn.connection.driver_connection.set_trace_callback(None)
        with store.engine.connect() as conn:
            stored = [r[0] for r in conn.exec_driver_sql("SELECT value FROM document_reference_ids ORDER BY value")]
            objects = conn.exec_driver_sql("SELECT count(*) FROM objects").scalar()
        assert stored == sorted(refs)
        assert objects == 3  # SubmissionSet, DocumentEntry, HasMember
        inserts = [s for s in statements if s.startswith("INSERT INTO document_reference_ids")]
        assert len(inserts) == 3
