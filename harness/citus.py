"""A throwaway Citus cluster (distributed PostgreSQL) for tests and benchmarks: a coordinator and workers on
localhost, each a `PgServer` on a free port with the Citus extension preloaded.

`CitusCluster(workers=2).start()` starts the nodes; `create_database(name)` creates the database on every
node, the `citus` extension in each, registers the workers with the coordinator, and returns the
coordinator's URL: what a deployer gives the registry as `database_url` (the registry's migrations then
distribute its tables, `registry/sql/migrations`). The same steps on real machines: docs/scale.md.

Citus is built into Debian's PostgreSQL by `../shared/vendor/build-citus.sh` (`make test` runs
`scripts/ensure-citus.sh`); `citus_bin_dir()` is None when no PostgreSQL here has it, and the fixtures skip.
Tests run with fsync off (`PgServer`'s default); benchmarks pass `durable=True`.
"""

from __future__ import annotations

import glob
import threading
from pathlib import Path

import psycopg

from harness.pgserver import PgServer

SHARD_COUNT = 8  # per distributed table; plenty for two workers (production: docs/scale.md)


def citus_bin_dir() -> Path | None:
    """The bin folder of a PostgreSQL whose library folder holds citus.so (the newest if several)."""
    libs = sorted(glob.glob("/usr/lib/postgresql/*/lib/citus.so"))
    if not libs:
        return None
    bindir = Path(libs[-1]).parent.parent / "bin"
    return bindir if (bindir / "initdb").exists() else None


class CitusNode(PgServer):
    """One PostgreSQL server of the cluster: Citus preloaded, on the PostgreSQL that has it."""

    def __init__(self, settings: dict[str, str], durable: bool) -> None:
        bindir = citus_bin_dir()
        if bindir is None:
            raise RuntimeError("Citus is not installed (scripts/ensure-citus.sh builds it from ../shared/vendor)")
        super().__init__({"shared_preload_libraries": "citus", **settings}, durable=durable)
        self.bindir = bindir

    def connect(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(f"host=127.0.0.1 port={self.port} user=xds dbname={dbname}", autocommit=True)


class CitusCluster:
    """A coordinator and `workers` workers; `coordinator` is where clients connect."""

    def __init__(self, workers: int = 2, settings: dict[str, str] | None = None, durable: bool = False,
                 shard_count: int = SHARD_COUNT) -> None:
        settings = settings or {}
        self.coordinator = CitusNode({**settings, "citus.shard_count": str(shard_count)}, durable)
        self.workers = [CitusNode(settings, durable) for _ in range(workers)]

    @property
    def nodes(self) -> list[CitusNode]:
        return [self.coordinator, *self.workers]

    def start(self) -> CitusCluster:
        """Start every node at once (initdb and start-up dominate, and they overlap well)."""
        errors: list[BaseException] = []

        def start(node: CitusNode) -> None:
            try:
                node.start()
            except BaseException as exc:  # noqa: BLE001 - reported below, after every thread ended
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(node,)) for node in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise RuntimeError(f"a Citus node did not start: {errors[0]}") from errors[0]
        return self

    def create_database(self, name: str) -> str:
        """A new database distributed over the workers; the coordinator's SQLAlchemy URL."""
        for node in self.nodes:
            node.create_database(name)
            with node.connect(name) as conn:
                conn.execute("CREATE EXTENSION citus")
        with self.coordinator.connect(name) as conn:
            conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (self.coordinator.port,))
            for worker in self.workers:
                conn.execute("SELECT citus_add_node('127.0.0.1', %s)", (worker.port,))
        return f"postgresql+psycopg://xds@127.0.0.1:{self.coordinator.port}/{name}"

    def stop(self) -> None:
        for node in self.nodes:
            try:
                node.stop()
            except Exception:  # noqa: BLE001 - a node that never started has nothing to stop
                pass
