"""Bulk loader: N DocumentEntries of realistic DMP metadata (`bench.metadata`) into a registry database
(PostgreSQL or Citus), with COPY.

`--jobs` processes each generate batches of patients and COPY them on their own connection, a transaction
per batch; on Citus the coordinator routes each row to its shard. Into an empty database the tables are
loaded without their keys and indexes, built once at the end (`bench.indexes`); a later load into a filled
database keeps them. Each fragment is spliced from one DEFLATE packing of its template (`bench.splice`:
about a quarter of the generator's CPU, fragments about 35 % larger than the registry's, the same stored
format), or with `--deflate` packed one by one like the registry's own, at DEFLATE level 6 or `--level`.
The load stops cleanly before the disk of the database has less than `--min-free-gb` free.

Run:  .venv/bin/python -m bench.load --url postgresql+psycopg://xds@127.0.0.1:5432/registry --entries 1000000
The database is migrated first (the registry's migrations: partitioned on PostgreSQL, distributed on a Citus
coordinator). Prints progress and a summary (the COPY, index and VACUUM phases apart and together, rows,
bytes on disk).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bench.metadata import generator
from registry.sql.store import SqlRegistry
from registry.sql.writes import COLUMNS, ORDER

# --- loading ---------------------------------------------------------------------------------------------

TABLE_COLUMNS = {"patients": ("patient", "key_text", "pid", "authority", "cx", "demographics", "merged_into", "updated_at"),
                 **COLUMNS}


class LowDisk(RuntimeError):
    """Free space under the floor the load keeps (`--min-free-gb`): stopped between two batches."""


@dataclass(frozen=True)
class Task:
    """One batch: patients [first, last), at most `budget` DocumentEntries, COPYed into `url` by whichever
    process runs it (on its own connection)."""

    url: str
    seed: int
    per_patient: float
    level: int
    spliced: bool
    first: int
    last: int
    budget: int


def copy_batch(conn: Any, data: dict[str, bytes]) -> None:
    """COPY each table's rows, parents first, in the connection's transaction."""
    with conn.cursor() as cur:
        for name in ("patients", *ORDER):
            if data.get(name):
                with cur.copy(f"COPY {name} ({', '.join(TABLE_COLUMNS[name])}) FROM STDIN") as copy:
                    copy.write(data[name])


_CONNECTIONS: dict[str, Any] = {}  # per process: the connection its batches are COPYed on


def _connection(url: str) -> Any:
    import psycopg

    if url not in _CONNECTIONS:
        _CONNECTIONS[url] = psycopg.connect(url)
    return _CONNECTIONS[url]


def _run(task: Task) -> tuple[int, dict[str, int]]:
    """Generate one batch and COPY it, one transaction: (entries, rows per table)."""
    gen = generator(task.seed, task.per_patient, task.level, task.spliced)
    data, count = gen.batch(task.first, task.last, task.budget)
    conn = _connection(task.url)
    copy_batch(conn, data)
    conn.commit()
    return count, {name: data[name].count(b"\n") for name in TABLE_COLUMNS}


def load(url: str, entries: int, per_patient: float = 15.0, seed: int = 1, jobs: int = 1,
         batch_entries: int = 20_000, progress: bool = True, first_patient: int = 0, level: int = 6,
         bare: bool = True, min_free_gb: float = 15.0, spliced: bool = True) -> dict[str, Any]:
    """Load `entries` DocumentEntries into the registry database at `url` (migrated first), for patients
    numbered from `first_patient` (a database grows by loads with disjoint patients); a summary, with
    `next_patient` for the next load.

    `jobs` processes each generate batches and COPY them on their own connection. Into an empty database
    (and `bare`), the tables are loaded without their keys and indexes, built afterwards (bench.indexes).
    Fragments are packed at DEFLATE `level` (the registry packs at 6; 1 is faster, same format), spliced from
    one packing per template (`bench.splice`; larger) unless `spliced` is False (the registry's bytes). The load
    stops cleanly (LowDisk) before the free space of the database's disk goes under `min_free_gb`."""
    import psycopg

    from bench import indexes

    store = SqlRegistry(url)
    store.migrate()
    store.dispose()
    driver_url = url.replace("postgresql+psycopg://", "postgresql://")
    check_disk = _disk_guard(driver_url, min_free_gb)
    check_disk()
    with psycopg.connect(driver_url) as conn:
        stripped = indexes.definitions(conn, list(TABLE_COLUMNS)) if bare and indexes.is_empty(conn, list(TABLE_COLUMNS)) else []
        indexes.strip(conn, stripped)
    generator(seed, per_patient, level, spliced)  # templates compiled once, before the workers fork
    started = time.perf_counter()
    loaded = 0
    rows = dict.fromkeys(TABLE_COLUMNS, 0)
    # Batches cover disjoint patient ranges; a batch ends at its budget, so the next range starts fresh.
    tasks = _tasks(driver_url, seed, per_patient, level, spliced, entries, batch_entries, first_patient)
    for count, batch_rows in _results(tasks, jobs):
        loaded += count
        for name in rows:
            rows[name] += batch_rows[name]
        if progress:
            _progress(loaded, entries, started)
        check_disk()  # raises LowDisk: the pool's exit ends the workers, their open batches roll back
    load_seconds = time.perf_counter() - started
    if progress:
        sys.stderr.write("\n")
    built = indexes.rebuild(lambda: psycopg.connect(driver_url, autocommit=True), stripped, jobs=max(2, jobs),
                            before_each=check_disk)
    index_seconds = time.perf_counter() - started - load_seconds
    # a registry in steady state: statistics fresh, visibility map set
    vacuum_analyze(lambda: psycopg.connect(driver_url, autocommit=True), list(TABLE_COLUMNS), jobs=max(2, jobs))
    total = time.perf_counter() - started
    return {"entries": loaded, "patients": rows["patients"], "next_patient": first_patient + rows["patients"],
            "seconds": load_seconds, "entries_per_second": loaded / load_seconds, "indexes_rebuilt": len(built),
            "index_seconds": index_seconds, "vacuum_seconds": total - load_seconds - index_seconds,
            "total_seconds": total, "overall_entries_per_second": loaded / total, "rows": rows}


def vacuum_analyze(connect: Callable[[], Any], tables: Sequence[str], jobs: int = 2) -> None:
    """VACUUM and ANALYZE of the loaded tables, `jobs` at a time on their own connections (one VACUUM works on
    one core): on PostgreSQL VACUUM of every partition, largest first, then ANALYZE of the partitioned tables
    (which samples their partitions for the table's statistics and analyzes each partition); on Citus
    VACUUM ANALYZE of each distributed table (the coordinator runs it on the shards)."""
    from concurrent.futures import ThreadPoolExecutor

    with connect() as conn:
        partitions = conn.execute(
            "SELECT c.oid::regclass::text, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)"
            " ORDER BY pg_total_relation_size(c.oid) DESC", (list(tables),)).fetchall()

    def run(statement: str) -> None:
        with connect() as conn:
            conn.execute(statement)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(run, [f"VACUUM {name}" for name, _ in partitions] or
                      [f"VACUUM ANALYZE {name}" for name in tables]))
        list(pool.map(run, [f"ANALYZE {parent}" for parent in sorted({parent for _, parent in partitions})]))


