"""Soak harness (issue 16): clients mixing ITI-41 (documents of 1 KB to 5 MB), ITI-42, ITI-18 and ITI-43
against the three services as `make run` starts them (registry, repository, audit sink receiving both
services' audit trails), for a while, then:

- errors: anything but a Success answer (and, for ITI-43, the very bytes stored), or no answer at all;
- latency per transaction: p50 / p95 / p99;
- the RSS of each service, sampled every second: "flat after warm-up" is the peak of the last fifth of the
  run against the mean of the second fifth (the first fifth is warm-up), growth under 10 %.

The load is stationary, so that a growth is the services' and not the load's: ITI-18 asks for the documents
of reader patients, each given `READER_DOCUMENTS` documents before the run and none after, while ITI-41 and
ITI-42 add documents to writer patients. (When ITI-18 asked for the writers' documents, each answer grew
with the run, to megabytes after half an hour, and so did the memory it took and its latency.)

ITI-41 stores what it sends: at full speed ~43 MB/s on this machine (a quiet 30-minute run filled the disk
with 72 GB). `--store-mb-s` paces the documents' bytes (10 MB/s by default: a national peak of 300
documents a second of ~30 KB); while the budget is spent a client runs another transaction of the mix
instead, so the other transactions keep their pace. `--store-mb-s 0` is full speed.

`python -m harness.soak --seconds 1800 --clients 16` is the long run (docs/reliability.md has its figures);
`tests/harness/test_soak.py` runs it for a few seconds. Each client is a thread with its own keep-alive
connection; document sizes are log-uniform, so most are small and some are megabytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from lxml import etree

from harness.builders import SubmissionBuilder, new_patient_id
from harness.cluster import REPOSITORY_UNIQUE_ID, Cluster
from harness.crash import OTHER_REPOSITORY, SOAP
from harness.services import feed_patient
from harness.wire import (
    Content,
    builder_without_repository_slots,
    post_simple,
    provide,
    retrieve_element,
    simple_request,
)
from xdscore import soap
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import UUID, Action, Status
from xdscore.vocabulary import StoredQueryId as Q

MIN_FREE_GB = 15.0  # the run stops before the data folder's disk has less free (ITI-41 stores ~40 MB/s at full speed)
MIX = (("ITI-41", 0.25), ("ITI-42", 0.15), ("ITI-18", 0.35), ("ITI-43", 0.25))
MIN_DOCUMENT, MAX_DOCUMENT = 1024, 5 * 1024 * 1024
READER_DOCUMENTS = 20  # documents of each patient that ITI-18 asks for (a usual FindDocuments answer)
STORE_MB_S = 10.0  # ITI-41 bytes a second by default (300 documents/s of ~30 KB, a national peak)


class Pacer:
    """A budget of bytes a second shared by the clients: a document may go while the budget is not spent
    (it may overdraw it: a large document waits for nothing, the next ones wait for the debt to clear)."""

    def __init__(self, bytes_per_second: float) -> None:
        self.rate = bytes_per_second
        self._budget = 0.0
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            now = time.monotonic()
            self._budget = min(self.rate, self._budget + (now - self._at) * self.rate)  # at most 1 s saved
            self._at = now
            if self._budget <= 0:
                return False
            self._budget -= size
            return True


@dataclass
class Soak:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))  # (t, MB)
    stored: list[tuple[str, str, int]] = field(default_factory=list)  # (uniqueId, sha1, size) of ITI-41 documents
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # set when the disk runs low
    pacer: Pacer | None = None  # ITI-41 bytes a second (None: full speed)
    low_disk: str | None = None  # why the run stopped early

    def record(self, transaction: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[transaction].append(seconds)
            if error:
                self.errors.append(f"{transaction}: {error}")


def _document(rng: random.Random) -> bytes:
    size = int(math.exp(rng.uniform(math.log(MIN_DOCUMENT), math.log(MAX_DOCUMENT))))
    return rng.randbytes(size)


def _unique_id(builder: SubmissionBuilder) -> str:
    entry = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
    return next(e.value for e in entry.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)


def _one(kind: str, client: httpx.Client, cluster: Cluster, patients: list[str], readers: list[str],
         rng: random.Random, soak: Soak, data: bytes = b"") -> str | None:
    """One transaction (`data`: the ITI-41 document); its error, or None."""
    patient = rng.choice(readers if kind == "ITI-18" else patients)
    if kind == "ITI-41":
        builder = builder_without_repository_slots(patient)
        reply = provide(client, cluster.repository_url, builder, {"Document01": Content.of(data)})
        if reply.status != "Success":
            return f"{reply.status} {reply.error_codes}"
        with soak.lock:
            soak.stored.append((_unique_id(builder), hashlib.sha1(data).hexdigest(), len(data)))
        return None
    if kind == "ITI-42":
        b = SubmissionBuilder(patient).with_submission_set()
        b.add_document(hash=hashlib.sha1(b"elsewhere").hexdigest(), size="9", repository_unique_id=OTHER_REPOSITORY)
        payload = etree.tostring(soap.request_envelope(b.xml(), Action.REGISTER.value))
        r = client.post(cluster.registry_url, content=payload, headers={"content-type": SOAP})
        return None if b"ResponseStatusType:Success" in r.content else f"HTTP {r.status_code} {r.content[-300:]!r}"
    if kind == "ITI-18":
        request = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": patient,
                                                   "$XDSDocumentEntryStatus": [Status.APPROVED.value]},
                                 ReturnType.LEAF_CLASS)
        payload = etree.tostring(soap.request_envelope(request, Action.STORED_QUERY.value))
        r = client.post(cluster.registry_url, content=payload, headers={"content-type": SOAP})
        if b"ResponseStatusType:Success" not in r.content:
            return f"HTTP {r.status_code} {r.content[-300:]!r}"
        found = r.content.count(b"<rim:ExtrinsicObject ")
        return None if found == READER_DOCUMENTS else f"{found} documents, not the {READER_DOCUMENTS} of the reader"
    with soak.lock:
        if not soak.stored:
            return None
        unique_id, sha1, size = rng.choice(soak.stored)
    content_type, data = simple_request(retrieve_element((REPOSITORY_UNIQUE_ID, unique_id)), Action.RETRIEVE)
    documents = post_simple(client, cluster.repository_url, content_type, data).documents()
    got = documents.get(unique_id, ("", b""))[1]
    if hashlib.sha1(got).hexdigest() != sha1 or len(got) != size:
        return f"document {unique_id} came back with {len(got)} bytes, not the {size} stored"
    return None


def _client(cluster: Cluster, patients: list[str], readers: list[str], seed: float, deadline: float,
            soak: Soak) -> None:
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    others, other_weights = zip(*[(k, w) for k, w in MIX if k != "ITI-41"], strict=True)
    with httpx.Client(timeout=120) as client:
        while time.monotonic() < deadline and not soak.stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            if kind == "ITI-43" and not soak.stored:
                kind = "ITI-41"
            data = _document(rng) if kind == "ITI-41" else b""
            if data and soak.pacer is not None and not soak.pacer.take(len(data)):
                kind, data = rng.choices(others, other_weights)[0], b""  # the budget is spent: another one
                if kind == "ITI-43" and not soak.stored:
                    continue
            started = time.perf_counter()
            try:
                error = _one(kind, client, cluster, patients, readers, rng, soak, data)
            except Exception as exc:  # noqa: BLE001 - any failure is an error of the soak, reported
                error = f"{type(exc).__name__}: {exc}"[:300]
            soak.record(kind, time.perf_counter() - started, error)


def _register(cluster: Cluster, patient: str, documents: int) -> None:
    """ITI-42 of `documents` DocumentEntries (stored elsewhere) for `patient`."""
    b = SubmissionBuilder(patient).with_submission_set()
    for _ in range(documents):
        b.add_document(hash=hashlib.sha1(b"elsewhere").hexdigest(), size="9", repository_unique_id=OTHER_REPOSITORY)
    payload = etree.tostring(soap.request_envelope(b.xml(), Action.REGISTER.value))
    r = httpx.post(cluster.registry_url, content=payload, headers={"content-type": SOAP}, timeout=60)
    if b"ResponseStatusType:Success" not in r.content:
        raise RuntimeError(f"the reader's documents were refused: {r.content[-500:]!r}")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _sampler(cluster: Cluster, started: float, deadline: float, soak: Soak, data_dir: Path,
             min_free_gb: float) -> None:
    """Every second: each service's RSS, and the free space of the data folder's disk (the run stops,
    and says so, before the documents it stores fill the disk)."""
    while time.monotonic() < deadline and not soak.stop.is_set():
        now = time.monotonic() - started
        for name in cluster.processes:
            soak.rss[name].append((now, _rss_mb(cluster.pid(name))))
        free_gb = shutil.disk_usage(data_dir).free / 1e9
        if free_gb < min_free_gb:
            soak.low_disk = f"stopped at {now:.0f} s: {free_gb:.1f} GB free on the data folder's disk (< {min_free_gb} GB)"
            soak.stop.set()
        time.sleep(1.0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def growth(samples: list[tuple[float, float]]) -> float:
    """Peak of the last fifth against the mean of the second fifth (the first fifth is warm-up)."""
    if len(samples) < 10:
        return 0.0
    n = len(samples)
    reference = statistics.mean(mb for _, mb in samples[n // 5: 2 * n // 5])
    return max(mb for _, mb in samples[4 * n // 5:]) / reference - 1


def run(seconds: float, clients: int, data_dir: Path, patients: int = 20, seed: int = 0,
        database_urls: dict[str, str] | None = None, min_free_gb: float = MIN_FREE_GB,
        store_mb_s: float | None = None) -> dict[str, object]:
    """`store_mb_s`: ITI-41 document bytes a second (None or 0: as fast as the services take them)."""
    cluster = Cluster(data_dir, database_urls or {}, audit=True)
    cluster.start_all()
    soak = Soak(pacer=Pacer(store_mb_s * 1e6) if store_mb_s else None)
    try:
        pool = [new_patient_id() for _ in range(patients)]
        readers = [new_patient_id() for _ in range(max(1, patients // 4))]
        for patient in pool + readers:
            feed_patient(cluster.ports["feed"], patient)
        for reader in readers:
            _register(cluster, reader, READER_DOCUMENTS)
        started = time.monotonic()
        deadline = started + seconds
        rng = random.Random(seed)
        threads = [threading.Thread(target=_client, args=(cluster, pool, readers, rng.random(), deadline, soak))
                   for _ in range(clients)]
        threads.append(threading.Thread(target=_sampler, args=(cluster, started, deadline, soak, data_dir, min_free_gb)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        cluster.stop()
    return {
        "seconds": round(elapsed, 1),
        "clients": clients,
        "errors": len(soak.errors),
        "first_errors": soak.errors[:10],
        "stopped_low_disk": soak.low_disk,
        "transactions": {
            kind: {"count": len(v), "per_second": round(len(v) / elapsed, 1),
                   "p50_ms": round(1000 * percentile(v, 50), 1), "p95_ms": round(1000 * percentile(v, 95), 1),
                   "p99_ms": round(1000 * percentile(v, 99), 1)}
            for kind, v in sorted(soak.latencies.items()) if v
        },
        "rss_mb": {
            name: {"start": round(s[0][1], 1), "end": round(s[-1][1], 1), "peak": round(max(mb for _, mb in s), 1),
                   "growth_after_warmup": round(growth(s), 3)}
            for name, s in sorted(soak.rss.items()) if s
        },
        "documents_stored": len(soak.stored),
        "stored_mb": round(sum(size for _, _, size in soak.stored) / 1e6, 1),
        "store_mb_s_asked": store_mb_s or None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-free-gb", type=float, default=MIN_FREE_GB)
    parser.add_argument("--store-mb-s", type=float, default=STORE_MB_S,
                        help=f"ITI-41 document bytes a second, in MB (default {STORE_MB_S}; 0: full speed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xds-soak-") as tmp:
        report = run(args.seconds, args.clients, Path(tmp), seed=args.seed, min_free_gb=args.min_free_gb,
                     store_mb_s=args.store_mb_s)
    print(json.dumps(report, indent=2))
    flat = all(r["growth_after_warmup"] < 0.10 for r in report["rss_mb"].values())  # type: ignore[union-attr]
    return 0 if report["errors"] == 0 and flat and report["stopped_low_disk"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
