"""ITI-18 benchmark: FindDocuments and GetDocuments latency and throughput over HTTP at scale.

Loads N DocumentEntries (default 10^5 and 10^6) spread over 10^4 patients straight into the registry's
database (bulk inserts of rows built from one registered-looking template, so loading takes minutes, not
hours), then starts `python -m registry` on it and measures, over HTTP with keep-alive connections:
- FindDocuments (LeafClass, Approved) for random patients: p50 / p95 / p99 and queries/s;
- FindDocuments with a classCode filter;
- GetDocuments (LeafClass) for one random entryUUID.

Run:  .venv/bin/python -m bench.query [--sizes 100000 1000000] [--backend sqlite|postgresql|both]
PostgreSQL: a throwaway cluster is started (harness/pgserver.py) with PG_SETTINGS (shared_buffers 4 GB on
this 24 GB machine, as a registry's server would be tuned), unless --pg-url is given.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path

from lxml import etree
from sqlalchemy import insert

from bench.loadgen import machine, peak_rss_mb, run
from harness.builders import document
from registry.sql import patient_number
from registry.sql import schema as t
from registry.sql.columns import code_value, pad_time
from registry.sql.fragments import pack
from registry.sql.store import SqlRegistry
from xdscore import soap
from xdscore.ebrim import document_entry
from xdscore.ebrim import rim as rim_codec
from xdscore.model import Code, PatientKey
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import Action, Status
from xdscore.vocabulary import StoredQueryId as Q

PATIENTS = 10_000
PG_SETTINGS = {"shared_buffers": "4GB", "effective_cache_size": "16GB", "random_page_cost": "1.1", "work_mem": "16MB"}
AUTHORITY = "1.3.6.1.4.1.21367.2005.3.7"
CLASSES = [Code(c, "1.3.6.1.4.1.19376.1.2.6.1", c) for c in ("REPORTS", "HEALTH", "SUMMARIES", "IMAGES", "DISPENSATIONS")]
APPROVED = Status.APPROVED.value
CT = f'application/soap+xml; charset=utf-8; action="{Action.STORED_QUERY.value}"'


def patient_id(i: int) -> str:
    return f"BENCH{i:06d}^^^&{AUTHORITY}&ISO"


def template() -> tuple[str, dict]:
    """One DocumentEntry as the registry stores it, with placeholders for what varies."""
    de = document("@@PID@@", "@@UUID@@", unique_id="@@UID@@", class_code=Code("@@CLASS@@", CLASSES[0].scheme, "@@CLASS@@"))
    rim = document_entry.write(de)
    from dataclasses import replace

    rim = replace(rim, lid="@@UUID@@", status=None, version_name="1")  # stored without status, as the registry does
    rim = replace(
        rim,
        classifications=tuple(replace(c, id="@@ID@@", classified_object="@@UUID@@") for c in rim.classifications),
        external_identifiers=tuple(replace(e, id="@@ID@@", registry_object="@@UUID@@") for e in rim.external_identifiers),
    )
    return etree.tostring(rim_codec.write_object(rim), encoding="unicode"), document_entry.read(rim).__dict__


def load(url: str, n: int, batch: int = 5000) -> list[str]:
    """Insert n DocumentEntries over PATIENTS patients; returns a sample of entryUUIDs."""
    store = SqlRegistry(url)
    store.migrate()
    xml, fields = template()
    pieces = xml.split("@@ID@@")
    rng = random.Random(42)
    sample: list[str] = []
    with store.write() as tx:
        tx.conn.execute(insert(t.patients), [
            {"patient": patient_number.of(PatientKey(f"BENCH{i:06d}", AUTHORITY)),
             "key_text": str(PatientKey(f"BENCH{i:06d}", AUTHORITY)), "pid": f"BENCH{i:06d}", "authority": AUTHORITY, "cx": patient_id(i), "demographics": "{}", "updated_at": "2024"}
            for i in range(PATIENTS)
        ])
    start = time.perf_counter()
    for offset in range(0, n, batch):
        rows: dict[str, list[dict]] = {"objects": [], "documents": [], "document_codes": [], "document_authors": [],
                                       "registry_ids": []}
        for k in range(offset, min(n, offset + batch)):
            p = k % PATIENTS
            u = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
            uid = f"1.2.3.4.{k}"
            cls = CLASSES[k % len(CLASSES)]
            pid = patient_number.of(PatientKey(f"BENCH{p:06d}", AUTHORITY))
            # every Classification and ExternalIdentifier with its own id, as registered ones have
            body = pieces[0] + "".join(f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}{piece}" for piece in pieces[1:])
            rows["objects"].append({
                "uuid": u, "kind": "DE", "lid": u, "version": 1, "status": APPROVED, "patient": pid, "unique_id": uid,
                "object_type": fields["object_type"],
                "fragment": pack(body.replace("@@UUID@@", u).replace("@@UID@@", uid).replace("@@PID@@", patient_id(p).replace("&", "&amp;"))
                                 .replace("@@CLASS@@", cls.code).encode()),
                "registered_at": "2024",
            })
            rows["registry_ids"] += [{"ident": u, "kind": "U", "patient": pid}, {"ident": uid, "kind": "D", "patient": pid}]
            rows["documents"].append({
                "patient": pid, "uuid": u, "class_code": code_value(cls),
                "type_code": code_value(fields["type_code"]), "format_code": code_value(fields["format_code"]),
                "practice_setting_code": code_value(fields["practice_setting_code"]),
                "healthcare_facility_type_code": code_value(fields["healthcare_facility_type_code"]),
                "creation_time": pad_time(f"2024{(k % 12) + 1:02d}01"), "service_start_time": None, "service_stop_time": None,
                "hash": fields["hash"], "size": int(fields["size"]), "repository_unique_id": fields["repository_unique_id"],
                "mime_type": "text/plain",
            })
            rows["document_codes"].append({"patient": pid, "uuid": u, "code_type": "C", "value": "N^^2.16.840.1.113883.5.25"})
            rows["document_authors"].append({"patient": pid, "uuid": u, "person": "^Smitty^Gerald^^^"})
            if rng.random() < 0.01:
                sample.append(u)
        with store.write() as tx:
            for name in ("objects", "documents", "document_codes", "document_authors", "registry_ids"):
                tx.conn.execute(insert(t.metadata.tables[name]), rows[name])
        done = min(n, offset + batch)
        if done % 100_000 == 0 or done == n:
            print(f"  loaded {done:,} in {time.perf_counter() - start:.0f}s", flush=True)
    # A registry in steady state: statistics fresh and the visibility map set, so that autovacuum does
    # not start on the bulk load in the middle of the measurements.
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE")
    store.dispose()
    return sample


def envelope(body: etree._Element) -> bytes:
    return etree.tostring(soap.request_envelope(body, Action.STORED_QUERY.value), xml_declaration=True, encoding="UTF-8")


def measure(port: int, seconds: float, connections: int, sample: list[str]) -> list[tuple[str, object]]:
    rng = random.Random(7)
    find = [envelope(encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": patient_id(rng.randrange(PATIENTS)),
                                                      "$XDSDocumentEntryStatus": [APPROVED]}, ReturnType.LEAF_CLASS))
            for _ in range(2000)]
    find_class = [envelope(encode_request(Q.FindDocuments, {
        "$XDSDocumentEntryPatientId": patient_id(rng.randrange(PATIENTS)), "$XDSDocumentEntryStatus": [APPROVED],
        "$XDSDocumentEntryClassCode": [code_value(CLASSES[1]) or ""]}, ReturnType.LEAF_CLASS)) for _ in range(2000)]
    get = [envelope(encode_request(Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": [rng.choice(sample)]}, ReturnType.LEAF_CLASS))
           for _ in range(2000)]
    ok = b"ResponseStatusType:Success"
    failed: list[bytes] = []  # the first refused answer, printed: a run whose queries all fail says why

    def check(answer: bytes) -> bool:
        if ok in answer:
            return True
        if not failed:
            failed.append(answer)
        return False

    out = []
    for name, bodies in (("FindDocuments", find), ("FindDocuments+classCode", find_class), ("GetDocuments", get)):
        run("127.0.0.1", port, "/xds/registry", lambda i, b=bodies: (CT, b[-1 - (i % 200)]), count=200, connections=connections)
        # Latency: one client at a time (what one consumer waits); throughput: `connections` at once.
        latency = run("127.0.0.1", port, "/xds/registry", lambda i, b=bodies: (CT, b[i % len(b)]),
                      seconds=seconds, connections=1, check=check)
        load = run("127.0.0.1", port, "/xds/registry", lambda i, b=bodies: (CT, b[-1 - i % len(b)]),
                   seconds=seconds, connections=connections, check=check)
        out.append((f"{name} (1 client)", latency))
        out.append((f"{name} ({connections} clients)", load))
    if failed:
        print(f"  first refused answer: {failed[0][:600]!r}", flush=True)
    return out


def bench_one(backend: str, n: int, seconds: float, connections: int, workdir: Path, pg_url: str | None) -> None:
    from harness.services import start_registry

    url = pg_url if backend == "postgresql" else f"sqlite:///{workdir}/bench-{n}.db"
    print(f"{backend}, {n:,} DocumentEntries over {PATIENTS:,} patients: loading", flush=True)
    t0 = time.perf_counter()
    sample = load(url, n)
    print(f"  load time {time.perf_counter() - t0:.0f}s", flush=True)
    service = start_registry(workdir / f"reg-{backend}-{n}", database_url=url)
    try:
        for name, result in measure(service.ports["http"], seconds, connections, sample):
            size = result.bytes_received / max(1, len(result.latencies) + result.errors) / 1024
            print(f"  {name:<34} {result.summary()}  ({size:.0f} KiB/response)", flush=True)
        print(f"  registry peak RSS {peak_rss_mb(service.process.pid):.0f} MB", flush=True)
    finally:
        service.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pg = None
        for backend in backends:
            for n in args.sizes:
                pg_url = None
                if backend == "postgresql":
                    if args.pg_url:
                        pg_url = args.pg_url
                    else:
                        from harness.pgserver import PgServer

                        # A server tuned as a registry's would be: the working set in shared buffers.
                        pg = pg or PgServer(PG_SETTINGS).start()
                        pg_url = pg.create_database(f"bench_{n}")
                bench_one(backend, n, args.seconds, args.connections, work, pg_url)
        if pg is not None:
            pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