def _disk_guard(url: str, min_free_gb: float) -> Callable[[], None]:
    """A check that raises LowDisk when the disk of the database's data directory (when it is on this
    machine, else of /) has less than `min_free_gb` free."""
    import shutil

    import psycopg

    path = "/"
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        except psycopg.Error:  # not a superuser: the disk of / stands for it
            data_dir = ""
    if data_dir and os.path.isdir(data_dir):
        path = data_dir

    def check() -> None:
        free = shutil.disk_usage(path).free / 1e9
        if free < min_free_gb:
            raise LowDisk(f"stopped: {free:.1f} GB free on the disk of {path}, under the {min_free_gb:g} GB the load"
                          " keeps free (--min-free-gb)")

    return check


def _tasks(url: str, seed: int, per_patient: float, level: int, spliced: bool, entries: int, batch_entries: int,
           first_patient: int) -> Iterator[Task]:
    """Batches of consecutive patients; each batch's patient range is sized from the expected count and
    ends where the budget does, so batches never share a patient."""
    gen = generator(seed, per_patient, level, spliced)
    first, left = first_patient, entries
    while left > 0:
        budget = min(left, batch_entries)
        last, total = first, 0
        while total < budget:
            total += gen.documents_of(last)
            last += 1
        yield Task(url, seed, per_patient, level, spliced, first, last, budget)
        first, left = last, left - budget


