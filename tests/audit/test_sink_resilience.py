"""The running sink (`python -m audit serve`) against poison and stops (issue 18's shows).

- Every poison message of the corpus over UDP and over TLS, then 100 valid events: all 100 stored, the
  poison ones listed under /rejected, /health answering ok throughout.
- SIGTERM stops the sink within a few seconds in every state: idle, flooded, and with its database
  locked by someone else (the write loop stuck in a database call); what it held is kept in pending.db
  and stored at the next start, and acknowledged senders lose nothing and store nothing twice.
"""

from __future__ import annotations

import base64
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.services import Service, start_audit_sink
from tests.audit import poison
from tests.audit.conftest import facts
from xdscore import audit_events as ae
from xdsservice.audit_sender import AuditSender, AuditSenderSettings

T = ae.Transaction


def health(sink: Service) -> httpx.Response:
    return httpx.get(f"{sink.url}/health", timeout=5)


def wait_stored(sink: Service, total: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = health(sink).json()
        if body.get("events", 0) + body.get("rejected", 0) >= total:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def sender(sink: Service, tmp_path: Path, name: str = "xds-registry") -> AuditSender:
    settings = AuditSenderSettings(
        transport="tls", port=sink.ports["tls"], app_name=name, spool_dir=str(tmp_path / f"spool-{name}"),
        tls_ca=str(sink.data_dir / "audit" / "tls" / "sink-cert.pem"), retry_initial_seconds=0.05,
        retry_max_seconds=0.5, ack_timeout=5,
    ).resolved({})
    return AuditSender(settings)


def tls_frames(sink: Service, messages: list[bytes]) -> None:
    answer = poison.send_tls(sink.ports["tls"], sink.data_dir / "audit" / "tls" / "sink-cert.pem", messages)
    assert answer == b""  # a plain RFC 5425 client never gets acknowledgement bytes


def udp(sink: Service, messages: list[bytes]) -> None:
    poison.send_udp(sink.ports["udp"], messages)


def stop_timed(sink: Service) -> tuple[float, int, str]:
    """SIGTERM; seconds until the process ended, its exit code and its log."""
    started = time.monotonic()
    sink.process.send_signal(signal.SIGTERM)
    try:
        code = sink.process.wait(20)
    except Exception:
        sink.process.kill()
        raise
    return time.monotonic() - started, code, sink.log_text()


class HealthWatch:
    """Polls /health in the background; every answer is kept."""

    def __init__(self, sink: Service) -> None:
        self.sink, self.answers, self._stop = sink, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = health(self.sink)
                self.answers.append((r.status_code, r.json()["status"]))
            except httpx.HTTPError as exc:
                self.answers.append((0, str(exc)))
            time.sleep(0.05)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def sink(tmp_path) -> Iterator[Service]:
    service = start_audit_sink(tmp_path / "sink")
    yield service
    service.stop()


def test_poison_over_udp_and_tls_then_100_valid_events(sink, tmp_path):
    cases = poison.all_messages(start=1000)
    with HealthWatch(sink) as watch:
        udp(sink, list(cases.values()))
        tls_frames(sink, list(poison.all_messages(start=2000).values()))
        trail = sender(sink, tmp_path)
        try:
            for n in range(100):
                trail.emit_all(ae.build(facts(T.ITI_42, submission_set_unique_id=f"1.2.3.{n}")))
            assert trail.flush(30), trail.last_error  # flushed = acknowledged = stored
        finally:
            trail.close()
        body = wait_stored(sink, 100 + 2 * len(cases))
    assert (body["events"], body["rejected"]) == (100, 2 * len(cases))
    assert watch.answers and all(a == (200, "ok") for a in watch.answers), set(watch.answers)
    rejected = httpx.get(f"{sink.url}/rejected", params={"limit": "1000"}).json()["rejected"]
    listed = {(r["transport"], base64.b64decode(r["data_base64"])) for r in rejected}
    assert {("udp", m) for m in cases.values()} <= listed
    assert {("tls", m) for m in poison.all_messages(start=2000).values()} <= listed
    assert all(r["reason"] for r in rejected)
    events = httpx.get(f"{sink.url}/events", params={"limit": "1000", "event_type": "ITI-42"}).json()["events"]
    assert sorted(e["submission_set_id"] for e in events) == sorted(f"1.2.3.{n}" for n in range(100))


def test_sigterm_when_idle(sink):
    seconds, code, log = stop_timed(sink)
    assert code == 0 and seconds < 5, log


def test_sigterm_while_flooded_keeps_what_was_received(sink, tmp_path):
    messages = [poison.syslog_message(poison.VALID, n, app="flood") for n in range(20000)]
    flood = threading.Thread(target=udp, args=(sink, messages), daemon=True)
    flood.start()
    time.sleep(0.3)
    seconds, code, log = stop_timed(sink)
    flood.join(30)
    assert code == 0 and seconds < 8, log
    restarted = start_audit_sink(sink.data_dir, **{f"{k}_port": v for k, v in sink.ports.items()})
    try:
        deadline = time.monotonic() + 60
        while (body := health(restarted).json())["writer"]["backlog"] or not body["events"]:
            assert time.monotonic() < deadline, body  # what pending.db kept is being stored
            time.sleep(0.1)
        assert body["rejected"] == 0 and body["events"] > 0
    finally:
        restarted.stop()
    if "kept in" in log:  # the flood outran the grace period: pending.db took the rest, and it was stored
        assert "pending.db" in log


def test_sigterm_with_the_database_locked_then_restart_stores_everything_once(tmp_path):
    data = tmp_path / "sink"
    sink = start_audit_sink(data, env={"XDS_AUDIT_STALL_SECONDS": "1"})
    trail = sender(sink, tmp_path)
    locker = sqlite3.connect(data / "audit" / "audit.db", isolation_level=None, timeout=1)
    try:
        trail.emit_all(ae.build(facts(T.ITI_18, patient_ids=("0^^^&1.2&ISO",))))
        assert trail.flush(10), trail.last_error
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the database: the sink's inserts wait
        for n in range(1, 31):
            trail.emit_all(ae.build(facts(T.ITI_18, patient_ids=(f"{n}^^^&1.2&ISO",))))
        udp(sink, [poison.syslog_message(poison.VALID, n, app="udp") for n in range(10)])
        # the database does not answer: after SPOOL_AFTER the sink keeps what it holds and what arrives in
        # pending.db, durably, and acknowledges it (before: nothing was acknowledged until the lock went)
        assert trail.flush(20), trail.last_error
        deadline = time.monotonic() + 15
        while (r := health(sink)).json()["writer"]["pending_file"] < 40 or r.status_code == 200:
            assert time.monotonic() < deadline, r.json()  # turns unhealthy once storing stalls for 1 s
            time.sleep(0.1)
        assert r.status_code == 503 and r.json()["status"] == "stalled" and r.json()["writer"]["backlog"] == 40
        seconds, code, log = stop_timed(sink)
        assert code == 0 and seconds < 8, log
        assert "has not answered" in log and "pending.db" in log
    finally:
        locker.close()
        sink.stop()
    restarted = start_audit_sink(data, **{f"{k}_port": v for k, v in sink.ports.items()})
    try:
        assert trail.flush(30), trail.last_error
        body = wait_stored(restarted, 41)
        time.sleep(0.5)
        body = health(restarted).json()
        assert (body["status"], body["events"], body["rejected"]) == ("ok", 41, 0)
        assert not Path(data / "audit" / "pending.db").exists() or body["writer"]["backlog"] == 0
    finally:
        trail.close()
        restarted.stop()
