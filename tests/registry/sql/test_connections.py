"""Pooled PostgreSQL connections: a connection the server dropped while idle is replaced before use, and
reads run without BEGIN/COMMIT round trips."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from registry.sql.store import SqlRegistry
from xdsservice import database


def _drop_other_sessions(url: str) -> int:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def _count(store: SqlRegistry) -> int:
    with store.read() as tx:
        return int(tx.conn.execute(text("SELECT count(*) FROM objects")).scalar_one())


def test_a_connection_dropped_while_idle_is_replaced(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqlRegistry(pg_url)
    store.migrate()
    assert _count(store) == 0
    assert _drop_other_sessions(pg_url) >= 1
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)
    assert _count(store) == 0  # the ping failed, the pool connected again
    store.dispose()


def test_without_the_idle_ping_one_query_fails_then_the_pool_recovers(pg_url: str) -> None:
    store = SqlRegistry(pg_url)
    store.migrate()
    assert _count(store) == 0
    _drop_other_sessions(pg_url)
    with pytest.raises(OperationalError):  # used again at once: no ping (the registry answers XDSRegistryBusy)
        _count(store)
    assert _count(store) == 0
    store.dispose()


def test_reads_run_in_autocommit(pg_url: str) -> None:
    store = SqlRegistry(pg_url)
    store.migrate()
    with store.read() as tx:
        # each statement is its own transaction: the transaction start time moves between them
        first = tx.conn.execute(text("SELECT transaction_timestamp()")).scalar_one()
        tx.conn.execute(text("SELECT pg_sleep(0.01)"))
        second = tx.conn.execute(text("SELECT transaction_timestamp()")).scalar_one()
        assert second > first
    store.dispose()
