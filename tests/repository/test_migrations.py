"""The repository store's Alembic migrations on SQLite and PostgreSQL: head matches the table definition,
databases made before the store had migrations are adopted and upgraded, services starting together on
one database migrate it once."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from repository.migrations import MIGRATIONS, VERSION_TABLE
from repository.store import DocumentStore, StoredDocument, documents, metadata
from xdsservice.database import make_engine

# The table as the first release created it (create_all, before patient_id).
FIRST_RELEASE = [
    """CREATE TABLE repository_document (
    unique_id VARCHAR(256) NOT NULL PRIMARY KEY, sha1 VARCHAR(40) NOT NULL, size BIGINT NOT NULL,
    mime_type VARCHAR(256) NOT NULL, state VARCHAR(16) NOT NULL, created_at FLOAT NOT NULL)""",
    "CREATE INDEX ix_repository_document_sha1 ON repository_document (sha1)",
    "CREATE INDEX ix_repository_document_state ON repository_document (state)",
    "INSERT INTO repository_document VALUES ('old.1', 'ffffffffffffffffffffffffffffffffffffffff', 5, 'text/plain', 'stored', 1.0)",
]
PATIENT = "P1^^^&1.2.250.1.213.1.4.8&ISO"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path}/repository.db"


def version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if VERSION_TABLE not in inspect(conn).get_table_names():
            return None
        return str(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one())


def columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("repository_document")}


def matches_head(engine: Engine) -> bool:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata) == []


def test_a_new_database_is_made_at_head(url: str) -> None:
    store = DocumentStore(url)
    assert version(store.engine) == "0003" and matches_head(store.engine)
    store.close()


def test_a_database_of_the_first_release_is_upgraded(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in FIRST_RELEASE:
            conn.execute(text(statement))
    assert version(engine) is None and "patient_id" not in columns(engine)
    store = DocumentStore(url)
    old = store.get("old.1")
    assert old is not None and (old.sha1, old.size, old.patient_id) == ("f" * 40, 5, "")  # kept, patient unknown
    assert version(engine) == "0003" and matches_head(engine)
    store.reserve([StoredDocument("4.1", "a" * 40, 3, "text/plain", patient_id=PATIENT)])
    store.commit(["4.1"])
    assert store.get("4.1").patient_id == PATIENT  # type: ignore[union-attr]
    store.close()
    again = DocumentStore(url)  # a second start changes nothing
    assert len(again.all()) == 2 and version(again.engine) == "0003"
    again.close()
    engine.dispose()


def test_a_database_made_before_migrations_with_every_column_is_adopted(url: str) -> None:
    """What the last release without migrations made (create_all, patient_id included): stamped, not altered."""
    engine = make_engine(url)
    metadata.create_all(engine, tables=[documents])  # that release had no repository_content
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO repository_document VALUES ('1.1', :h, 3, 'text/plain', 'stored', 1.0, :p)"),
                     {"h": "a" * 40, "p": PATIENT})
    store = DocumentStore(url)
    assert store.get("1.1").patient_id == PATIENT  # type: ignore[union-attr]
    assert version(engine) == "0003" and matches_head(engine)
    store.close()
    engine.dispose()


def test_downgrade_and_upgrade_again(url: str) -> None:
    store = DocumentStore(url)
    store.reserve([StoredDocument("5.1", "a" * 40, 3, "text/plain", patient_id=PATIENT)])
    MIGRATIONS.downgrade(store.engine, "0001")
    assert "patient_id" not in columns(store.engine) and version(store.engine) == "0001"
    MIGRATIONS.upgrade(store.engine)
    assert version(store.engine) == "0003" and [d.unique_id for d in store.all()] == ["5.1"]
    store.close()


def test_downgrade_below_the_kept_contents_is_refused_while_documents_keep_bytes_there(url: str) -> None:
    """0003 → 0002 would drop the bytes of small documents kept in the store: refused, nothing changed."""
    store = DocumentStore(url)
    store.reserve([StoredDocument("6.1", hashlib.sha1(b"kept").hexdigest(), 4, "text/plain", content=b"kept")])
    with pytest.raises(RuntimeError, match="1 document"):
        MIGRATIONS.downgrade(store.engine, "0002")
    assert version(store.engine) == "0003" and "repository_content" in inspect(store.engine).get_table_names()
    store.release(["6.1"])  # its bytes go with it: now the downgrade may run
    MIGRATIONS.downgrade(store.engine, "0002")
    assert version(store.engine) == "0002" and "repository_content" not in inspect(store.engine).get_table_names()
    MIGRATIONS.upgrade(store.engine)
    assert version(store.engine) == "0003" and matches_head(store.engine)
    store.close()


def test_services_starting_together_on_an_old_database_migrate_it_once(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for statement in FIRST_RELEASE:
            conn.execute(text(statement))
    start, errors, stores = threading.Barrier(4), [], []

    def open_store() -> None:
        start.wait()
        try:
            stores.append(DocumentStore(url))
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(stores) == 4
    assert version(engine) == "0003" and matches_head(engine)
    assert [d.unique_id for d in stores[0].all()] == ["old.1"]
    for store in stores:
        store.close()
    engine.dispose()
