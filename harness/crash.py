"""Crash-safety harness (issue 16): kill -9 of the registry or of the repository at a random moment while
clients stream ITI-41 (through the repository) and ITI-42 (straight to the registry), then start it again
and check, once the services are back:

1. every acknowledged submission (a Success answer reached the client) is queryable (ITI-18), and every
   acknowledged ITI-41 document is retrievable byte-identical (ITI-43);
2. nothing is visible that cannot be retrieved: every DocumentEntry the registry lists for this trial's
   patient under our repositoryUniqueId comes back from ITI-43 with the hash and size the registry lists.

A trial feeds a fresh patient, starts the clients, kills one service (registry or repository, at random)
after a random delay, lets the clients run into the dead service, starts it again on the same ports and
data, and checks the trial's patient. `python -m harness.crash --trials 200 [--postgresql]` is the long
run (docs/reliability.md has its figures); `tests/harness/test_crash.py` runs a few trials on SQLite and
PostgreSQL. kill -9 stops the service's process, not the machine: what the operating system had been
given survives (a power cut is the durability settings' business, `xdsservice.database`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from lxml import etree

from harness.builders import SubmissionBuilder, new_patient_id
from harness.cluster import REPOSITORY_UNIQUE_ID, Cluster
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
from xdscore.ebrim import document_entry, rim
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, UUID, Action, Status
from xdscore.vocabulary import StoredQueryId as Q

OTHER_REPOSITORY = "1.2.3.4.5.6.7.8.9"  # the repositoryUniqueId of documents registered by ITI-42 alone
SOAP = "application/soap+xml; charset=utf-8"
RETRIEVE_BATCH = 50


@dataclass
class Trial:
    killed: str
    after: float  # seconds of load before the kill
    submitted: int = 0
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)  # acknowledged, then not queryable or not retrievable
    unretrievable: list[str] = field(default_factory=list)  # listed by the registry, not served right
    visible: int = 0  # DocumentEntries of ours listed after the restart
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.lost and not self.unretrievable


@dataclass
class Sent:
    unique_id: str
    data: bytes | None  # the document, for an ITI-41; None for an ITI-42 (a document stored elsewhere)


def _unique_id(builder: SubmissionBuilder) -> str:
    entry = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
    return next(e.value for e in entry.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)


def _register_request(patient: str, data: bytes) -> tuple[bytes, str]:
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_document(hash=hashlib.sha1(data).hexdigest(), size=str(len(data)), repository_unique_id=OTHER_REPOSITORY)
    envelope = soap.request_envelope(b.xml(), Action.REGISTER.value)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), _unique_id(b)


def _client(cluster: Cluster, patient: str, rng: random.Random, stop: threading.Event, acked: list[Sent],
            counts: list[int], max_size: int) -> None:
    """Submit until told to stop; what got a Success answer goes to `acked`."""
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            data = rng.randbytes(rng.randint(1, max_size))
            counts.append(1)
            try:
                if rng.random() < 0.6:
                    builder = builder_without_repository_slots(patient)
                    reply = provide(client, cluster.repository_url, builder, {"Document01": Content.of(data)})
                    if reply.status == "Success":
                        acked.append(Sent(_unique_id(builder), data))
                else:
                    payload, unique_id = _register_request(patient, data)
                    r = client.post(cluster.registry_url, content=payload, headers={"content-type": SOAP})
                    if b"ResponseStatusType:Success" in r.content:
                        acked.append(Sent(unique_id, None))
            except (httpx.HTTPError, AssertionError, etree.XMLSyntaxError, ValueError):
                time.sleep(0.05)  # the service is down: the client tries again, as a real one would


def listed(cluster: Cluster, patient: str) -> dict[str, tuple[str, str, str]]:
    """uniqueId -> (hash, size, repositoryUniqueId) of every DocumentEntry the registry lists for the patient."""
    request = encode_request(Q.FindDocuments, {
        "$XDSDocumentEntryPatientId": patient,
        "$XDSDocumentEntryStatus": [Status.APPROVED.value, Status.DEPRECATED.value],
    }, ReturnType.LEAF_CLASS)
    payload = etree.tostring(soap.request_envelope(request, Action.STORED_QUERY.value))
    r = httpx.post(cluster.registry_url, content=payload, headers={"content-type": SOAP}, timeout=60)
    body = etree.fromstring(r.content, etree.XMLParser(huge_tree=True)).find(f"{{{NS.SOAP12}}}Body")
    assert body is not None and body[0].get("status", "").endswith("Success"), r.content[:500]
    out = {}
    for element in body[0].iter(f"{{{NS.RIM}}}ExtrinsicObject"):
        entry = document_entry.read(rim.read_object(element))
        out[entry.unique_id or ""] = (entry.hash or "", entry.size or "", entry.repository_unique_id or "")
    return out


def retrieved(cluster: Cluster, unique_ids: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with httpx.Client(timeout=60) as client:
        for i in range(0, len(unique_ids), RETRIEVE_BATCH):
            batch = [(REPOSITORY_UNIQUE_ID, u) for u in unique_ids[i:i + RETRIEVE_BATCH]]
            content_type, data = simple_request(retrieve_element(*batch), Action.RETRIEVE)
            reply = post_simple(client, cluster.repository_url, content_type, data)
            out.update({u: doc for u, (_, doc) in reply.documents().items()})
    return out


def check(cluster: Cluster, patient: str, acked: list[Sent], trial: Trial) -> None:
    visible = listed(cluster, patient)
    ours = [u for u, (_, _, repo) in visible.items() if repo == REPOSITORY_UNIQUE_ID]
    documents = retrieved(cluster, ours)
    trial.visible = len(ours)
    for sent in acked:
        if sent.unique_id not in visible or (sent.data is not None and documents.get(sent.unique_id) != sent.data):
            trial.lost.append(sent.unique_id)
    for unique_id in ours:
        sha1, size, _ = visible[unique_id]
        data = documents.get(unique_id)
        if data is None or hashlib.sha1(data).hexdigest() != sha1 or str(len(data)) != size:
            trial.unretrievable.append(unique_id)


def run_trial(cluster: Cluster, rng: random.Random, clients: int = 4, max_size: int = 64 * 1024,
              victim: str | None = None) -> Trial:
    started = time.monotonic()
    patient = new_patient_id()
    feed_patient(cluster.ports["feed"], patient)
    victim = victim or rng.choice(("registry", "repository"))
    trial = Trial(victim, round(rng.uniform(0.2, 1.5), 2))
    stop, acked, counts = threading.Event(), [], []
    threads = [threading.Thread(target=_client, args=(cluster, patient, random.Random(rng.random()), stop, acked,
                                                      counts, max_size), daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(trial.after)
    cluster.kill(victim)
    time.sleep(rng.uniform(0.0, 0.5))  # clients meet the dead service
    cluster.start(victim)
    time.sleep(0.3)  # and the living one again
    stop.set()
    for t in threads:
        t.join(60)
    trial.submitted, trial.acknowledged = len(counts), len(acked)
    check(cluster, patient, acked, trial)
    trial.seconds = round(time.monotonic() - started, 2)
    return trial


def run(trials: int, data_dir: Path, database_urls: dict[str, str] | None = None, seed: int = 0,
        clients: int = 4, on_trial: object = None) -> list[Trial]:
    rng = random.Random(seed)
    # Pending documents are settled in the background after 30 s: long runs cross that path too.
    cluster = Cluster(data_dir, database_urls or {}, env={"XDS_REPOSITORY_RECONCILE_GRACE_SECONDS": "30",
                                                          "XDS_REPOSITORY_RECONCILE_INTERVAL_SECONDS": "5"})
    cluster.start_all()
    results = []
    try:
        for _ in range(trials):
            results.append(run_trial(cluster, rng, clients))
            if callable(on_trial):
                on_trial(results[-1])
    finally:
        cluster.stop()
    return results


def summary(results: list[Trial]) -> dict[str, object]:
    return {
        "trials": len(results),
        "registry_killed": sum(t.killed == "registry" for t in results),
        "repository_killed": sum(t.killed == "repository" for t in results),
        "submitted": sum(t.submitted for t in results),
        "acknowledged": sum(t.acknowledged for t in results),
        "visible_checked": sum(t.visible for t in results),
        "lost": sum(len(t.lost) for t in results),
        "unretrievable": sum(len(t.unretrievable) for t in results),
        "failed_trials": [asdict(t) for t in results if not t.ok],
        "seconds": round(sum(t.seconds for t in results), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.crash", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--postgresql", action="store_true", help="both stores on a throwaway PostgreSQL cluster")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    server = None
    urls: dict[str, str] = {}
    if args.postgresql:
        from harness.pgserver import PgServer

        server = PgServer().start()
        urls = {"registry": server.create_database("crash_registry"),
                "repository": server.create_database("crash_repository")}
    try:
        with tempfile.TemporaryDirectory(prefix="xds-crash-") as tmp:
            def progress(t: Trial) -> None:
                print(f"{t.killed:10s} after {t.after:4.2f}s: {t.acknowledged}/{t.submitted} acknowledged, "
                      f"{t.visible} visible, lost {len(t.lost)}, unretrievable {len(t.unretrievable)} ({t.seconds}s)",
                      flush=True)

            results = run(args.trials, Path(tmp), urls, args.seed, args.clients, progress)
    finally:
        if server is not None:
            server.stop()
    report = summary(results)
    print(json.dumps(report, indent=2))
    return 0 if not report["failed_trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
