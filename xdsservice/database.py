"""One SQL engine policy for every store (registry, repository, audit sink): how a database is opened,
written and migrated, the same on SQLite and PostgreSQL.

- **Durability.** A Success answer means the data is on disk: SQLite runs in WAL mode with
  `synchronous=FULL` (the WAL is synced at every commit; NORMAL would survive a crash of the process but
  could lose the last commits to a power cut), PostgreSQL keeps its default `synchronous_commit=on`.
- **Writers.** `writing(engine)` opens a write transaction. On SQLite it starts with `BEGIN IMMEDIATE`,
  so a writer holds the write lock before it reads what it checks (a deferred transaction that read
  first could not upgrade once another writer committed); readers start with a plain `BEGIN`. pysqlite's
  own implicit transactions are turned off so that these statements are ours.
- **Waiting.** SQLite waits up to `SQLITE_BUSY_TIMEOUT_MS` for a lock held by another process (writers of
  one process also queue on an in-process lock, see the stores).
- **Pool.** SQLite files: SQLAlchemy's default pool; in-memory: one shared connection. PostgreSQL:
  `POOL_SIZE` + `POOL_OVERFLOW` connections, no server-side prepared statements, and a connection that sat
  idle for `IDLE_PING_SECONDS` is pinged before use.
- **Migrations.** `Migrations(folder, version_table).upgrade(engine)` brings a database to head with
  Alembic, in one write transaction (PostgreSQL: under an advisory lock), so services starting together
  on one database migrate it once. Each store's `migrations/env.py` calls `run_env`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}", "foreign_keys=ON")
POOL_SIZE = 10
POOL_OVERFLOW = 20
IDLE_PING_SECONDS = 10.0


def make_engine(url: str) -> Engine:
    """The engine of one store; a SQLite file's folder is created if missing."""
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # No server-side prepared statements: after five executions psycopg would prepare the stored-query
    # SQL, and PostgreSQL's generic plan for "patient = $1 ... ORDER BY seq LIMIT n" can walk the primary
    # key in seq order and filter, instead of using the patient index (measured: 90 ms instead of 1 ms).
    engine = create_engine(
        url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, connect_args={"prepare_threshold": None}
    )
    _ping_when_idle(engine)
    return engine


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    memory = not database or database == ":memory:"
    if not memory:
        Path(str(database)).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN from pysqlite: we issue it (below)
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            if not (memory and pragma.startswith("journal_mode")):
                cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writing") else "BEGIN")

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle for a while (a server restart, a
    firewall dropping idle sessions): pinging on every checkout would add a round trip to each query,
    10-20 % of a FindDocuments. A connection that fails the ping is replaced, not handed out."""

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever broke it, the pool retries with a new connection
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction, committed when the block ends normally, rolled back otherwise."""
    with engine.connect().execution_options(writing=True) as conn, conn.begin():
        yield conn


def advisory_lock(conn: Connection, key: str) -> None:
    """PostgreSQL: hold a transaction-scoped lock on `key` (SQLite writers are already serialized)."""
    advisory_locks(conn, (key,))


def advisory_locks(conn: Connection, keys: Iterable[str]) -> None:
    """PostgreSQL: hold transaction-scoped locks on all `keys`, taken in one round trip and always in the
    same order (of their lock numbers), so two transactions locking overlapping keys cannot deadlock."""
    if conn.dialect.name != "postgresql":
        return
    statement = advisory_locks_statement(keys)
    if statement is not None:
        conn.exec_driver_sql(statement[0].replace("?", "%s"), statement[1])


def advisory_locks_statement(keys: Iterable[str]) -> tuple[str, tuple[Any, ...]] | None:
    """The statement of `advisory_locks` (`?` markers, `xdsservice.dbapi`), None when there is nothing to lock."""
    numbers = sorted({zlib.crc32(key.encode()) - 2**31 for key in keys})
    if not numbers:
        return None
    if len(numbers) == 1:
        return "SELECT pg_advisory_xact_lock(?)", (numbers[0],)
    # a function scan yields the array in order, so the locks are taken in that order
    return "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(?::bigint[]) AS t(k)", (numbers,)


@dataclass(frozen=True)
class Migrations:
    """A store's Alembic scripts (`folder`, holding `env.py` and `versions/`) and its version table."""

    folder: Path
    version_table: str = "alembic_version"

    def config(self, connection: Connection | None = None) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(self.folder))
        cfg.attributes["connection"] = connection
        cfg.attributes["version_table"] = self.version_table
        return cfg

    def upgrade(self, engine: Engine, revision: str = "head", before: Callable[[Connection], None] | None = None) -> None:
        """Migrate to `revision` in one locked write transaction; `before` runs first in it (to stamp a
        database made before this store had migrations)."""
        with writing(engine) as conn:
            advisory_lock(conn, self.version_table)
            if before is not None:
                before(conn)
            command.upgrade(self.config(conn), revision)

    def downgrade(self, engine: Engine, revision: str) -> None:
        with writing(engine) as conn:
            advisory_lock(conn, self.version_table)
            command.downgrade(self.config(conn), revision)

    def stamp(self, conn: Connection, revision: str) -> None:
        command.stamp(self.config(conn), revision)


def run_env(metadata: MetaData) -> None:
    """The body of every store's `migrations/env.py`: run on the connection `Migrations` passes in, or,
    from the `alembic` command line (writing a new revision), on `-x url=...`."""
    from alembic import context

    cfg = context.config
    version_table = cfg.attributes.get("version_table") or cfg.get_main_option("version_table") or "alembic_version"

    def run(conn: Connection) -> None:
        context.configure(connection=conn, target_metadata=metadata, version_table=version_table, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

    connection = cfg.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or cfg.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database as -x url=... (or sqlalchemy.url in an alembic.ini)")
    with writing(make_engine(url)) as conn:
        run(conn)
