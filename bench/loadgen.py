"""A small keep-alive HTTP/1.1 load generator for the benchmarks (asyncio streams, no client library).

`run(host, port, path, make_request, seconds|count, connections)` posts SOAP bodies produced by
`make_request(i) -> (content_type, body)` over `connections` persistent connections and returns every
latency, and the generator's own CPU (`LoadResult.cpu`: printed beside the services', since it shares
their cores). A client library (httpx, requests) costs more CPU than the server on this 2-core machine, which
would measure the client; raw streams keep the generator cheap.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvloop

Request = Callable[[int], tuple[str, bytes]]


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds
    errors: int = 0
    elapsed: float = 0.0
    bytes_received: int = 0
    cpu: float = 0.0  # seconds of this process's CPU (the generator's own: a deployment's clients run elsewhere)

    @property
    def cpu_ms_per_request(self) -> float:
        done = len(self.latencies) + self.errors
        return self.cpu * 1000 / done if done else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def summary(self) -> str:
        mean = statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")
        return (f"{self.rate:,.0f}/s  mean {mean:.1f} ms  p50 {self.percentile(50):.1f}  p95 {self.percentile(95):.1f}  "
                f"p99 {self.percentile(99):.1f} ms  errors {self.errors}  (load generator CPU "
                f"{self.cpu_ms_per_request:.2f} ms per request)")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _worker(host: str, port: int, path: str, make: Request, counter: itertools.count, limit: int | None,
                  stop_at: float, result: LoadResult, check: Callable[[bytes], bool] | None) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            i = next(counter)
            if limit is not None and i >= limit:
                return
            ctype, body = make(i)
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
            t0 = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status, payload = await _read_response(reader)
            dt = time.perf_counter() - t0
            result.bytes_received += len(payload)
            if status != 200 or (check is not None and not check(payload)):
                result.errors += 1
            else:
                result.latencies.append(dt)
    finally:
        writer.close()


async def run_async(host: str, port: int, path: str, make: Request, *, seconds: float = 10.0,
                    count: int | None = None, connections: int = 8,
                    check: Callable[[bytes], bool] | None = None) -> LoadResult:
    result = LoadResult()
    counter = itertools.count()
    start, cpu = time.perf_counter(), time.process_time()
    stop_at = start + (seconds if count is None else 1e9)
    await asyncio.gather(*[
        _worker(host, port, path, make, counter, count, stop_at, result, check) for _ in range(connections)
    ])
    result.elapsed = time.perf_counter() - start
    result.cpu = time.process_time() - cpu
    return result


def run(host: str, port: int, path: str, make: Request, **kw: object) -> LoadResult:
    """On uvloop, as the services run: the generator shares their two cores, so its CPU is kept small."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run_async(host, port, path, make, **kw))  # type: ignore[arg-type]


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process (Linux): its peak resident set size."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> str:
    import os
    import platform

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {cpu}"
