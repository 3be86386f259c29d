"""The audit sink at scale (issue 20): its PostgreSQL store at N events, measured over its real HTTP API.

1. Load (`bench.audit_load`): N realistic events over M months into a durable PostgreSQL server
   (`harness/pgserver.py`, fsync on), by the sink's own migrations and partition code; the rows per
   second, and the bytes on disk per event (the database, and each table with its partitions and indexes).
2. Measure, with the real sink (`python -m audit serve` on that database, free ports):
   - the patient trace `GET /patients/{cx}/accesses` (100 newest events, each with its documents) over
     keep-alive HTTP: p50 / p95 / p99 with 1 and 4 clients, for typical patients (1 to 3 events) and the
     heaviest ones, without a period and with a one-month period (`since` / `until`); with the query plan
     of each (how many months it reads);
   - the store rate at that size, `bench.audit_sink`'s way: K new ITI-18 / ITI-43 events of loaded patients,
     this month, sent over syslog TLS on one connection, timed until `/health` counts them stored;
   - retention: the time `AuditStore.drop_before` takes to drop the oldest month (its events, patients,
     documents and notifications), done last.
The load average is printed with each figure (the machine may be shared).

Run:  .venv/bin/python -m bench.audit_scale --events 1000000 --months 3 --backend postgresql
Phases, so the load (`nice -n 19`) and the measurement (`/work/wt/quiet.sh`) can run apart:
`--data DIR --phase load` keeps the loaded server in DIR; `--data DIR --phase measure` measures it;
`--data DIR --phase drop` removes DIR. Without `--data` the server is temporary and removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import datetime as dt
import json
import os
import random
import shutil
import statistics
import time
import urllib.parse
from pathlib import Path

import psycopg

from audit.store import AuditStore
from bench import audit_events as ev
from bench import audit_load
from bench.audit_sink import SinkProcess, bench_tls
from bench.loadgen import LoadResult, _read_response, machine
from harness.pgserver import PgServer

SETTINGS = {"shared_buffers": "2GB", "effective_cache_size": "8GB", "random_page_cost": "1.1", "max_wal_size": "2GB",
            "checkpoint_timeout": "30min", "max_parallel_maintenance_workers": "1"}


def load_average() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def cx(patient: str) -> str:
    return f"{patient}^^^&{ev.AUTHORITY}&ISO"


def disk(url: str, events: int) -> None:
    """Bytes on disk: the database and each table (its partitions, TOAST and indexes)."""
    with psycopg.connect(audit_load.psycopg_url(url)) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        print(f"  database: {total / 1e9:.2f} GB = {total / events:,.0f} bytes/event")
        for table in ("audit_event", "audit_event_patient", "audit_event_document", "audit_notification"):
            size, indexes, rows = conn.execute(
                "SELECT sum(pg_total_relation_size(c.oid))::bigint, sum(pg_indexes_size(c.oid))::bigint,"
                " sum(greatest(c.reltuples, 0))::bigint FROM pg_class c WHERE (c.oid = %(t)s::regclass"
                " OR c.oid IN (SELECT relid FROM pg_partition_tree(%(t)s) WHERE isleaf)) AND c.relkind <> 'p'", {"t": table}).fetchone()
            print(f"    {table:<22} {size / 1e9:6.2f} GB ({indexes / 1e9:.2f} GB indexes), ~{rows:,} rows,"
                  f" {size / events:,.0f} bytes/event")


async def _get_worker(port: int, paths: list[str], counter: list[int], stop_at: float, result: LoadResult,
                      want_events: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            path = paths[counter[0] % len(paths)]
            counter[0] += 1
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            await writer.drain()
            status, body = await _read_response(reader)
            elapsed = time.perf_counter() - t0
            result.bytes_received += len(body)
            if status != 200 or (want_events and b'"accesses":[]' in body):
                result.errors += 1
            else:
                result.latencies.append(elapsed)
    finally:
        writer.close()


def get_load(port: int, paths: list[str], seconds: float, clients: int, want_events: bool) -> LoadResult:
    async def run() -> LoadResult:
        result, counter = LoadResult(), [0]
        start = time.perf_counter()
        await asyncio.gather(*[_get_worker(port, paths, counter, start + seconds, result, want_events)
                               for _ in range(clients)])
        result.elapsed = time.perf_counter() - start
        return result
    return asyncio.run(run())


def trace_path(patient: str, since: dt.datetime | None = None, until: dt.datetime | None = None) -> str:
    path = f"/patients/{urllib.parse.quote(cx(patient), safe='')}/accesses"
    if since is not None and until is not None:
        path += "?" + urllib.parse.urlencode({"since": since.isoformat(), "until": until.isoformat()})
    return path


def plan_summary(url: str, patient: str, since: dt.datetime | None, until: dt.datetime | None) -> str:
    """How the trace query runs: the months it reads, its buffers and time (EXPLAIN ANALYZE of the store's query)."""
    from sqlalchemy.dialects import postgresql

    from audit.store import EventFilter

    query = AuditStore.search_query(EventFilter(patient_id=cx(patient), since=since, until=until, limit=100))
    compiled = query.compile(dialect=postgresql.psycopg.dialect())
    with psycopg.connect(audit_load.psycopg_url(url)) as conn:
        lines = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params)]
    months = {part.split(" on ")[1].split()[0] for line in lines for part in [line]
              if " on audit_event_patient_p" in line and "never executed" not in line}
    execution = next((line.strip() for line in lines if line.startswith("Execution Time")), "")
    return f"{len(months)} month(s) of the patient index read; {execution}"


