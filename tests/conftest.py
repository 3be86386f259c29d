"""Shared fixtures: a PostgreSQL server for the whole session (started once, only if a test asks)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from harness.pgserver import PgServer

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    if os.environ.get("XDS_TEST_PG_URL"):
        yield None
        return
    try:
        server = PgServer().start()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer | None) -> str:
    """A fresh, empty PostgreSQL database URL (postgresql+psycopg://...) for one test."""
    if pg_server is None:
        return os.environ["XDS_TEST_PG_URL"]
    return pg_server.create_database(f"t{os.getpid()}_{next(_db_counter)}")