def _results(tasks: Iterator[Task], jobs: int) -> Iterator[tuple[int, dict[str, int]]]:
    if jobs <= 1:
        try:
            for task in tasks:
                yield _run(task)
        finally:
            for conn in _CONNECTIONS.values():
                conn.close()
            _CONNECTIONS.clear()
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap_unordered(_run, tasks, chunksize=1)


def _progress(done: int, total: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed else 0.0
    width = 40
    filled = int(width * done / total)
    eta = (total - done) / rate if rate else 0.0
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} entries"
                     f"  {rate:,.0f}/s  eta {eta:,.0f}s ")
    sys.stderr.flush()


def disk_bytes(url: str) -> int:
    """Bytes on disk of the registry's tables with their indexes (every shard on Citus)."""
    import psycopg

    names = list(TABLE_COLUMNS)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        citus = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone()
        if citus:
            return int(sum(conn.execute("SELECT citus_total_relation_size(%s)", (n,)).fetchone()[0] for n in names))
        # a partitioned table's size is its partitions'
        return int(conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relkind = 'r' AND"
            " (c.relname = ANY(%s) OR c.oid IN (SELECT inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent"
            " WHERE p.relname = ANY(%s)))", (names, names)).fetchone()[0])


def describe(summary: dict[str, Any]) -> str:
    """The load's summary: the COPY phase, the index builds and the VACUUM ANALYZE apart, then together."""
    n = summary["entries"]
    text = (f"loaded {n:,} DocumentEntries of {summary['patients']:,} patients: COPY {summary['seconds']:.0f}s"
            f" ({summary['entries_per_second']:,.0f} entries/s)")
    if summary["indexes_rebuilt"]:
        text += f", then {summary['indexes_rebuilt']} keys and indexes built in {summary['index_seconds']:.0f}s"
    return (text + f", VACUUM ANALYZE {summary['vacuum_seconds']:.0f}s; in all {summary['total_seconds']:.0f}s,"
            f" {summary['overall_entries_per_second']:,.0f} entries/s")


def main(argv: Sequence[str] | None = None) -> int:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the registry's database (PostgreSQL or a Citus coordinator)")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--per-patient", type=float, default=15.0, help="mean DocumentEntries per patient")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first-patient", type=int, default=0, help="number of the first patient (a later load: the"
                        " `next patient` an earlier one printed)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                        help="processes generating rows and COPYing them, each on its own connection")
    parser.add_argument("--batch", type=int, default=20_000, help="DocumentEntries per COPY transaction")
    parser.add_argument("--level", type=int, default=6, choices=range(1, 10),
                        help="DEFLATE level of the fragments (the registry's is 6; 1 is faster, fragments larger)")
    parser.add_argument("--deflate", action="store_true",
                        help="DEFLATE each fragment as the registry does (its exact bytes; about 3.5 times the"
                        " generator's CPU) instead of splicing it from its template's packing (bench.splice)")
    parser.add_argument("--with-indexes", action="store_true",
                        help="keep the keys and indexes while loading an empty database (else built at the end)")
    parser.add_argument("--min-free-gb", type=float, default=15.0, help="stop before the disk has less free")
    args = parser.parse_args(argv)
    try:
        summary = load(args.url, args.entries, args.per_patient, args.seed, args.jobs, args.batch,
                       first_patient=args.first_patient, level=args.level, bare=not args.with_indexes,
                       min_free_gb=args.min_free_gb, spliced=not args.deflate)
    except LowDisk as exc:
        print(f"{exc}; batches committed so far stay, and a load into an empty database has its keys and indexes"
              " still off: drop that database", file=sys.stderr)
        return 3
    size = disk_bytes(args.url)
    print(describe(summary) + f"; next patient {summary['next_patient']}")
    print("rows: " + ", ".join(f"{name} {count:,}" for name, count in summary["rows"].items()))
    with psycopg.connect(args.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        held = int(conn.execute("SELECT count(*) FROM documents").fetchone()[0])  # this load's and earlier ones'
    print(f"on disk (tables and indexes): {size / 2**30:.2f} GiB, {size / max(1, held):,.0f} bytes per DocumentEntry"
          f" ({held:,} in the database)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
