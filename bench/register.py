"""ITI-42 benchmark: single-document registrations per second over HTTP, beside the floor.

- HTTP: `python -m registry` (SQLite WAL, its default) on a free port; N keep-alive connections post
  single-document Register Document Set-b requests, each with fresh uniqueIds, for a fixed time.
- Floor, in the same run: the same request bodies parsed with lxml and their objects inserted in one SQL
  transaction each (same SQLite settings), no HTTP, no validation: what any registry must at least do.
- Ratio floor/HTTP, and the registry process's peak RSS.

Run:  .venv/bin/python -m bench.register [--seconds 15] [--connections 8] [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from lxml import etree
from sqlalchemy import insert

from bench.loadgen import machine, peak_rss_mb, run
from harness.builders import new_patient_id, single_document
from harness.services import feed_patient, start_registry
from xdscore import soap
from xdscore.vocabulary import Action

CT = f'application/soap+xml; charset=utf-8; action="{Action.REGISTER.value}"'
SUCCESS = b"ResponseStatusType:Success"


def make_bodies(patient: str, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        env = soap.request_envelope(single_document(patient).xml(), Action.REGISTER.value)
        out.append(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))
    return out


def floor(bodies: list[bytes], workdir: Path) -> float:
    """Parse each body with lxml and insert its objects in one SQL transaction, no checks at all."""
    from registry.sql import schema as t
    from registry.sql.fragments import pack
    from registry.sql.store import SqlRegistry

    store = SqlRegistry(f"sqlite:///{workdir}/floor.db")
    store.migrate()
    start = time.perf_counter()
    for body in bodies:
        root = etree.fromstring(body)
        objects = root.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}RegistryObjectList")
        rows = [
            {"uuid": f"urn:uuid:{uuid.uuid4()}", "kind": "XX", "lid": "x", "version": 1, "status": "A",
             "patient": None, "unique_id": None, "fragment": pack(etree.tostring(o, encoding="UTF-8", xml_declaration=False)),
             "registered_at": "0"}
            for o in objects
        ]
        with store.write() as tx:
            tx.conn.execute(insert(t.objects), rows)
    elapsed = time.perf_counter() - start
    store.dispose()
    return len(bodies) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        service = start_registry(work / "registry", database_url=args.database_url)
        try:
            patient = new_patient_id()
            feed_patient(service.feed_port, patient)
            estimate = int(max(2000, args.seconds * 1500))
            bodies = make_bodies(patient, estimate)
            port, path = service.ports["http"], "/xds/registry"
            run("127.0.0.1", port, path, lambda i: (CT, bodies[-1 - i]), count=100, connections=4)  # warm-up
            result = run("127.0.0.1", port, path, lambda i: (CT, bodies[i % (len(bodies) - 100)]),
                         seconds=args.seconds, connections=args.connections, check=lambda b: SUCCESS in b)
            rss = peak_rss_mb(service.process.pid)
        finally:
            service.stop()
        floor_rate = floor(bodies[: max(500, min(len(bodies), int(result.rate * 5)))], work)
    print(f"machine: {machine()}")
    print(f"ITI-42 over HTTP ({args.connections} connections, {args.database_url or 'SQLite WAL'}): {result.summary()}")
    print(f"floor (lxml parse + one SQL transaction, no HTTP): {floor_rate:,.0f}/s")
    print(f"ratio floor/HTTP: {floor_rate / result.rate:.2f}" if result.rate else "ratio: n/a")
    print(f"registry peak RSS: {rss:.0f} MB")
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
