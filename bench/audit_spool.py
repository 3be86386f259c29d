"""Cost of the audit sender's durable spool (ITI TF-2a 3.20 Secure Node): `synchronous=FULL` against NORMAL.

Every transaction of the registry and the repository ends with its audit messages committed to the
process's spool (`xdsservice.audit_sender.Spool`, SQLite WAL), from the trail's own thread
(`xdsservice.auditing.AuditTrail`), one commit for all the transactions that arrived meanwhile. This
measures, in process, with the delivery thread off (nothing leaves the spool, as when the sink is down):

1. `emit_all` of one ITI-18 message, one commit each, sequentially: the cost of one spool commit;
2. `AuditTrail.record` from T threads at once (as T concurrent requests), until every message is
   spooled: the cost per transaction when commits are shared.

Each is run with the spool's connection at `synchronous=FULL` (what the spool uses, the project's policy,
`xdsservice.database`) and at NORMAL (what it used before), alternating, R rounds; the medians are printed.

Run from the project root:  nice -n 10 .venv/bin/python -m bench.audit_spool [--messages 400] [--rounds 3]
The machine may be shared: figures are noisy; alternating the two settings keeps the comparison fair.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xdscore import audit_events as ae  # noqa: E402
from xdsservice.audit_sender import AuditSender, AuditSenderSettings  # noqa: E402
from xdsservice.auditing import AuditTrail  # noqa: E402

PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


def facts(n: int) -> ae.AuditFacts:
    return ae.AuditFacts(
        transaction=ae.Transaction.ITI_18,
        event_time=dt.datetime.now(dt.UTC),
        outcome=ae.EventOutcome.SUCCESS,
        client=ae.Node("http://www.w3.org/2005/08/addressing/anonymous", "192.0.2.10"),
        server=ae.Node("https://xds.example.org/registry", "xds.example.org", "4242"),
        audit_source=ae.AuditSource("pyxds-registry"),
        patient_ids=(PATIENT,),
        query=ae.StoredQuery("urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d", b"<AdhocQueryRequest n='%d'/>" % n),
    )


def settings(folder: Path) -> AuditSenderSettings:
    return AuditSenderSettings(app_name="bench", spool_dir=str(folder)).resolved({"XDS_DATA_DIR": str(folder)})


def _set(sender: AuditSender, synchronous: str) -> None:
    assert sender.spool is not None
    sender.spool._db.execute(f"PRAGMA synchronous={synchronous}")


def one_commit_each(folder: Path, synchronous: str, messages: int) -> float:
    """Seconds per `emit_all` of one message (one commit)."""
    sender = AuditSender(settings(folder), start=False)
    _set(sender, synchronous)
    xmls = [ae.build(facts(n))[0] for n in range(messages)]
    started = time.perf_counter()
    for xml in xmls:
        sender.emit_all((xml,))
    elapsed = time.perf_counter() - started
    sender.close()
    return elapsed / messages


def shared_commits(folder: Path, synchronous: str, messages: int, threads: int) -> tuple[float, float]:
    """Seconds per transaction recorded by `threads` concurrent callers, and messages per commit."""
    trail = AuditTrail(settings(folder))
    assert trail.sender is not None
    trail.sender.close()
    trail.sender = AuditSender(settings(folder), start=False)
    _set(trail.sender, synchronous)
    commits = 0
    spool = trail.sender.spool
    assert spool is not None
    put_many = spool.put_many

    def counted(batch: list[bytes]) -> None:
        nonlocal commits
        commits += 1
        put_many(batch)

    spool.put_many = counted  # type: ignore[method-assign]
    all_facts = [facts(n) for n in range(messages)]
    barrier = threading.Barrier(threads + 1)

    def caller(part: list[ae.AuditFacts]) -> None:
        barrier.wait()
        for f in part:
            trail.record(f)
            time.sleep(0.0005)  # a request's own work between two audits

    workers = [threading.Thread(target=caller, args=(all_facts[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    trail.drain(120)
    elapsed = time.perf_counter() - started
    trail.close()
    return elapsed / messages, messages / max(commits, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[float]] = {}
    per_commit: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for synchronous in ("NORMAL", "FULL"):
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                results.setdefault((synchronous, "one"), []).append(one_commit_each(Path(a), synchronous, args.messages))
                seconds, batch = shared_commits(Path(b), synchronous, args.messages, args.threads)
                results.setdefault((synchronous, "shared"), []).append(seconds)
                per_commit.setdefault(synchronous, []).append(batch)
    print(f"{platform.machine()}, Python {platform.python_version()}, {args.messages} messages, "
          f"{args.threads} threads, {args.rounds} rounds (medians)")
    for synchronous in ("NORMAL", "FULL"):
        one = statistics.median(results[(synchronous, "one")]) * 1000
        shared = statistics.median(results[(synchronous, "shared")]) * 1000
        print(f"synchronous={synchronous:6}  one commit per message: {one:6.3f} ms   "
              f"{args.threads} threads sharing commits: {shared:6.3f} ms per transaction "
              f"({statistics.median(per_commit[synchronous]):.1f} messages per commit)")


if __name__ == "__main__":
    main()
