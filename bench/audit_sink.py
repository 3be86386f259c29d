"""Audit record repository benchmark: audit messages stored per second over syslog TLS and over UDP.

Starts the real sink (`python -m audit serve`, SQLite in a temporary folder, its development certificate,
free ports) as a separate process, then measures, each time from the first byte sent until the sink's
`/health` counts every message as stored, and checks that the count stored equals the count sent:

1. TLS (RFC 5425): N distinct ITI-43 audit messages (a doctor's XUA identity, two documents; about 3 KB
   of syslog each) written as fast as possible on one connection.
2. TLS through the real `AuditSender`: the same N messages emitted into its on-disk spool (emit cost per
   message reported) and delivered by its background thread.
3. UDP (RFC 5426): the same messages, one datagram each, with at most a window of W (1000) datagrams not yet
   stored (UDP has no flow control: without a window the kernel drops what the sink cannot take yet,
   and the count received would not equal the count sent).

Run from the project root:  .venv/bin/python -m bench.audit_sink [--messages 20000] [--window 500]
The machine may be shared with other work: figures are noisy; rerun on a quiet machine for the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xdscore import audit_events as ae  # noqa: E402
from xdscore import syslog  # noqa: E402
from xdscore.principal import CodedValue, Principal  # noqa: E402
from xdsservice.audit_sender import AuditSender, AuditSenderSettings  # noqa: E402
from xdsservice.config import load_settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DOCTOR = Principal(
    subject_id="DUPONT Jean", name_id="810002345678", issuer="https://idp.ch-exemple.fr",
    organization="CH Exemple", organization_id="1.2.250.1.71.4.2.2|110000000",
    roles=(CodedValue("10", "1.2.250.1.213.1.1.4.5", "Médecin"),),
    purpose_of_use=(CodedValue("normal", ae.DMP_ACCESS_MODE_SYSTEM, "Accès normal"),),
)


def audit_messages(count: int, offset: int) -> list[bytes]:
    """`count` distinct ITI-43 AuditMessages (distinct patients and times)."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    out = []
    for n in range(offset, offset + count):
        facts = ae.AuditFacts(
            ae.Transaction.ITI_43, start + dt.timedelta(seconds=n), ae.EventOutcome.SUCCESS,
            ae.Node("http://www.w3.org/2005/08/addressing/anonymous", "10.1.2.3"),
            ae.Node("https://xds.example.org/repository", "xds.example.org", "4242"),
            ae.AuditSource("pyxds-repository"), principal=DOCTOR, patient_ids=(f"{n:09d}^^^&1.2.250.1.213.1.4.8&ISO",),
            documents=(ae.DocumentRef(f"1.2.250.1.999.2.{n}.1", "1.2.250.1.999.3"),
                       ae.DocumentRef(f"1.2.250.1.999.2.{n}.2", "1.2.250.1.999.3")),
        )
        out.extend(ae.build(facts))
    return out


def syslog_messages(xmls: list[bytes]) -> list[bytes]:
    base = dt.datetime.now(dt.UTC)
    return [
        syslog.encode(syslog.atna_message(xml, syslog.format_timestamp(base + dt.timedelta(microseconds=i)),
                                          "bench-host", "bench", "1"))
        for i, xml in enumerate(xmls)
    ]


class SinkProcess:
    def __init__(self, data_dir: Path) -> None:
        self.tls_port, self.udp_port, self.http_port = free_port(), free_port(), free_port()
        self.data_dir = data_dir
        env = {
            **os.environ, "XDS_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
            "XDS_AUDIT_TLS_PORT": str(self.tls_port), "XDS_AUDIT_UDP_PORT": str(self.udp_port),
            "XDS_AUDIT_HTTP_PORT": str(self.http_port),
        }
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "audit", "serve", "--log-level", "WARNING"], env=env, cwd=data_dir,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.http_port}", timeout=10)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.counts()
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the audit sink did not start") from None
                time.sleep(0.1)

    def counts(self) -> tuple[int, int]:
        health = self.http.get("/health").json()
        return int(health["events"]), int(health["rejected"])

    def wait_for(self, total: int, timeout: float = 120.0, poll: float = 0.05) -> float:
        """Wait until `total` events are stored; returns the monotonic time it was seen."""
        deadline = time.monotonic() + timeout
        while True:
            events, rejected = self.counts()
            if rejected:
                raise SystemExit(f"the sink rejected {rejected} message(s)")
            if events >= total:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise SystemExit(f"only {events} of {total} events stored after {timeout}s")
            time.sleep(poll)

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(30)


