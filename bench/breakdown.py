"""Where an ITI-42 registration's CPU goes, stage by stage, measured with a sampling profiler (py-spy).

Starts `python -m registry` as `bench.register` does (audit sending on, to a sink beside it), drives it
with N keep-alive connections of single-document registrations, and samples it with py-spy (`--gil`:
only the thread holding the GIL, so a sample is Python CPU, never a wait). Each sample's stack is given to
one stage by the rules below (the first that matches any frame wins), and a stage's ms per registration
is its samples / rate / registrations. What runs outside the GIL (the SQLite engine, zlib, the kernel's
side of fsync and sockets) is the process's CPU time from /proc minus the GIL time: one line, "outside
the GIL".

Run:  .venv/bin/python -m bench.breakdown [--seconds 15] [--connections 16] [--rate 250] [--py-spy PATH]
py-spy is not a project dependency: `pip install py-spy` (into the venv or anywhere on PATH). It needs
ptrace rights on the registry process (root, or kernel.yama.ptrace_scope = 0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.loadgen import machine, run
from bench.register import CT, SUCCESS, Bodies, cpu_seconds
from harness.builders import new_patient_id
from harness.services import audit_sender_env, feed_patient, start_audit_sink, start_registry

# (stage, frame substrings): a sample goes to the first stage one of whose substrings is in one of its
# frames ("function (file:line)" as py-spy writes them). Order matters: commit and SQL execution are
# found under the SQL building frames, the audit under the response's after-send callbacks.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("commit", ("do_commit (", "_commit_impl (")),
    ("SQL execute", ("do_execute", "do_executemany", "Cursor.execute", "Cursor.executemany", "sql_execute")),
    ("audit", ("auditing.py", "audit_events.py", "audit_sender.py", "audit/sender.py", "xdscore/syslog.py")),
    ("SQL build", ("registry/sql/writes.py", "registry/sql/fragments.py", "registry/sql/reads.py", "registry/sql/rows.py",
                   "sqlalchemy/", "_finalize (registry/register.py", "_retype (registry/register.py")),
    ("rules", ("xdscore/rules/", "registry/register.py")),
    ("response", ("xdscore/ebrim/response.py", "response_parts", "response_envelope", "_send_reply", "soapapp.py:_send")),
    ("ebRIM -> model", ("xdscore/ebrim/", "xdscore/model.py")),
    ("envelope", ("xdscore/xmlsafe.py", "read_envelope", "check_must_understand", "decode_bytes", "xdscore/multipart.py",
                  "xdscore/soap.py")),
]
OTHER = "HTTP, event loop, thread hand-offs"


def classify(stack: str) -> str:
    for stage, needles in STAGES:
        if any(n in stack for n in needles):
            return stage
    return OTHER


def find_py_spy(given: str | None) -> str:
    candidates = [given, shutil.which("py-spy"), str(Path(sys.executable).parent / "py-spy")]
    for c in candidates:
        if c and Path(c).is_file():
            return c
    raise SystemExit("py-spy not found: `pip install py-spy`, or give --py-spy PATH")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--py-spy", default=None)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--audit", choices=("on", "off"), default="on")
    parser.add_argument("--raw", default=None, help="keep py-spy's raw stacks in this file")
    args = parser.parse_args(argv)
    spy = find_py_spy(args.py_spy)
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as tmp:
        work = Path(tmp)
        sink = start_audit_sink(work / "audit") if args.audit == "on" else None
        service = start_registry(work / "registry", database_url=args.database_url,
                                 env=audit_sender_env(sink) if sink else {})
        try:
            patient = new_patient_id()
            assert "MSA|AA" in feed_patient(service.feed_port, patient)
            bodies = Bodies(patient)
            port, path = service.ports["http"], "/xds/registry"
            warm = bodies.take(300)
            run("127.0.0.1", port, path, lambda i: (CT, warm[i]), count=len(warm), connections=4)
            batch = bodies.take(int(args.seconds * 3000))
            raw = Path(args.raw) if args.raw else work / "stacks.txt"
            profiler = subprocess.Popen([spy, "record", "--gil", "-f", "raw", "-o", str(raw), "-r", str(args.rate),
                                         "--pid", str(service.process.pid), "--nonblocking"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # py-spy attached
            cpu = cpu_seconds(service.process.pid)
            result = run("127.0.0.1", port, path, lambda i: (CT, batch[i]), seconds=args.seconds,
                         connections=args.connections, check=lambda b: SUCCESS in b)
            cpu = cpu_seconds(service.process.pid) - cpu
            profiler.send_signal(2)  # SIGINT: py-spy writes its file and exits
            profiler.wait(30)
        finally:
            service.stop()
            if sink:
                sink.stop()
        counts: Counter[str] = Counter()
        for line in raw.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            counts[classify(stack)] += int(n)
    done = len(result.latencies)
    samples = sum(counts.values())
    window = samples / args.rate  # seconds of GIL time sampled (py-spy ran ~1 s longer than the load)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"ITI-42, {args.connections} connections, audit {args.audit}: {result.summary()}")
    print(f"registry CPU (/proc): {cpu * 1000 / done:.2f} ms per registration; GIL held: "
          f"{window * 1000 / done:.2f} ms per registration (sampled at {args.rate}/s)")
    print(f"{'stage':<36} {'ms/registration':>16} {'share':>7}")
    for stage in [s for s, _ in STAGES] + [OTHER]:
        ms = counts[stage] / args.rate * 1000 / done
        print(f"{stage:<36} {ms:16.3f} {counts[stage] / samples:7.1%}")
    outside = max(0.0, cpu - window) * 1000 / done
    print(f"{'outside the GIL (SQLite, zlib, kernel)':<36} {outside:16.3f}")
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
