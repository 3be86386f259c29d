"""Scale benchmark (issue 20): the registry over HTTP on a database of N DocumentEntries, single-node PostgreSQL
or a 3-node Citus cluster (a coordinator and two workers) on this machine.

A durable server is started (fsync on, `harness/pgserver.py` / `harness/citus.py`) and, for each size in
turn, filled up to it by `bench.load` (realistic DMP metadata, COPY; each load adds new patients), its bytes
on disk counted, then `python -m registry` is started on it and measured over HTTP with keep-alive
connections:
- FindDocuments (LeafClass, Approved) for random loaded patients: p50 / p95 / p99, one client and
  `--connections` clients;
- GetDocuments (LeafClass) of one random entryUUID: the same;
- ITI-42 sustained registrations/s (single-document submissions for random loaded patients, twice
  `--connections` clients, `--seconds`), each answered Success only once committed (they add a few
  thousand entries to the next size).
With `--cold N`, first an uncached pass: the servers' data files are evicted from the OS page cache
(`posix_fadvise(DONTNEED)`, which needs no privilege; PostgreSQL's own shared buffers are left as they are),
then FindDocuments for N patients never queried before and GetDocuments of N entryUUIDs, one client, each
request once (the entries were picked by reading their rows, so those heap pages may still be in the shared
buffers; their `registry_ids` lookups and index pages are not): the figures of a registry whose patients are not in memory (the warm runs cycle through
4,000 patients, whose pages end up cached).
The load average is printed with each figure (the machine may be shared). The servers and their folders
are removed at the end.

Run:  .venv/bin/python -m bench.scale --backend citus --entries 1000000 10000000
A load apart from its measurement (the load under `nice`, the measurement on a quiet machine):
      nice -n 19 .venv/bin/python -m bench.scale --backend postgresql --entries 5000000 --hold &
      .venv/bin/python -m bench.scale --url <the url it prints> --patients <N>
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from lxml import etree

from bench import load, metadata
from bench.loadgen import LoadResult, machine, peak_rss_mb, run
from harness.builders import single_document
from harness.citus import CitusCluster
from harness.pgserver import PgServer
from harness.services import start_registry
from registry.sql import patient_number
from xdscore import soap
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import UUID, Action, Status
from xdscore.vocabulary import StoredQueryId as Q

APPROVED = Status.APPROVED.value
QUERY = f'application/soap+xml; charset=utf-8; action="{Action.STORED_QUERY.value}"'
REGISTER = f'application/soap+xml; charset=utf-8; action="{Action.REGISTER.value}"'
SUCCESS = b"ResponseStatusType:Success"
# Per server: a registry's server would have more; three nodes share this machine's memory.
PG_SETTINGS = {"shared_buffers": "2GB", "effective_cache_size": "8GB", "random_page_cost": "1.1", "max_wal_size": "2GB",
               "checkpoint_timeout": "30min"}
CITUS_SETTINGS = {**PG_SETTINGS, "shared_buffers": "1GB", "effective_cache_size": "4GB"}


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


@contextmanager
def database(backend: str, shards: int) -> Iterator[str]:
    """A durable server (or cluster) and a fresh database on it; removed afterwards."""
    if backend == "postgresql":
        server = PgServer(PG_SETTINGS, durable=True).start()
        try:
            yield server.create_database("registry")
        finally:
            server.stop()
        return
    cluster = CitusCluster(workers=2, settings=CITUS_SETTINGS, durable=True, shard_count=shards).start()
    try:
        yield cluster.create_database("registry")
    finally:
        cluster.stop()


class Register:
    """Single-document ITI-42 bodies for random loaded patients, from one template (cheap to make many)."""

    def __init__(self, patients: int) -> None:
        marker = metadata.patient_cx(999_999_999)
        builder = single_document(marker)
        body = etree.tostring(soap.request_envelope(builder.xml(), Action.REGISTER.value), xml_declaration=True,
                              encoding="UTF-8").decode()
        ss = builder.objects[0]
        de = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
        uids = [e.value for o in (ss, de) for e in o.external_identifiers
                if e.scheme in (UUID.SS_UNIQUE_ID, UUID.DE_UNIQUE_ID)]
        body = body.replace("{", "{{").replace("}", "}}").replace(metadata.pid(999_999_999), "{pid}")
        for n, uid in enumerate(uids):
            body = body.replace(f'value="{uid}"', 'value="{u' + str(n) + '}"')
        self.template = body
        self.patients = patients
        self.stamp = f"1.2.250.{os.getpid()}.{int(time.time())}"
        self.rng = random.Random(11)
        self.serial = itertools.count()  # across runs: a uniqueId is never sent twice

    def __call__(self, _i: int) -> tuple[str, bytes]:
        pid, i = metadata.pid(self.rng.randrange(self.patients)), next(self.serial)
        return REGISTER, self.template.format(pid=pid, u0=f"{self.stamp}.1.{i}", u1=f"{self.stamp}.2.{i}").encode()


def envelope(body: etree._Element) -> bytes:
    return etree.tostring(soap.request_envelope(body, Action.STORED_QUERY.value), xml_declaration=True, encoding="UTF-8")


def sample_entries(url: str, patients: int, n: int, seed: int = 3) -> list[str]:
    """entryUUIDs of DocumentEntries of random loaded patients (each a one-shard query on Citus)."""
    rng = random.Random(seed)
    out: list[str] = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        while len(out) < n:
            row = conn.execute("SELECT uuid FROM objects WHERE patient = %s AND kind = 'DE' LIMIT 1",
                               (patient_number.number(metadata.patient_cx(rng.randrange(patients))),)).fetchone()
            if row:
                out.append(row[0])
    return out


def data_directories(url: str) -> list[str]:
    """The data folders of the server at `url` and, on a Citus coordinator, of its workers."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        folders = [conn.execute("SHOW data_directory").fetchone()[0]]  # type: ignore[index]
        if conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0]:  # type: ignore[index]
            folders += [r[0] for r in conn.execute("SELECT result FROM run_command_on_workers('SHOW data_directory')")]
    return list(dict.fromkeys(folders))