def measure_trace(sink: SinkProcess, url: str, loaded: dict, seconds: float) -> None:
    months = [dt.date.fromisoformat(m) for m in loaded["months"]]
    middle = months[len(months) // 2]
    since = dt.datetime.combine(middle, dt.time(), dt.UTC)
    until = dt.datetime.combine(audit_load.partitions.add_months(middle, 1), dt.time(), dt.UTC) - dt.timedelta(microseconds=1)
    typical, heavy = loaded["typical"], [p for p, _ in loaded["heavy"]]
    print(f"  trace: typical = {len(typical)} patients of 1-3 events; heavy = {len(heavy)} patients of"
          f" {loaded['heavy'][-1][1]}-{loaded['heavy'][0][1]} events; period = {middle:%Y-%m}")
    for label, patients, period in (("typical", typical, False), ("heavy", heavy, False),
                                    ("typical, one month", typical, True), ("heavy, one month", heavy, True)):
        paths = [trace_path(p, since, until) if period else trace_path(p) for p in patients]
        random.Random(5).shuffle(paths)
        get_load(sink.http_port, paths[-50:], 1.0, 2, False)  # warm the connections and the code paths
        for clients in (1, 4):
            result = get_load(sink.http_port, paths, seconds, clients, want_events=not period)
            size = result.bytes_received / max(1, len(result.latencies) + result.errors) / 1024
            print(f"    {label:<20} {clients} client(s): {result.summary()}  ({size:.0f} KiB; {load_average()})", flush=True)
        print(f"      plan: {plan_summary(url, patients[0], since if period else None, until if period else None)}")


def measure_store(sink: SinkProcess, loaded: dict, messages: int) -> None:
    """New events for loaded patients, this month, over TLS: stored per second at this size."""
    kinds = ev.kinds()
    users = audit_load.Users(1000)
    rng = random.Random(17)
    query = ev.Template(ev.query_request("QXPIDQX").decode())
    now = dt.datetime.now(dt.UTC)
    frames = []
    patients = loaded["typical"] + [p for p, _ in loaded["heavy"]]
    for i in range(messages):
        patient = patients[rng.randrange(len(patients))]
        role, values = users.values(rng.randrange(users.size))
        values.update({"PID": patient, "HOST": "dmp-node-9", "PROC": "2199", "PORT": "45000"})
        moment = now - dt.timedelta(seconds=i * 0.01)
        if i % 2:
            key = ("ITI-43", role, "normal", 1)
            values["DOC0"] = f"1.2.250.1.213.1.1.9.4.{i}"
        else:
            key = ("ITI-18", role, "normal", 0)
            values["QUERY"] = base64.b64encode(query.render({"PID": cx(patient)}).encode()).decode()
        kind = kinds[key]
        values["TIME"] = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        values["SYSTS"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        frames.append((kind.header.render(values) + kind.xml.render(values)).encode())
    already = sink.counts()[0]
    seconds, stored = bench_tls(sink, frames, already)
    print(f"  store rate: {messages} new events over TLS, {stored} stored in {seconds:.2f} s ="
          f" {messages / seconds:,.0f} events/s  ({load_average()})")


def measure_retention(url: str, loaded: dict) -> None:
    months = [dt.date.fromisoformat(m) for m in loaded["months"]]
    cutoff = dt.datetime.combine(months[1], dt.time(), dt.UTC)
    oldest = audit_load.partitions.partition_name("audit_event", months[0])
    with psycopg.connect(audit_load.psycopg_url(url)) as conn:  # its parts, each timed then rolled back
        parts = [("count(*) of the month", f"SELECT count(*) FROM {oldest}")]
        if conn.execute("SELECT relkind FROM pg_class WHERE relname = 'audit_notification'").fetchone()[0] != "p":
            # before migration 0005, retention deleted the old notifications row by row
            parts.append(("notifications' DELETE", "DELETE FROM audit_notification WHERE event_time < %(c)s"))
        for label, sql in parts:
            started = time.monotonic()
            lines = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, {"c": cutoff})]
            scans = [line.strip().split("  (")[0] for line in lines if " Scan " in line or "Scan on" in line]
            print(f"    of which {label}: {time.monotonic() - started:.2f} s ({'; '.join(scans)[:160]})")
            conn.rollback()
    store = AuditStore.open(url, migrate=False)
    before = store.counts()["events"]
    started = time.monotonic()
    dropped = store.drop_before(cutoff)
    seconds = time.monotonic() - started
    after = store.counts()["events"]
    store.close()
    print(f"  retention: drop_before({cutoff:%Y-%m-%d}) dropped {[f'{m:%Y-%m}' for m in dropped]}"
          f" ({before - after:,} events) in {seconds:.2f} s  ({load_average()})")


