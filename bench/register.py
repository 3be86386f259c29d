"""ITI-42 benchmark: single-document registrations per second over HTTP, beside their floor, alternating.

- HTTP: `python -m registry` as deployed (audit sending on, to an audit sink started beside it, as `make
  run` has it), SQLite WAL with `synchronous=FULL` or PostgreSQL on a cluster with fsync on (its own
  durable cluster, never the tests' fsync-off one). N keep-alive connections (`bench.loadgen`) post
  single-document Register Document Set-b requests, each with fresh uniqueIds, for a fixed time.
- Floor (`bench.floor`): the same kind of bodies parsed with lxml and the registry's rows inserted with
  plain DBAPI, one durable transaction each, from N threads: the same tables, indexes and durability,
  minus HTTP, the checks, the response and the audit.
- The two alternate (`--rounds` times each, in the same run, so both see the same machine), and the
  ratio HTTP / floor of their medians is printed, with the registry's CPU per registration and peak RSS.

Run:  .venv/bin/python -m bench.register [--seconds 10] [--connections 16] [--rounds 3]
          [--backend sqlite|postgresql|both] [--pg-url URL] [--audit on|off]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from lxml import etree

from bench.floor import Floor
from bench.loadgen import machine, peak_rss_mb, run
from harness.builders import new_patient_id, single_document
from harness.services import audit_sender_env, feed_patient, start_audit_sink, start_registry
from xdscore import soap
from xdscore.vocabulary import UUID, Action

CT = f'application/soap+xml; charset=utf-8; action="{Action.REGISTER.value}"'
SUCCESS = b"ResponseStatusType:Success"
PG_SETTINGS = {"shared_buffers": "1GB", "max_wal_size": "4GB"}  # fsync and synchronous_commit left on


class Bodies:
    """Single-document ITI-42 bodies with fresh uniqueIds, made from one template (cheap to make many)."""

    def __init__(self, patient: str) -> None:
        builder = single_document(patient)
        body = etree.tostring(soap.request_envelope(builder.xml(), Action.REGISTER.value), xml_declaration=True,
                              encoding="UTF-8").decode()
        ss = builder.objects[0]
        de = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
        schemes = (UUID.SS_UNIQUE_ID, UUID.DE_UNIQUE_ID)
        uids = [e.value for o in (ss, de) for e in o.external_identifiers if e.scheme in schemes]
        body = body.replace("{", "{{").replace("}", "}}")
        for n, uid in enumerate(uids):
            assert body.count(f'value="{uid}"') == 1, uid
            body = body.replace(f'value="{uid}"', 'value="{' + str(n) + '}"')
        self.template = body
        self.stamp = f"1.2.250.{os.getpid()}.{int(time.time())}"
        self.serial = itertools.count()

    def take(self, n: int) -> list[bytes]:
        out = []
        for _ in range(n):
            i = next(self.serial)
            out.append(self.template.format(f"{self.stamp}.1.{i}", f"{self.stamp}.2.{i}").encode())
        return out


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU seconds of process `pid` (with `children`: also of its children that have exited and been waited for)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return used / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL server: the postmaster, its live backends and workers, and those that
    exited (a benchmark's pooled connections live through a run; the figure is its difference)."""
    total = cpu_seconds(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text().rpartition(")")[2]
            if int(rest.split()[1]) == postmaster:
                total += cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # exited meanwhile
    return total


@contextmanager
def databases(backend: str, work: Path, pg_url: str | None) -> Iterator[tuple[str | None, str, int | None]]:
    """(registry database URL or None for its SQLite default, floor database URL, the PostgreSQL server's
    postmaster pid when this script started it)."""
    if backend == "sqlite":
        yield None, f"sqlite:///{work}/floor.db", None
        return
    if pg_url:
        import psycopg

        base = pg_url.rsplit("/", 1)[0]
        admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        stamp = f"{os.getpid()}_{int(time.time())}"
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "bench_reg_{stamp}"')
            c.execute(f'CREATE DATABASE "bench_floor_{stamp}"')
        yield f"{base}/bench_reg_{stamp}", f"{base}/bench_floor_{stamp}", None
        return
    from harness.pgserver import PgServer

    server = PgServer(PG_SETTINGS, durable=True).start()
    try:
        postmaster = int((server.datadir / "postmaster.pid").read_text().split()[0])
        yield server.create_database("registry"), server.create_database("floor"), postmaster
    finally:
        server.stop()


def bench_backend(backend: str, args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="bench-register-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        registry_url, floor_url, postmaster = stack.enter_context(databases(backend, work, args.pg_url))
        env: dict[str, str] = {}
        if args.audit == "on":
            sink = start_audit_sink(work / "audit")
            stack.callback(sink.stop)
            env = audit_sender_env(sink)
        service = start_registry(work / "registry", database_url=registry_url, env=env)
        stack.callback(service.stop)
        patient = new_patient_id()
        assert "MSA|AA" in feed_patient(service.feed_port, patient)
        bodies = Bodies(patient)
        floor = Floor(floor_url)
        port, path = service.ports["http"], "/xds/registry"
        warm = bodies.take(200)
        run("127.0.0.1", port, path, lambda i: (CT, warm[i]), count=len(warm), connections=4)
        floor.run(bodies.take(100), 60, 2)
        http_rates, floor_rates, cpu_ms, server_ms = [], [], [], []
        errors = 0
        for n in range(args.rounds):
            batch = bodies.take(int(args.seconds * 3000))  # more than any run can use: each body sent once
            cpu = cpu_seconds(service.process.pid)
            server = server_cpu_seconds(postmaster) if postmaster else 0.0
            result = run("127.0.0.1", port, path, lambda i, b=batch: (CT, b[i]), seconds=args.seconds,  # type: ignore[misc]
                         connections=args.connections, check=lambda b: SUCCESS in b)
            done = len(result.latencies)
            cpu_ms.append((cpu_seconds(service.process.pid) - cpu) * 1000 / max(1, done + result.errors))
            if postmaster:
                server_ms.append((server_cpu_seconds(postmaster) - server) * 1000 / max(1, done + result.errors))
            errors += result.errors
            http_rates.append(result.rate)
            print(f"  round {n + 1} HTTP  ({args.connections} connections): {result.summary()}", flush=True)
            inserted, elapsed = floor.run(bodies.take(int(args.seconds * 3000)), args.seconds, args.floor_threads or args.connections)
            floor_rates.append(inserted / elapsed)
            print(f"  round {n + 1} floor ({args.floor_threads or args.connections} threads):     {inserted / elapsed:,.0f}/s", flush=True)
        rss = peak_rss_mb(service.process.pid)
    http, fl = statistics.median(http_rates), statistics.median(floor_rates)
    label = "SQLite WAL, synchronous=FULL" if backend == "sqlite" else "PostgreSQL, fsync on, synchronous_commit on"
    print(f"ITI-42 over HTTP ({label}, audit {args.audit}): median {http:,.0f}/s over {args.rounds} rounds "
          f"(registry CPU {statistics.median(cpu_ms):.2f} ms per registration"
          + (f", PostgreSQL server CPU {statistics.median(server_ms):.2f} ms" if server_ms else "")
          + f", peak RSS {rss:.0f} MB, errors {errors})")
    print(f"floor (lxml + the same rows with plain DBAPI, one durable transaction each): median {fl:,.0f}/s")
    print(f"HTTP / floor: {http / fl:.2f}" if fl else "HTTP / floor: n/a", flush=True)
    return errors == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each HTTP run and each floor run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--floor-threads", type=int, default=0, help="default: as many as --connections")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP and floor runs, alternating")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", default=None, help="an existing durable server; default: start one")
    parser.add_argument("--audit", choices=("on", "off"), default="on", help="on: as `make run` has it")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    ok = True
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        ok = bench_backend(backend, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
