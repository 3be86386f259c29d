"""One engine policy for the three stores (xdsservice.database): every SQLite database of the registry,
the repository and the audit sink runs WAL with synchronous=FULL (a Success answer is on disk), the same
busy timeout and foreign keys; writers take SQLite's write lock at BEGIN; a PostgreSQL engine has the
pool policy and commits synchronously."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from audit.store import AuditStore
from registry.sql.store import SqlRegistry
from repository.store import DocumentStore
from xdsservice.database import POOL_OVERFLOW, POOL_SIZE, SQLITE_BUSY_TIMEOUT_MS, make_engine, writing


def engines(folder: Path) -> dict[str, Engine]:
    registry = SqlRegistry(f"sqlite:///{folder / 'registry' / 'registry.db'}")
    registry.migrate()
    repository = DocumentStore(f"sqlite:///{folder / 'repository' / 'repository.db'}")
    audit = AuditStore.open(f"sqlite:///{folder / 'audit' / 'audit.db'}")
    return {"registry": registry.engine, "repository": repository.engine, "audit": audit.engine}


def test_every_store_opens_sqlite_with_the_same_durability_policy(tmp_path: Path) -> None:
    for name, engine in engines(tmp_path).items():
        with engine.connect() as conn:
            got = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")}
        assert got == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": SQLITE_BUSY_TIMEOUT_MS, "foreign_keys": 1}, name
        engine.dispose()


def test_a_sqlite_writer_holds_the_write_lock_from_begin(tmp_path: Path) -> None:
    """A second writer waits at BEGIN (not at its first write, after reading a state that may change)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # the folder is made
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    order: list[str] = []
    first_in = threading.Event()

    def second() -> None:
        first_in.wait()
        with writing(engine) as conn:
            order.append("second begun")
            conn.execute(text("INSERT INTO t VALUES (2)"))

    thread = threading.Thread(target=second)
    thread.start()
    with writing(engine) as conn:
        conn.execute(text("SELECT count(*) FROM t")).scalar_one()  # reads only, yet holds the lock
        first_in.set()
        thread.join(0.5)
        order.append("first commits")
    thread.join()
    assert order == ["first commits", "second begun"]
    engine.dispose()


def test_a_postgresql_engine_has_the_pool_policy_and_commits_synchronously(pg_url: str) -> None:
    engine = make_engine(pg_url)
    assert (engine.pool.size(), engine.pool._max_overflow) == (POOL_SIZE, POOL_OVERFLOW)  # type: ignore[attr-defined]
    with writing(engine) as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_one_shared_connection(url: str) -> None:
    engine = make_engine(url)
    with writing(engine) as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    with engine.connect() as conn:  # another checkout sees the same database
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    engine.dispose()
