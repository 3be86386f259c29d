"""Issue 18: a sink whose database is down starts anyway, keeps what arrives (its pending file), says why on
/health, survives a stop in that state, and stores everything once the database is back: a throwaway
PostgreSQL cluster (harness.pgserver) stopped, then started again, under a running `python -m audit serve`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from harness.pgserver import PgServer
from harness.services import start_audit_sink
from tests.audit import poison
from tests.audit.conftest import facts
from tests.audit.test_sink_resilience import health, sender, stop_timed, udp, wait_stored
from xdscore import audit_events as ae

T = ae.Transaction


@pytest.fixture
def pg() -> Iterator[PgServer]:
    """A cluster of its own: this test stops it."""
    try:
        server = PgServer().start()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield server
    server.stop()


def wait_pending(sink, rows: int, timeout: float = 20) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (body := health(sink).json())["writer"]["pending_file"] < rows:
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    return body


def wait_settled(sink, total: int, timeout: float = 60) -> dict:  # type: ignore[no-untyped-def]
    """/health once `total` messages are stored and nothing is left to store (queue, batch, pending file)."""
    deadline = time.monotonic() + timeout
    while True:
        body = health(sink).json()
        if body.get("events", 0) + body.get("rejected", 0) >= total and not body["writer"]["backlog"]:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_a_sink_started_with_its_database_down_stores_everything_once_it_is_back(pg, tmp_path):
    url = pg.create_database("audit")
    pg.halt()
    data, env = tmp_path / "sink", {"XDS_AUDIT_DATABASE_URL": url, "XDS_AUDIT_STALL_SECONDS": "1"}
    sink = start_audit_sink(data, env=env)  # before: the sink exited, its migration could not connect
    trail = sender(sink, tmp_path)
    try:
        r = health(sink)
        assert r.status_code == 503 and r.json()["status"] == "database unavailable", r.json()
        assert "connect" in r.json()["database_error"].lower(), r.json()  # why: the database refuses connections
        for n in range(20):
            trail.emit_all(ae.build(facts(T.ITI_18, patient_ids=(f"{n}^^^&1.2.3&ISO",))))
        assert trail.flush(30), trail.last_error  # acknowledged: durably kept by the sink, in its pending file
        udp(sink, [poison.syslog_message(poison.VALID, n, app="udp") for n in range(10)])
        udp(sink, [poison.all_messages(start=500)["outcome 20 digits"]])
        body = wait_pending(sink, 31)
        assert body["status"] == "database unavailable" and body["writer"]["backlog"] == 31
        trace = httpx.get(f"{sink.url}/patients/{quote('3^^^&1.2.3&ISO', safe='')}/accesses", timeout=10)
        assert trace.status_code == 503 and "audit database unavailable" in trace.json()["error"]
        seconds, code, log = stop_timed(sink)  # SIGTERM during the outage
        assert code == 0 and seconds < 8, log
    finally:
        sink.stop()
    restarted = start_audit_sink(data, env=env, **{f"{k}_port": v for k, v in sink.ports.items()})
    try:
        udp(restarted, [poison.syslog_message(poison.VALID, n, app="after-restart") for n in range(10)])
        assert wait_pending(restarted, 41)["status"] == "database unavailable"
        pg.resume()
        body = wait_settled(restarted, 41)
        assert (body["status"], body["events"], body["rejected"]) == ("ok", 40, 1), body
        assert (body["writer"]["backlog"], body["writer"]["pending_file"]) == (0, 0)
        trace = httpx.get(f"{restarted.url}/patients/{quote('3^^^&1.2.3&ISO', safe='')}/accesses", timeout=10).json()
        assert [a["transaction"] for a in trace["accesses"]] == ["ITI-18"]
        trail.emit_all(ae.build(facts(T.ITI_18, patient_ids=("99^^^&1.2.3&ISO",))))
        assert trail.flush(30), trail.last_error
        assert wait_stored(restarted, 42)["events"] == 41
    finally:
        trail.close()
        restarted.stop()


def test_a_database_lost_while_running_sends_what_arrives_to_the_pending_file(pg, tmp_path):
    url = pg.create_database("audit")
    sink = start_audit_sink(tmp_path / "sink", env={"XDS_AUDIT_DATABASE_URL": url})
    trail = sender(sink, tmp_path)
    try:
        trail.emit_all(ae.build(facts(T.ITI_42)))
        assert trail.flush(30), trail.last_error
        assert wait_stored(sink, 1)["events"] == 1
        pg.halt()
        for n in range(30):
            trail.emit_all(ae.build(facts(T.ITI_18, patient_ids=(f"{n}^^^&1.2.3&ISO",))))
        assert trail.flush(40), trail.last_error  # kept durably by the sink while its database is away
        body = wait_pending(sink, 30, timeout=40)
        assert body["status"] == "database unavailable" and body["writer"]["last_error"], body
        pg.resume()
        body = wait_settled(sink, 31)
        assert (body["events"], body["rejected"], body["writer"]["pending_file"]) == (31, 0, 0), body
    finally:
        trail.close()
        sink.stop()
