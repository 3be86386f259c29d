"""Document Repository benchmark: ITI-41 throughput, ITI-43 streaming speed beside two floors, memory.

Starts the real registry and the real repository as separate processes on free ports (uvicorn,
httptools, no access log; SQLite in a temporary folder), with audit sending on to an audit sink beside
them (as `make run` has it), feeds one patient over MLLP, then measures:

1. ITI-41 of 1 KB documents, a different document (and uniqueIds) in every submission, so each one is
   hashed and stored durably (a 1 KB document is kept in the repository's store, committed with its row;
   `inline_max_bytes`; content-addressed: the same bytes twice are stored once): N keep-alive connections
   (`bench.loadgen`) for a fixed time. Success means the document is on disk and registered. The stored
   contents (blob files and bytes kept in the store) are counted afterwards (one per document) and the CPU
   per submission of each process is read from /proc.
2. ITI-43 of one 50 MB document, read with a raw socket client (recv_into a buffer, no parsing, no
   hashing: the client is never the bottleneck), alternating, in the same run, with two floors that
   serve the same blob file over loopback: a plain uvicorn app reading it in 1 MiB chunks on its loop,
   and `sendfile(2)` (the kernel copies the file to the socket). The document's SHA-1 is checked once,
   outside the timed runs.
3. Peak RSS growth of the repository process during a 200 MB ITI-41 upload and a 200 MB ITI-43
   download (VmHWM reset through /proc/PID/clear_refs before each; target: under 32 MB).

Run from the project root:  .venv/bin/python -m bench.repository [--seconds 10] [--clients 16]
The machine may be shared with other work: figures are noisy; rerun on a quiet machine for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import machine, run  # noqa: E402
from bench.register import cpu_seconds  # noqa: E402

MiB = 1024 * 1024
SUCCESS = b"ResponseStatusType:Success"
REPOSITORY_UNIQUE_ID = "1.19.6.24.109.42.1"


# --- the two floors (each in a subprocess: `python -m bench.repository plain|sendfile FILE PORT`) ---


def plain_server(path: str, port: int) -> None:
    """uvicorn serving the file in 1 MiB reads made on the loop (page cache: no thread hop needed)."""
    import uvicorn

    size = os.path.getsize(path)

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with open(path, "rb") as f:  # noqa: ASYNC230 - the floor reads the page cache on its loop, on purpose
            while chunk := f.read(MiB):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="off")


def sendfile_server(path: str, port: int) -> None:
    """A minimal HTTP/1.1 server answering every request with the file through sendfile(2)."""
    size = os.path.getsize(path)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n".encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in request.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                writer.write(head)
                await writer.drain()
                with open(path, "rb") as f:  # noqa: ASYNC230 - opening a cached file takes microseconds
                    await loop.sendfile(writer.transport, f)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- clients ---


def raw_download(port: int, request: bytes) -> tuple[float, int]:
    """One exchange on a fresh connection with a raw socket: (seconds, body bytes). Nothing is parsed but
    the response head, nothing is kept: the bytes land in one reused buffer."""
    buffer = bytearray(4 * MiB)
    view = memoryview(buffer)
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MiB)
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        got = len(rest)
        while got < length:
            n = sock.recv_into(view)
            if n == 0:
                raise ConnectionError(f"closed after {got} of {length} bytes")
            got += n
    return time.perf_counter() - started, got


def http_request(method: str, path: str, port: int, content_type: str = "", body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if body:
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


class Submissions:
    """ITI-41 bodies of `documents` 1 KB documents each: every document different, every uniqueId fresh,
    made from one MTOM template (cheap to make thousands)."""

    def __init__(self, patient: str, documents: int = 1) -> None:
        from harness.wire import Content, builder_without_repository_slots, mtom_request, pnr_element
        from xdscore.vocabulary import UUID, Action

        builder = builder_without_repository_slots(patient, documents=documents)
        entries = [o for o in builder.objects if o.tag == "ExtrinsicObject"]
        # 1024 bytes each, replaced below; distinct so each part of the template is found once
        markers = [(b"\x00DOC%03d\x00" % n) * 128 for n in range(documents)]
        body, parts = pnr_element(builder, {e.id: Content.of(m) for e, m in zip(entries, markers, strict=True)})
        encoded = mtom_request(body, parts, Action.PROVIDE_AND_REGISTER)
        template = b"".join(encoded.chunks)
        schemes = (UUID.SS_UNIQUE_ID, UUID.DE_UNIQUE_ID)
        uids = [e.value for o in (builder.objects[0], *entries) for e in o.external_identifiers if e.scheme in schemes]
        holes: list[bytes] = [*(f'value="{u}"'.encode() for u in uids), *markers]
        pieces = [template]
        for hole in holes:  # split the template at each hole, in the order the holes come in it
            found = [i for i, p in enumerate(pieces) if hole in p]
            assert len(found) == 1 and pieces[found[0]].count(hole) == 1, hole
            head, tail = pieces[found[0]].split(hole)
            pieces[found[0]:found[0] + 1] = [head, tail]
        order = sorted(range(len(holes)), key=lambda h: template.index(holes[h]))
        self.kinds = ["uid" if h < len(uids) else "doc" for h in order]
        self.pieces = pieces
        self.documents = documents
        self.content_type = encoded.content_type
        self.stamp = f"1.2.250.{os.getpid()}.{int(time.time())}"
        self.serial = itertools.count()

    def take(self, n: int) -> list[bytes]:
        out = []
        for _ in range(n):
            i = next(self.serial)
            fill: list[bytes] = [self.pieces[0]]
            for k, (kind, piece) in enumerate(zip(self.kinds, self.pieces[1:], strict=True)):
                if kind == "uid":
                    fill.append(f'value="{self.stamp}.{k}.{i}"'.encode())
                else:
                    fill.append((f"document {i}.{k} ".encode() + os.urandom(512).hex().encode())[:1024].ljust(1024, b"."))
                fill.append(piece)
            out.append(b"".join(fill))
        return out


def blob_count(root: Path) -> int:
    """Documents' bytes stored: blob files, and the small documents' bytes kept in the SQLite store."""
    files = sum(1 for fan in (root / "blobs").iterdir() if fan.is_dir() for _ in fan.iterdir())
    with contextlib.closing(sqlite3.connect(f"file:{root / 'repository.db'}?mode=ro", uri=True)) as db:
        return files + int(db.execute("SELECT COUNT(*) FROM repository_content").fetchone()[0])


def bench_submissions(repository: object, registry: object, sink: object | None, patient: str, seconds: float,
                      clients: int, documents: int = 1) -> None:
    port = repository.ports["http"]  # type: ignore[attr-defined]
    blobs = repository.data_dir / "repository"  # type: ignore[attr-defined]
    subs = Submissions(patient, documents)
    warm = subs.take(100)
    run("127.0.0.1", port, "/xds/repository", lambda i: (subs.content_type, warm[i]), count=len(warm), connections=4,
        check=lambda b: SUCCESS in b)
    pids = {"repository": repository.process.pid, "registry": registry.process.pid}  # type: ignore[attr-defined]
    if sink is not None:
        pids["audit sink"] = sink.process.pid  # type: ignore[attr-defined]
    before_blobs = blob_count(blobs)
    batch = subs.take(int(seconds * 1500))
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run("127.0.0.1", port, "/xds/repository", lambda i: (subs.content_type, batch[i]), seconds=seconds,
                 connections=clients, check=lambda b: SUCCESS in b)
    done = len(result.latencies)
    per = ", ".join(f"{name} {(cpu_seconds(pid) - cpu[name]) * 1000 / max(1, done):.2f} ms" for name, pid in pids.items())
    per += f", load generator {result.cpu * 1000 / max(1, done):.2f} ms"
    written = blob_count(blobs) - before_blobs
    print(f"ITI-41 {documents} x 1 KB per submission, {clients} clients: {result.summary()}  "
          f"= {result.rate * documents:,.0f} documents/s", flush=True)
    print(f"  CPU per submission: {per}; contents stored (blob files + kept in the store): {written} for {done * documents} documents", flush=True)


def bench_retrieve(repository: object, patient: str, size: int, rounds: int, work: Path) -> None:
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
    from xdscore.vocabulary import UUID, Action

    url, port = repository.url, repository.ports["http"]  # type: ignore[attr-defined]
    content = Content.generated(size, seed=50)
    builder = builder_without_repository_slots(patient)
    entry = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
    uid = next(e.value for e in entry.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)
    with httpx.Client(timeout=300) as client:
        assert provide(client, url, builder, {entry.id: content}).status == "Success"
        assert retrieve_streaming(client, url, REPOSITORY_UNIQUE_ID, uid) == ("Success", size, content.sha1)
    content_type, body = simple_request(retrieve_element((REPOSITORY_UNIQUE_ID, uid)), Action.RETRIEVE)
    iti43 = http_request("POST", "/xds/repository", port, content_type, body)
    blob = repository.data_dir / "repository" / "blobs" / content.sha1[:2] / content.sha1  # type: ignore[attr-defined]
    floors = {}
    for kind in ("plain", "sendfile"):
        floor_port = free_port()
        log = work / f"{kind}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "bench.repository", kind, str(blob), str(floor_port)],
                                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        wait_port(floor_port, proc, log)
        floors[kind] = (proc, floor_port)
    times: dict[str, list[float]] = {"ITI-43": [], "plain": [], "sendfile": []}
    try:
        for n in range(rounds + 1):  # alternating; the first round warms caches and is not counted
            for name in times:
                if name == "ITI-43":
                    elapsed, got = raw_download(port, iti43)
                    assert got > size
                else:
                    elapsed, got = raw_download(floors[name][1], http_request("GET", "/", floors[name][1]))
                    assert got == size
                if n:
                    times[name].append(elapsed)
    finally:
        for proc, _ in floors.values():
            proc.terminate()
            proc.wait(10)
    mb_s = {name: size / statistics.median(t) / 1e6 for name, t in times.items()}
    print(f"ITI-43 {size // MiB} MiB, raw socket client: {mb_s['ITI-43']:7,.0f} MB/s   (median of {rounds}, alternating)")
    print(f"  plain uvicorn, same file:          {mb_s['plain']:7,.0f} MB/s   -> ITI-43 / plain    = {mb_s['ITI-43'] / mb_s['plain']:.2f}")
    print(f"  sendfile(2), same file:            {mb_s['sendfile']:7,.0f} MB/s   -> ITI-43 / sendfile = {mb_s['ITI-43'] / mb_s['sendfile']:.2f}",
          flush=True)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> int:
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return rss_kib(pid, "VmRSS")


def bench_memory(repository: object, patient: str, size: int) -> None:
    from harness.wire import Content, builder_without_repository_slots, provide, retrieve_streaming
    from xdscore.vocabulary import UUID

    url, pid = repository.url, repository.process.pid  # type: ignore[attr-defined]
    content = Content.generated(size, seed=200)
    builder = builder_without_repository_slots(patient)
    entry = next(o for o in builder.objects if o.tag == "ExtrinsicObject")
    uid = next(e.value for e in entry.external_identifiers if e.scheme == UUID.DE_UNIQUE_ID)
    with httpx.Client(timeout=600) as client:
        base_up = reset_peak(pid)
        started = time.perf_counter()
        assert provide(client, url, builder, {entry.id: content}).status == "Success"
        up_s = time.perf_counter() - started
        peak_up = rss_kib(pid, "VmHWM")
        base_down = reset_peak(pid)
        started = time.perf_counter()
        status, got, sha1 = retrieve_streaming(client, url, REPOSITORY_UNIQUE_ID, uid)
        down_s = time.perf_counter() - started
        peak_down = rss_kib(pid, "VmHWM")
    assert (status, got, sha1) == ("Success", size, content.sha1)
    mb = size // MiB
    print(f"{mb} MiB ITI-41 upload:   {size / up_s / 1e6:5,.0f} MB/s, repository peak RSS +{(peak_up - base_up) / 1024:.1f} MiB "
          f"(from {base_up / 1024:.0f} MiB)")
    print(f"{mb} MiB ITI-43 download: {size / down_s / 1e6:5,.0f} MB/s, repository peak RSS +{(peak_down - base_down) / 1024:.1f} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the ITI-41 run")
    parser.add_argument("--clients", type=int, default=16, help="concurrent ITI-41 connections")
    parser.add_argument("--documents", type=int, default=1, help="1 KB documents per ITI-41 submission")
    parser.add_argument("--retrieve-mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7, help="ITI-43 and floor downloads each (plus one warm-up)")
    parser.add_argument("--memory-mb", type=int, default=200)
    parser.add_argument("--audit", choices=("on", "off"), default="on", help="on: as `make run` has it")
    parser.add_argument("--skip", nargs="*", default=[], choices=("provide", "retrieve", "memory"))
    args = parser.parse_args(argv)

    from harness.builders import new_patient_id
    from harness.services import audit_sender_env, feed_patient, start_audit_sink, start_registry, start_repository

    with tempfile.TemporaryDirectory(prefix="bench-repository-") as tmp:
        work = Path(tmp)
        sink = start_audit_sink(work / "audit") if args.audit == "on" else None
        env = audit_sender_env(sink) if sink else {}
        registry = start_registry(work / "registry", env=env)
        repository = start_repository(work / "repository", registry.url, env=env)
        try:
            patient = new_patient_id()
            assert "MSA|AA" in feed_patient(registry.feed_port, patient)
            print(f"# bench/repository.py  {dt.datetime.now().isoformat(timespec='seconds')}")
            print(f"# {machine()}; load average {os.getloadavg()[0]:.1f} at start")
            print(f"# registry and repository: one uvicorn process each, SQLite (synchronous=FULL), audit {args.audit}")
            if "provide" not in args.skip:
                bench_submissions(repository, registry, sink, patient, args.seconds, args.clients, args.documents)
            if "retrieve" not in args.skip:
                bench_retrieve(repository, patient, args.retrieve_mb * MiB, args.rounds, work)
            if "memory" not in args.skip:
                bench_memory(repository, patient, args.memory_mb * MiB)
        finally:
            repository.stop()
            registry.stop()
            if sink is not None:
                sink.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("plain", "sendfile"):
        (plain_server if sys.argv[1] == "plain" else sendfile_server)(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(main())