def evict(folders: list[str]) -> int:
    """Drop the files under `folders` from the OS page cache (clean pages only: run after a CHECKPOINT)."""
    evicted = 0
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                try:
                    fd = os.open(os.path.join(root, name), os.O_RDONLY)
                except OSError:
                    continue
                try:
                    evicted += os.fstat(fd).st_size
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
    return evicted


def measure_cold(url: str, port: int, patients: int, n: int) -> None:
    """One pass over `n` patients the warm runs never ask for, and `n` entries, after evicting the data files."""
    rng = random.Random(101)  # not the warm runs' seeds
    chosen = rng.sample(range(patients), n)
    find = [envelope(encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": metadata.patient_cx(p),
                                                      "$XDSDocumentEntryStatus": [APPROVED]}, ReturnType.LEAF_CLASS))
            for p in chosen]
    entries = sample_entries(url, patients, n, seed=202)
    get = [envelope(encode_request(Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": [u]}, ReturnType.LEAF_CLASS))
           for u in entries]
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # dirty pages written, so that eviction drops them
        if conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0]:  # type: ignore[index]
            conn.execute("SELECT run_command_on_workers('CHECKPOINT')")
    folders = data_directories(url)
    size = evict(folders)
    print(f"  uncached pass: {size / 2**30:.1f} GiB of data files in {len(folders)} folder(s) evicted from the page"
          f" cache; shared buffers kept", flush=True)
    ok = lambda r: SUCCESS in r  # noqa: E731
    for name, bodies in (("FindDocuments", find), ("GetDocuments", get)):
        report(f"{name} uncached (1 client)", run("127.0.0.1", port, "/xds/registry",
                                                  lambda i, b=bodies: (QUERY, b[i]), count=len(bodies), connections=1,
                                                  check=ok))


def report(name: str, result: LoadResult) -> None:
    size = result.bytes_received / max(1, len(result.latencies) + result.errors) / 1024
    print(f"  {name:<30} {result.summary()}  ({size:.0f} KiB/response; {load_average()})", flush=True)


def measure(port: int, patients: int, entries: list[str], seconds: float, connections: int) -> None:
    rng = random.Random(7)
    find = [envelope(encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": metadata.patient_cx(rng.randrange(patients)),
                                                      "$XDSDocumentEntryStatus": [APPROVED]}, ReturnType.LEAF_CLASS))
            for _ in range(4000)]
    get = [envelope(encode_request(Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": [u]}, ReturnType.LEAF_CLASS))
           for u in entries]
    ok = lambda r: SUCCESS in r  # noqa: E731
    for name, bodies in (("FindDocuments", find), ("GetDocuments", get)):
        run("127.0.0.1", port, "/xds/registry", lambda i, b=bodies: (QUERY, b[-1 - (i % 200)]), count=200, connections=2)
        report(f"{name} (1 client)", run("127.0.0.1", port, "/xds/registry", lambda i, b=bodies: (QUERY, b[i % len(b)]),
                                         seconds=seconds, connections=1, check=ok))
        report(f"{name} ({connections} clients)", run(
            "127.0.0.1", port, "/xds/registry", lambda i, b=bodies: (QUERY, b[-1 - i % len(b)]),
            seconds=seconds, connections=connections, check=ok))
    register = Register(patients)
    run("127.0.0.1", port, "/xds/registry", register, count=50, connections=2, check=ok)
    report(f"ITI-42 ({connections * 2} clients)", run("127.0.0.1", port, "/xds/registry", register, seconds=seconds,
                                                      connections=connections * 2, check=ok))


def bench(backend: str, sizes: list[int], args: argparse.Namespace) -> None:
    """One database grown to each size in turn (later loads add patients), measured at each."""
    with database(backend, args.shards) as url:
        loaded, patients = 0, 0
        for n in sorted(sizes):
            print(f"{backend}{' (coordinator + 2 workers)' if backend == 'citus' else ''}, {n:,} DocumentEntries:"
                  f" loading {n - loaded:,} more ({load_average()})", flush=True)
            summary = load.load(url, n - loaded, args.per_patient, jobs=args.jobs, first_patient=patients,
                                level=args.level, min_free_gb=args.min_free_gb, spliced=not args.deflate)
            loaded, patients = n, summary["next_patient"]
            size = load.disk_bytes(url)
            print(f"  {load.describe(summary)} ({load_average()})", flush=True)
            print(f"  on disk: {size / 2**30:.2f} GiB, {size / n:,.0f} bytes per DocumentEntry (all tables and indexes,"
                  f" {patients:,} patients)", flush=True)
            if args.hold:
                hold(url, patients)
            elif not args.load_only:
                measure_registry(url, patients, args, f"registry-{n}")


def measure_registry(url: str, patients: int, args: argparse.Namespace, name: str) -> None:
    """`python -m registry` on the database at `url` (patients 0..patients-1 loaded), measured over HTTP."""
    sample = sample_entries(url, patients, 2000)
    service = start_registry(args.work / name, database_url=url)
    try:
        if args.cold:
            measure_cold(url, service.ports["http"], patients, args.cold)
        measure(service.ports["http"], patients, sample, args.seconds, args.connections)
        print(f"  registry peak RSS {peak_rss_mb(service.process.pid):.0f} MB", flush=True)
    finally:
        service.stop()


def hold(url: str, patients: int) -> None:
    """Keep the loaded database up until interrupted (SIGINT / SIGTERM), for `--url … --patients …` runs: a
    load that is not measured (under `nice`) apart from the measurements (on a quiet machine)."""
    import signal

    print(f"  holding the database: measure with --url {url} --patients {patients}; stop with SIGTERM", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("  stopped: removing the database", flush=True)


def main(argv: list[str] | None = None) -> int:
    import tempfile
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "citus"))
    parser.add_argument("--url", help="measure this loaded database alone (with --patients), no server started")
    parser.add_argument("--patients", type=int, help="with --url: patients 0..N-1 are loaded")
    parser.add_argument("--load-only", action="store_true", help="load each size and count its bytes, no measurement"
                        " (the loader's own rate)")
    parser.add_argument("--hold", action="store_true",
                        help="load the (one) size, then keep the server up for --url runs until SIGTERM")
    parser.add_argument("--level", type=int, default=6, help="DEFLATE level of the loaded fragments (bench.load)")
    parser.add_argument("--min-free-gb", type=float, default=15.0, help="the load stops before the disk has less free")
    parser.add_argument("--entries", type=int, nargs="+", default=[1_000_000],
                        help="sizes: one database grown to each in turn and measured there")
    parser.add_argument("--per-patient", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2, help="loader processes generating rows")
    parser.add_argument("--deflate", action="store_true",
                        help="load fragments DEFLATEd one by one, the registry's exact bytes (bench.load --deflate)")
    parser.add_argument("--shards", type=int, default=32, help="Citus shards per table")
    parser.add_argument("--cold", type=int, default=0, metavar="N",
                        help="first an uncached pass: N new patients and N entries, data files evicted from the page cache")
    args = parser.parse_args(argv)
    if not (args.backend or args.url) or (args.url and args.patients is None):
        parser.error("give --backend, or --url with --patients")
    print(f"machine: {machine()}; {load_average()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        args.work = Path(tmp)
        if args.url:
            print(f"{args.url}: {args.patients:,} patients, {load.disk_bytes(args.url) / 2**30:.2f} GiB on disk", flush=True)
            measure_registry(args.url, args.patients, args, "registry")
        else:
            bench(args.backend, args.entries, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