def phase_load(url: str, args: argparse.Namespace, folder: Path | None) -> dict:
    print(f"loading {args.events:,} events over {args.months} months ({load_average()})", flush=True)
    loaded = audit_load.load(url, args.events, args.months, jobs=args.jobs, min_free_gb=args.min_free_gb)
    print(f"  {loaded.events:,} events, {loaded.notifications:,} notifications, {loaded.patients:,} patients in"
          f" {loaded.seconds:.0f} s = {loaded.events / loaded.seconds:,.0f} events/s  ({load_average()})")
    disk(url, loaded.events)
    state = {**dataclasses.asdict(loaded), "months": [m.isoformat() for m in loaded.when.months], "url": url}
    state.pop("when")
    if folder is not None:
        (folder / "loaded.json").write_text(json.dumps(state))
    return state


def phase_measure(url: str, loaded: dict, args: argparse.Namespace, tmp: Path) -> None:
    print(f"measuring at {loaded['events']:,} events ({load_average()})", flush=True)
    started = time.monotonic()
    AuditStore.open(url).close()  # the sink's migrations (a store loaded by an older loader) before its start
    print(f"  migrated to head in {time.monotonic() - started:.1f} s")
    os.environ["XDS_AUDIT_DATABASE_URL"] = url
    sink = SinkProcess(tmp)
    try:
        measure_trace(sink, url, loaded, args.seconds)
        measure_store(sink, loaded, args.messages)
    finally:
        sink.stop()
    disk(url, sink_events(url))
    measure_retention(url, loaded)


def sink_events(url: str) -> int:
    store = AuditStore.open(url, migrate=False)
    try:
        return store.counts()["events"]
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--backend", choices=("postgresql",), default="postgresql")
    parser.add_argument("--jobs", type=int, default=2, help="loader processes")
    parser.add_argument("--seconds", type=float, default=8.0, help="per trace measurement")
    parser.add_argument("--messages", type=int, default=5000, help="new events sent for the store rate")
    parser.add_argument("--min-free-gb", type=float, default=15.0)
    parser.add_argument("--data", type=Path, help="keep the server in this folder between phases")
    parser.add_argument("--phase", choices=("all", "load", "measure", "drop"), default="all")
    args = parser.parse_args()
    if args.phase == "drop":
        if args.data and (args.data / "data" / "PG_VERSION").exists():
            shutil.rmtree(args.data)
        return
    print(f"machine: {machine()}")
    server = PgServer(SETTINGS, durable=True, folder=args.data).start()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"audit-scale-{os.getpid()}"
    tmp.mkdir()
    try:
        url = f"postgresql+psycopg://xds@127.0.0.1:{server.port}/audit"
        if args.phase in ("all", "load"):
            server.create_database("audit")
            loaded = phase_load(url, args, args.data)
        else:
            loaded = json.loads((args.data / "loaded.json").read_text())
        if args.phase in ("all", "measure"):
            phase_measure(url, loaded, args, tmp)
        print(f"  median load while measuring: {statistics.median(os.getloadavg()):.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        server.stop()


if __name__ == "__main__":
    main()
