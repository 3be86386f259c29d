"""A bulk load's indexes (issue 20): into an empty registry database, load the tables bare and build their
keys and indexes once at the end.

PostgreSQL maintains about 25 index entries per DocumentEntry while rows arrive one COPY at a time: each
is a random insert into a B-tree that outgrew memory. Building an index afterwards is one sort and one
sequential write, and leaves it packed (fillfactor 90) where inserts leave B-tree pages a third empty.
So `bench.load`, given an empty database, takes off every primary key, unique index and index of the
registry's tables (`strip`), loads, and puts each back from its own definition (`rebuild`): on PostgreSQL
the partitioned tables' keys and indexes (built on every partition), on a Citus coordinator the
distributed tables' (Citus builds them on every shard, on the workers). The unique ones are checked by
their build: a load that broke one fails there, not silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Index:
    table: str
    name: str
    create: str  # the statement that builds it again
    constraint: bool  # a primary key (ALTER TABLE … DROP CONSTRAINT), else DROP INDEX


def definitions(conn: Any, tables: Sequence[str]) -> list[Index]:
    """The keys and indexes of `tables` (on the parent of a partitioned table, the distributed table on Citus)."""
    out = []
    for table in tables:
        rows = conn.execute(
            "SELECT ic.relname, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)"
            " FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
            " LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid"
            " WHERE i.indrelid = %s::regclass ORDER BY ic.relname", (table,)).fetchall()
        for name, indexdef, conname, condef in rows:
            if conname:
                out.append(Index(table, conname, f'ALTER TABLE {table} ADD CONSTRAINT "{conname}" {condef}', True))
            else:  # a partitioned table's index reads back as `ON ONLY` (the parent alone): build it on every partition
                out.append(Index(table, name, indexdef.replace(" ON ONLY ", " ON ", 1), False))
    return out


def is_empty(conn: Any, tables: Sequence[str]) -> bool:
    return not any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0] for t in tables)


def strip(conn: Any, indexes: Sequence[Index]) -> None:
    """Drop the keys and indexes (in the connection's transaction)."""
    for ix in indexes:
        if ix.constraint:
            conn.execute(f'ALTER TABLE {ix.table} DROP CONSTRAINT "{ix.name}"')
        else:
            conn.execute(f'DROP INDEX "{ix.name}"')


def rebuild(connect: Callable[[], Any], indexes: Sequence[Index], jobs: int = 2,
            maintenance_work_mem: str = "512MB", before_each: Callable[[], None] | None = None) -> dict[str, float]:
    """Build every key and index again, `jobs` at a time on their own connections; seconds per index.
    `before_each` runs before each build (the loader's free-space check: it raises)."""
    # Round robin over the tables, in the order given (largest first), each table's key first: builds running
    # together are mostly on different tables, since adding a key locks its table against the other builds.
    per_table: dict[str, list[Index]] = {}
    for ix in indexes:
        per_table.setdefault(ix.table, []).append(ix)
    queues = [sorted(q, key=lambda ix: not ix.constraint) for q in per_table.values()]
    order = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]

    def build(ix: Index) -> tuple[str, float]:
        if before_each:
            before_each()
        with connect() as conn:
            conn.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
            started = time.perf_counter()
            conn.execute(ix.create)
            return ix.name, time.perf_counter() - started

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return dict(pool.map(build, order))
