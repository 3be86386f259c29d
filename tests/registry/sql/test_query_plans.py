"""Every stored query selects through indexes: each SQL statement the fourteen queries run (with the filters
that add joins and EXISTS), through SQLAlchemy or as plain DBAPI (`xdsservice.dbapi`: the `registry_ids`
lookups of the Get* queries), is checked with SQLite's EXPLAIN QUERY PLAN for a full scan of a table."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event

from harness.builders import new_patient_id, single_document
from registry import query
from registry.sql.queries import QuerySql
from tests.registry.helpers import RegistryHarness
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import AssociationType, Status
from xdscore.vocabulary import StoredQueryId as Q
from xdsservice.dbapi import Dbapi

APPROVED = Status.APPROVED.value
FULL_SCAN = re.compile(r"\bSCAN \w+")  # SEARCH = through an index; SCAN = every row (or index entry)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[RegistryHarness, dict[str, str]]:
    reg = RegistryHarness(f"sqlite:///{tmp_path_factory.mktemp('plans')}/registry.db")
    patient = new_patient_id()
    reg.feed(patient)
    b = single_document(patient)
    b.add_folder()
    b.link("Folder01", "Document01", None)
    assert reg.submit(b).accepted  # no ANALYZE: without statistics SQLite plans for large tables
    ids = {kind: reg.sql("select uuid from objects where kind = :k", k=kind)[0][0] for kind in ("DE", "SS", "FD")}
    ids["patient"] = patient
    return reg, ids


def _cases(ids: dict[str, str]) -> list[tuple[Q, dict[str, Any]]]:
    p, de, ss, fd = ids["patient"], ids["DE"], ids["SS"], ids["FD"]
    find = {"$XDSDocumentEntryPatientId": p, "$XDSDocumentEntryStatus": [APPROVED]}
    return [
        (Q.FindDocuments, find),
        (Q.FindDocuments, {**find, "$XDSDocumentEntryClassCode": ["C^^1.2"], "$XDSDocumentEntryCreationTimeFrom": "2004"}),
        (Q.FindDocuments, {**find, "$XDSDocumentEntryEventCodeList": [["E^^1.2"], ["F^^1.2"]],
                           "$XDSDocumentEntryConfidentialityCode": ["N^^1.2"], "$XDSDocumentEntryAuthorPerson": ["%Smith%"]}),
        (Q.FindDocumentsByReferenceId, {**find, "$XDSDocumentEntryReferenceIdList": ["R1^^^&1.2&ISO"]}),
        (Q.FindSubmissionSets, {"$XDSSubmissionSetPatientId": p, "$XDSSubmissionSetStatus": [APPROVED],
                                "$XDSSubmissionSetAuthorPerson": "%a%"}),
        (Q.FindFolders, {"$XDSFolderPatientId": p, "$XDSFolderStatus": [APPROVED], "$XDSFolderCodeList": ["FC^^1.2"]}),
        (Q.GetAll, {"$patientId": p, "$XDSDocumentEntryStatus": [APPROVED], "$XDSSubmissionSetStatus": [APPROVED],
                    "$XDSFolderStatus": [APPROVED]}),
        (Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": [de]}),
        (Q.GetDocuments, {"$XDSDocumentEntryUniqueId": ["1.2.3"]}),
        (Q.GetFolders, {"$XDSFolderEntryUUID": [fd]}),
        (Q.GetAssociations, {"$uuid": [de]}),
        (Q.GetDocumentsAndAssociations, {"$XDSDocumentEntryEntryUUID": [de]}),
        (Q.GetSubmissionSets, {"$uuid": [de]}),
        (Q.GetSubmissionSetAndContents, {"$XDSSubmissionSetEntryUUID": ss}),
        (Q.GetFolderAndContents, {"$XDSFolderEntryUUID": fd}),
        (Q.GetFoldersForDocument, {"$XDSDocumentEntryEntryUUID": de}),
        (Q.GetRelatedDocuments, {"$XDSDocumentEntryEntryUUID": de,
                                 "$AssociationTypes": [AssociationType.REPLACE.value, AssociationType.APPEND.value]}),
    ]


def test_every_stored_query_uses_indexes_only(registry: tuple[RegistryHarness, dict[str, str]],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    reg, ids = registry
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    plain_rows = Dbapi.rows

    def rows(self: Dbapi, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:  # the plain DBAPI reads, recorded too
        statements.append((sql, tuple(params)))
        return plain_rows(self, sql, params)

    monkeypatch.setattr(Dbapi, "rows", rows)

    covered = set()
    for q, params in _cases(ids):
        statements.clear()
        event.listen(reg.store.engine, "before_cursor_execute", capture)
        try:
            with reg.store.read() as tx:
                outcome = query.answer(encode_request(q, params, ReturnType.LEAF_CLASS), QuerySql(tx.conn, 1000))
        finally:
            event.remove(reg.store.engine, "before_cursor_execute", capture)
        assert not [v for v in outcome.violations if v.is_error], (q.name, outcome.violations)
        selects = [(s, p) for s, p in statements if s.lstrip().upper().startswith("SELECT")]
        assert selects, q.name
        with reg.store.engine.connect() as conn:
            for statement, parameters in selects:
                plan = " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
                assert not FULL_SCAN.search(plan), f"{q.name}: {plan}\n{statement}"
        covered.add(q)
    assert covered == set(Q)
