"""Shared fixtures: a PostgreSQL server and a Citus cluster for the whole session (each started once, only if
a test asks)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from harness.citus import CitusCluster, citus_bin_dir
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


@pytest.fixture(scope="session")
def citus_cluster() -> Iterator[CitusCluster | None]:
    """A coordinator and two workers (harness/citus.py); XDS_TEST_CITUS_URL names an existing coordinator."""
    if os.environ.get("XDS_TEST_CITUS_URL"):
        yield None
        return
    if citus_bin_dir() is None:
        pytest.skip("Citus is not installed: scripts/ensure-citus.sh builds it from ../shared/vendor when that is there")
    cluster = CitusCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def citus_url(citus_cluster: CitusCluster | None) -> str:
    """A fresh database distributed over the Citus workers: the coordinator's URL, for one test."""
    if citus_cluster is None:
        return os.environ["XDS_TEST_CITUS_URL"]
    return citus_cluster.create_database(f"c{os.getpid()}_{next(_db_counter)}")
