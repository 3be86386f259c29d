"""The repository's uniqueId → blob store (repository.store), on SQLite and once on PostgreSQL, and the patient
of each document. Its migrations: tests/repository/test_migrations.py."""

from __future__ import annotations

import time
from pathlib import Path

from repository.store import PENDING, STORED, DocumentStore, StoredDocument
from xdscore.vocabulary import ErrorCode


def doc(uid: str, sha1: str = "a" * 40, size: int = 3, mime: str = "text/plain") -> StoredDocument:
    return StoredDocument(uid, sha1, size, mime)


def exercise(store: DocumentStore) -> None:
    r = store.reserve([doc("1.1"), doc("1.2", "b" * 40)])
    assert r.inserted == ("1.1", "1.2") and r.conflicts == ()
    assert store.get("1.1") is None  # pending rows are not served
    assert {d.state for d in store.all()} == {PENDING}
    store.commit(["1.1", "1.2"])
    got = store.get("1.1")
    assert got is not None and (got.sha1, got.size, got.mime_type, got.state) == ("a" * 40, 3, "text/plain", STORED)
    assert set(store.get_many(["1.1", "1.2", "nope"])) == {"1.1", "1.2"}
    # resubmission with the same bytes: nothing inserted, nothing refused
    assert store.reserve([doc("1.1")]) .inserted == ()
    # other bytes under a stored uniqueId
    conflicts = store.reserve([doc("1.1", "c" * 40), doc("1.3")]).conflicts
    assert [(c.unique_id, c.code) for c in conflicts] == [("1.1", ErrorCode.XDSNonIdenticalHash)]
    assert store.get_many(["1.3"]) == {} and len(store.all()) == 2  # all or nothing
    assert [c.code for c in store.reserve([doc("1.2", "b" * 40, size=4)]).conflicts] == [ErrorCode.XDSNonIdenticalSize]
    # a uniqueId still pending belongs to another submission
    store.reserve([doc("1.4", "d" * 40)])
    assert [c.code for c in store.reserve([doc("1.4", "d" * 40)]).conflicts] == [ErrorCode.XDSRepositoryError]
    # release deletes pending rows only and tells which hashes they used
    assert store.release(["1.4", "1.1"]) == {"d" * 40}
    assert store.get("1.1") is not None and not store.is_referenced("d" * 40)
    assert store.referenced_hashes() == {"a" * 40, "b" * 40}
    store.reserve([doc("1.5", "e" * 40)])
    assert [d.unique_id for d in store.pending_older_than(-1)] == ["1.5"]
    assert store.pending_older_than(3600) == []


def test_store_on_sqlite(tmp_path: Path) -> None:
    store = DocumentStore(f"sqlite:///{tmp_path / 'r.db'}")
    exercise(store)
    store.close()


def test_store_on_postgresql(pg_url: str) -> None:
    store = DocumentStore(pg_url)
    exercise(store)
    store.close()


def test_hashes_are_kept_in_lower_case(tmp_path: Path) -> None:
    store = DocumentStore(f"sqlite:///{tmp_path / 'r.db'}")
    store.reserve([doc("2.1", "ABCDEF" + "0" * 34)])
    store.commit(["2.1"])
    got = store.get("2.1")
    assert got is not None and got.sha1 == "abcdef" + "0" * 34
    assert store.reserve([doc("2.1", "abcdef" + "0" * 34)]).conflicts == ()
    store.close()


def test_created_at_is_recorded(tmp_path: Path) -> None:
    store = DocumentStore(f"sqlite:///{tmp_path / 'r.db'}")
    before = time.time()
    store.reserve([doc("3.1")])
    assert before <= store.all()[0].created_at <= time.time()
    store.close()


# ------------------------------------------------------------------------------------------------
# The patient of each document (for ITI-43's audit)

PATIENT = "P1^^^&1.2.250.1.213.1.4.8&ISO"


def keeps_patients(store: DocumentStore) -> None:
    store.reserve([StoredDocument("4.1", "a" * 40, 3, "text/plain", patient_id=PATIENT), doc("4.2", "b" * 40)])
    assert {d.unique_id: d.patient_id for d in store.all() if d.unique_id.startswith("4.")} == {"4.1": PATIENT, "4.2": ""}
    store.commit(["4.1", "4.2"])
    got = store.get("4.1")
    assert got is not None and got.patient_id == PATIENT
    assert store.get_many(["4.1"])["4.1"].patient_id == PATIENT
    # a legal resubmission under another patient does not rewrite the stored one
    store.reserve([StoredDocument("4.1", "a" * 40, 3, "text/plain", patient_id="P2^^^&1.2&ISO")])
    assert store.get("4.1").patient_id == PATIENT  # type: ignore[union-attr]


def test_patient_is_kept_on_sqlite(tmp_path: Path) -> None:
    store = DocumentStore(f"sqlite:///{tmp_path / 'r.db'}")
    keeps_patients(store)
    store.close()