def bench_tls(sink: SinkProcess, frames: list[bytes], already: int) -> tuple[float, int]:
    context = ssl.create_default_context(cafile=str(sink.data_dir / "audit" / "tls" / "sink-cert.pem"))
    payload = b"".join(syslog.frame(f) for f in frames)
    with context.wrap_socket(socket.create_connection(("127.0.0.1", sink.tls_port)), server_hostname="127.0.0.1") as s:
        started = time.monotonic()
        s.sendall(payload)
        done = sink.wait_for(already + len(frames))
    return done - started, sink.counts()[0] - already


def bench_sender(sink: SinkProcess, xmls: list[bytes], already: int, spool: Path) -> tuple[float, float, int]:
    settings = load_settings(AuditSenderSettings, "bench-sender", sink.env, port=sink.tls_port, spool_dir=str(spool),
                                        batch_size=500)
    sender = AuditSender(settings)
    try:
        started = time.monotonic()
        for xml in xmls:
            sender.emit(xml)
        emitted = time.monotonic()
        done = sink.wait_for(already + len(xmls))
    finally:
        sender.close()
    return (emitted - started) / len(xmls), done - started, sink.counts()[0] - already


def bench_udp(sink: SinkProcess, frames: list[bytes], already: int, window: int) -> tuple[float, int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", sink.udp_port))
        started = time.monotonic()
        sent = 0
        while sent < len(frames):
            stored = sink.counts()[0] - already
            allowed = min(len(frames), stored + window)
            while sent < allowed:
                s.send(frames[sent])
                sent += 1
            time.sleep(0.02)  # each poll is a count(*) in the sink: poll gently
        done = sink.wait_for(already + len(frames), timeout=30)
    return done - started, sink.counts()[0] - already


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=1000, help="UDP datagrams in flight (sent, not yet stored)")
    args = parser.parse_args()
    n = args.messages
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()},"
          f" {platform.platform()}")
    print(f"building 3 x {n} distinct ITI-43 audit messages ...")
    xmls = audit_messages(3 * n, 0)
    tls_frames, sender_xmls, udp_frames = syslog_messages(xmls[:n]), xmls[n : 2 * n], syslog_messages(xmls[2 * n :])
    size = sum(len(f) for f in tls_frames) / n
    print(f"mean syslog message size: {size:.0f} bytes")
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        sink = SinkProcess(Path(tmp))
        try:
            seconds, stored = bench_tls(sink, tls_frames, 0)
            print(f"TLS, one connection:   {n} sent, {stored} stored in {seconds:.2f} s = {n / seconds:,.0f} messages/s"
                  f"  (received == sent: {stored == n})")
            emit, seconds, stored = bench_sender(sink, sender_xmls, n, Path(tmp) / "spool")
            print(f"TLS via AuditSender:   {n} emitted, {stored} stored in {seconds:.2f} s = {n / seconds:,.0f} messages/s"
                  f"  (received == sent: {stored == n}); emit() {emit * 1e6:.0f} us each")
            seconds, stored = bench_udp(sink, udp_frames, 2 * n, args.window)
            print(f"UDP, window {args.window}:     {n} sent, {stored} stored in {seconds:.2f} s = {n / seconds:,.0f} messages/s"
                  f"  (received == sent: {stored == n})")
        finally:
            sink.stop()


if __name__ == "__main__":
    main()
