"""Document Repository benchmark: ITI-41 throughput, ITI-43 streaming speed, memory during 200 MB exchanges.

Starts the real registry and the real repository as separate processes on free ports (uvicorn,
httptools, no access log; SQLite in a temporary folder), feeds one patient over MLLP, then measures:

1. ITI-41 submissions/s of 1 KB documents (MTOM, one document each), end to end: the repository
   stores the blob, forwards ITI-42 to the registry and answers; sequential (latency) and with
   N concurrent clients (throughput).
2. ITI-43 MB/s for one 50 MB document streamed from disk, beside a plain loopback HTTP GET of the same
   bytes from a minimal uvicorn app reading the same blob file in the same 1 MiB chunks, both clients
   only hashing what arrives; and the ratio. Also with a client that parses the MTOM answer
   (xdscore.mtom) and checks the document's SHA-1 without keeping it.
3. Peak RSS growth of the repository process during a 200 MB ITI-41 upload and a 200 MB ITI-43
   download (VmHWM reset through /proc/PID/clear_refs before each; target: under 32 MB).

Run from the project root:  .venv/bin/python -m bench.repository [--submissions 400] [--clients 8]
The machine may be shared with other work: figures are noisy; rerun on a quiet machine for the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024


# --- the plain HTTP server (run in a subprocess: `python -m bench.repository plain FILE PORT`) ---


def plain_server(path: str, port: int) -> None:
    import asyncio

    import uvicorn

    size = os.path.getsize(path)

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        f = await asyncio.to_thread(open, path, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, MiB):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            f.close()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="on")


# --- measurements ---


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> int:
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return rss_kib(pid, "VmRSS")


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def one_submission(client: httpx.Client, url: str, patient: str, content: object) -> float:
    from harness.wire import builder_without_repository_slots, provide

    builder = builder_without_repository_slots(patient)
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    started = time.perf_counter()
    reply = provide(client, url, builder, {entry_id: content})  # type: ignore[dict-item]
    elapsed = time.perf_counter() - started
    if reply.status != "Success":
        raise RuntimeError(f"ITI-41 failed: {reply.error_codes}")
    return elapsed


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_submissions(url: str, patient: str, total: int, clients: int, pids: dict[str, int]) -> dict[str, float]:
    from harness.wire import Content

    content = Content.of(os.urandom(1024))
    with httpx.Client(timeout=60) as client:
        for _ in range(20):  # warm-up: connections, SQLite pages, code paths
            one_submission(client, url, patient, content)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        latencies = [one_submission(client, url, patient, content) for _ in range(max(50, total // 4))]
        cpu_ms = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / len(latencies) for name, pid in pids.items()}
    results: list[float] = []
    lock = threading.Lock()
    per_client = total // clients

    def worker() -> None:
        with httpx.Client(timeout=60) as c:
            mine = [one_submission(c, url, patient, content) for _ in range(per_client)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        **{f"cpu_ms_{name}": value for name, value in cpu_ms.items()},
        "sequential_per_s": 1 / statistics.mean(latencies),
        "sequential_p50_ms": statistics.median(latencies) * 1000,
        "concurrent_per_s": len(results) / elapsed,
        "concurrent_p95_ms": sorted(results)[int(len(results) * 0.95)] * 1000,
    }


def timed_download(client: httpx.Client, method: str, url: str, **kw: object) -> tuple[float, int, str]:
    sha, size = hashlib.sha1(), 0
    started = time.perf_counter()
    with client.stream(method, url, **kw) as response:  # type: ignore[arg-type]
        for chunk in response.iter_raw(MiB):
            sha.update(chunk)
            size += len(chunk)
    return time.perf_counter() - started, size, sha.hexdigest()


def bench_retrieve(repo_url: str, repo_id: str, patient: str, blob_root: Path, size: int, rounds: int) -> dict[str, float]:
    from harness.pgserver import free_port
    from harness.services import wait_port
    from harness.wire import (
        Content,
        builder_without_repository_slots,
        provide,
        retrieve_element,
        retrieve_streaming,
        simple_request,
    )
    from xdscore.vocabulary import Action

    content = Content.generated(size, seed=50)
    builder = builder_without_repository_slots(patient)
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    uid = next(e.value for o in builder.objects if o.tag == "ExtrinsicObject" for e in o.external_identifiers if e.scheme.endswith("2e82c1f6-a085-4c72-9da3-8640a32e42ab"))
    content_type, request = simple_request(retrieve_element((repo_id, uid)), Action.RETRIEVE)
    with httpx.Client(timeout=300) as client:
        assert provide(client, repo_url, builder, {entry_id: content}).status == "Success"
        iti43, iti43_raw = [], []
        for _ in range(rounds + 1):
            started = time.perf_counter()
            status, got, sha1 = retrieve_streaming(client, repo_url, repo_id, uid)
            iti43.append(time.perf_counter() - started)
            assert (status, got, sha1) == ("Success", size, content.sha1), (status, got)
            # the same exchange, the client only hashing what arrives (as the plain client does)
            elapsed, body_size, _ = timed_download(client, "POST", repo_url, content=request, headers={"content-type": content_type})
            assert body_size > size
            iti43_raw.append(elapsed)
    blob = blob_root / "blobs" / content.sha1[:2] / content.sha1
    port = free_port()
    log = blob_root / "plain.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bench.repository", "plain", str(blob), str(port)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc, log)
        plain = []
        with httpx.Client(timeout=300) as client:
            for _ in range(rounds + 1):
                elapsed, got, sha1 = timed_download(client, "GET", f"http://127.0.0.1:{port}/")
                assert (got, sha1) == (size, content.sha1)
                plain.append(elapsed)
    finally:
        proc.terminate()
        proc.wait(10)
    # the first round warms the page cache and the connection pool; medians resist the noisy neighbours
    med_full, med_raw, med_plain = (statistics.median(x[1:]) for x in (iti43, iti43_raw, plain))
    return {
        "iti43_mb_s": size / med_full / 1e6,
        "iti43_raw_mb_s": size / med_raw / 1e6,
        "plain_mb_s": size / med_plain / 1e6,
        "ratio": med_plain / med_raw,  # ITI-43 speed / plain speed, both clients only hashing
        "ratio_full": med_plain / med_full,
    }


def bench_memory(repo_url: str, repo_id: str, pid: int, patient: str, size: int) -> dict[str, float]:
    from harness.wire import (
        Content,
        builder_without_repository_slots,
        provide,
        retrieve_streaming,
    )

    content = Content.generated(size, seed=200)
    builder = builder_without_repository_slots(patient)
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    uid = next(e.value for o in builder.objects if o.tag == "ExtrinsicObject" for e in o.external_identifiers if e.scheme.endswith("2e82c1f6-a085-4c72-9da3-8640a32e42ab"))
    with httpx.Client(timeout=600) as client:
        base_up = reset_peak(pid)
        started = time.perf_counter()
        assert provide(client, repo_url, builder, {entry_id: content}).status == "Success"
        up_s = time.perf_counter() - started
        peak_up = rss_kib(pid, "VmHWM")
        base_down = reset_peak(pid)
        started = time.perf_counter()
        status, got, sha1 = retrieve_streaming(client, repo_url, repo_id, uid)
        down_s = time.perf_counter() - started
        peak_down = rss_kib(pid, "VmHWM")
    assert (status, got, sha1) == ("Success", size, content.sha1)
    return {
        "rss_before_mib": base_up / 1024,
        "upload_growth_mib": (peak_up - base_up) / 1024,
        "download_growth_mib": (peak_down - base_down) / 1024,
        "upload_mb_s": size / up_s / 1e6,
        "download_mb_s": size / down_s / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=400, help="ITI-41 submissions in the concurrent run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent ITI-41 clients")
    parser.add_argument("--retrieve-mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7, help="ITI-43 and plain downloads (plus one warm-up)")
    parser.add_argument("--memory-mb", type=int, default=200)
    args = parser.parse_args(argv)

    from harness.builders import new_patient_id
    from harness.services import feed_patient, start_registry, start_repository

    with tempfile.TemporaryDirectory(prefix="bench-repository-") as tmp:
        registry = start_registry(Path(tmp) / "registry")
        repository = start_repository(Path(tmp) / "repository", registry.url)
        repo_id = "1.19.6.24.109.42.1"
        try:
            patient = new_patient_id()
            assert "MSA|AA" in feed_patient(registry.feed_port, patient)
            print(f"# bench/repository.py  {dt.datetime.now().isoformat(timespec='seconds')}")
            print(f"# {machine()}")
            print("# registry and repository: one uvicorn process each (httptools, no access log), SQLite; client in a third process")
            pids = {"repository": repository.process.pid, "registry": registry.process.pid}
            sub = bench_submissions(repository.url, patient, args.submissions, args.clients, pids)
            print(f"ITI-41 1 KB, sequential:          {sub['sequential_per_s']:7.0f} submissions/s  (p50 {sub['sequential_p50_ms']:.1f} ms; "
                  f"CPU per submission: repository {sub['cpu_ms_repository']:.1f} ms, registry {sub['cpu_ms_registry']:.1f} ms)")
            print(f"ITI-41 1 KB, {args.clients} clients:           {sub['concurrent_per_s']:7.0f} submissions/s  (p95 {sub['concurrent_p95_ms']:.1f} ms)")
            ret = bench_retrieve(repository.url, repo_id, patient, repository.data_dir / "repository", args.retrieve_mb * MiB, args.rounds)
            print(f"ITI-43 {args.retrieve_mb} MB, client hashing:    {ret['iti43_raw_mb_s']:7.0f} MB/s   (median of {args.rounds})")
            print(f"plain HTTP GET of the same bytes: {ret['plain_mb_s']:7.0f} MB/s   -> ITI-43 / plain = {ret['ratio']:.2f}")
            print(f"ITI-43 {args.retrieve_mb} MB, client parsing MTOM: {ret['iti43_mb_s']:5.0f} MB/s   (-> / plain = {ret['ratio_full']:.2f})")
            mem = bench_memory(repository.url, repo_id, repository.process.pid, patient, args.memory_mb * MiB)
            print(f"{args.memory_mb} MB ITI-41 upload:              {mem['upload_mb_s']:7.0f} MB/s, repository peak RSS +{mem['upload_growth_mib']:.1f} MiB (from {mem['rss_before_mib']:.0f} MiB)")
            print(f"{args.memory_mb} MB ITI-43 download:            {mem['download_mb_s']:7.0f} MB/s, repository peak RSS +{mem['download_growth_mib']:.1f} MiB")
        finally:
            repository.stop()
            registry.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "plain":
        plain_server(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(main())
