"""The whole chain on real sockets: builders → sender (TLS with client certificate, UDP) → sink → store → API."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from audit.config import AuditSettings
from audit.service import Sink
from harness.pgserver import free_port
from tests.audit.conftest import PATIENT, ROOT, doctor, facts
from xdscore import audit_events as ae
from xdscore import syslog
from xdsservice.audit_sender import AuditSender, AuditSenderSettings
from xdsservice.config import load_settings

T = ae.Transaction


def sink_settings(tmp_path: Path, pki, **changes: object) -> AuditSettings:
    values: dict[str, object] = {
        "tls_port": free_port(), "udp_port": free_port(), "http_port": free_port(), "data_dir": str(tmp_path / "audit"),
        "tls_cert": str(pki.sink_cert), "tls_key": str(pki.sink_key), "tls_client_ca": str(pki.ca),
        "tls_client_auth": "required",
    }
    values.update(changes)
    return AuditSettings(**values).resolved({})  # type: ignore[arg-type]


def sender_for(sink: Sink, tmp_path: Path, pki, transport: str = "tls", name: str = "xds-registry") -> AuditSender:
    assert sink.receiver is not None
    port = sink.receiver.tls_port if transport == "tls" else sink.receiver.udp_port
    settings = AuditSenderSettings(
        transport=transport, host="127.0.0.1", port=port, app_name=name, spool_dir=str(tmp_path / f"spool-{name}"),
        tls_ca=str(pki.ca), tls_cert=str(pki.client_cert), tls_key=str(pki.client_key),
        retry_initial_seconds=0.02, retry_max_seconds=0.2,
    ).resolved({})
    return AuditSender(settings)


async def stored(sink: Sink, count: int, within: float = 10.0) -> None:
    assert sink.store is not None and sink.receiver is not None
    deadline = time.monotonic() + within
    while sink.store.counts()["events"] + sink.store.counts()["rejected"] < count:
        assert time.monotonic() < deadline, f"{sink.store.counts()} after {within}s, expected {count}"
        await asyncio.sleep(0.02)
    await sink.receiver.drained()


async def api(sink: Sink, path: str, **params: str) -> dict:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sink.http_port}") as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


# transaction, principal, expected (EventID, action, outcome) per message
CASES = [
    (T.ITI_41, None, [("110107", "C", 0)]),
    (T.ITI_42, None, [("110107", "C", 0)]),
    (T.ITI_57, doctor(), [("110107", "U", 0)]),
    (T.ITI_18, doctor(), [("110112", "E", 0)]),
    (T.ITI_43, doctor("bris_de_glace"), [("110106", "R", 0), ("110106", "R", 8)]),
    (T.ITI_8, None, [("110110", "D", 0), ("110110", "U", 0)]),
]


async def test_each_transaction_is_stored_with_its_codes_and_participants(tmp_path, pki):
    async with Sink(sink_settings(tmp_path, pki)) as sink:
        sender = sender_for(sink, tmp_path, pki)
        try:
            for transaction, principal, _ in CASES:
                changes: dict[str, object] = {"principal": principal}
                if transaction is T.ITI_43:
                    changes["documents"] = (ae.DocumentRef("1.2.3.1", "1.2.3"), ae.DocumentRef("1.2.3.9", "1.2.3", retrieved=False))
                if transaction is T.ITI_8:
                    changes["hl7"] = ae.Hl7Event("A40", "MSG-7", prior_patient_id="old^^^&1.2.250.1.213.1.4.8&ISO")
                sender.emit_all(ae.build(facts(transaction, **changes)))
            assert await asyncio.to_thread(sender.flush, 10)
        finally:
            sender.close()
        await stored(sink, 8)
        for transaction, principal, expected in CASES:
            events = (await api(sink, "/events", event_type=transaction.value))["events"]
            assert sorted((e["event_id"], e["event_action"], e["outcome"]) for e in events) == sorted(expected)
            for event in events:
                assert event["transport"] == "tls"
                assert "xds-registry node" in event["peer_certificate"]
                assert event["syslog_app_name"] == "xds-registry"
                if principal is not None:
                    assert (event["user_id"], event["user_name"]) == (principal.audit_user_id, "DUPONT Jean")
                    assert event["organisation"] == "CH Exemple"
                    assert event["access_mode"] == principal.access_mode
                else:
                    assert event["user_id"] == facts(transaction).client.user_id
        trace = (await api(sink, f"/patients/{quote(PATIENT, safe='')}/accesses"))["accesses"]
        assert len(trace) == 7  # every message but the A40 delete of the old id
        emergency = [a for a in trace if a["access_mode"] == "bris_de_glace"]
        # same event time: newest id first, and the missing document is not reported as read
        assert [(a["transaction"], a["outcome"], [d["document_unique_id"] for d in a["documents"]]) for a in emergency] \
            == [("ITI-43", 8, ["1.2.3.9"]), ("ITI-43", 0, ["1.2.3.1"])]


async def test_udp_events_are_stored(tmp_path, pki):
    async with Sink(sink_settings(tmp_path, pki)) as sink:
        sender = sender_for(sink, tmp_path, pki, transport="udp")
        try:
            for n in range(10):
                sender.emit_all(ae.build(facts(T.ITI_18, principal=doctor(), patient_ids=(f"{n}^^^&1.2&ISO",))))
            assert await asyncio.to_thread(sender.flush, 10)
        finally:
            sender.close()
        await stored(sink, 10)
        events = (await api(sink, "/events", event_type="ITI-18"))["events"]
        assert sorted(e["patient_ids"][0] for e in events) == sorted(f"{n}^^^&1.2&ISO" for n in range(10))
        assert {e["transport"] for e in events} == {"udp"}


async def test_sink_restart_loses_nothing_and_stores_nothing_twice(tmp_path, pki):
    settings = sink_settings(tmp_path, pki)
    sink = Sink(settings)
    await sink.start()
    sender = sender_for(sink, tmp_path, pki)
    try:
        sender.emit_all(ae.build(facts(T.ITI_42, submission_set_unique_id="1.9.0")))
        await stored(sink, 1)
        await sink.stop()
        for n in range(1, 101):
            sender.emit_all(ae.build(facts(T.ITI_42, submission_set_unique_id=f"1.9.{n}")))
        await asyncio.sleep(0.3)
        assert sender.pending() == 100
        sink = Sink(settings)  # same ports, same database
        await sink.start()
        assert await asyncio.to_thread(sender.flush, 20)
        await stored(sink, 101)
        await asyncio.sleep(0.2)
        assert sink.store.counts() == {"events": 101, "rejected": 0}
        events = (await api(sink, "/events", limit="1000"))["events"]
        assert sorted(e["submission_set_id"] for e in events) == sorted(f"1.9.{n}" for n in range(101))
    finally:
        sender.close()
        await sink.stop()


def tls_client(pki, port: int, with_certificate: bool = True) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if with_certificate:
        context.load_cert_chain(pki.client_cert, pki.client_key)
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1")


async def test_malformed_input_is_rejected_and_the_listeners_keep_serving(tmp_path, pki):
    async with Sink(sink_settings(tmp_path, pki)) as sink:
        good = syslog.encode(syslog.atna_message(ae.build(facts(T.ITI_42))[0], "2026-01-15T10:30:00.000001Z", "h", "a", "1"))
        bad_xml = syslog.encode(syslog.atna_message(b"<AuditMessage><oops>", "2026-01-15T10:30:00Z", "h", "a", "1"))

        def send_tls() -> None:
            with tls_client(pki, sink.receiver.tls_port) as s:
                s.sendall(b"this is no frame " + syslog.frame(b"<85>1 not really syslog") + syslog.frame(bad_xml)
                          + syslog.frame(good) + b"99 <85>1 - - - - - - truncated")
                s.shutdown(socket.SHUT_WR)  # then wait for the sink to close: no reset, nothing lost in flight
                while s.recv(4096):
                    pass

        await asyncio.to_thread(send_tls)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"\x00\x01 binary junk", ("127.0.0.1", sink.receiver.udp_port))
        udp.close()
        await stored(sink, 6)
        reasons = sorted(r["reason"] for r in (await api(sink, "/rejected"))["rejected"])
        assert len(reasons) == 5
        assert any("no octet-count length prefix" in r for r in reasons)
        assert any("not an RFC 5424" in r for r in reasons)
        assert any("not well-formed" in r for r in reasons)
        assert any("connection closed inside a frame (30 bytes)" in r for r in reasons)
        assert sink.store.counts()["events"] == 1
        # still serving
        sender = sender_for(sink, tmp_path, pki)
        try:
            sender.emit_all(ae.build(facts(T.ITI_57)))
            assert await asyncio.to_thread(sender.flush, 10)
        finally:
            sender.close()
        await stored(sink, 7)
        assert sink.store.counts()["events"] == 2


async def test_client_without_certificate_is_refused_when_required(tmp_path, pki):
    async with Sink(sink_settings(tmp_path, pki)) as sink:
        message = syslog.frame(syslog.encode(syslog.atna_message(ae.build(facts(T.ITI_42))[0], "2026-01-15T10:30:00Z",
                                                                  "h", "a", "1")))

        def anonymous() -> None:
            try:
                with tls_client(pki, sink.receiver.tls_port, with_certificate=False) as s:
                    s.sendall(message)
                    s.recv(1)
            except (OSError, ssl.SSLError):
                pass

        await asyncio.to_thread(anonymous)
        await asyncio.sleep(0.3)
        assert sink.store.counts() == {"events": 0, "rejected": 0}


async def test_dev_certificate_is_made_on_first_start_and_trusted_by_local_senders(tmp_path, empty_config):
    data = tmp_path / "data"
    env = {"XDS_DATA_DIR": str(data), "XDS_CONFIG": empty_config}
    settings = AuditSettings.load(env, tls_port=free_port(), udp_port=free_port(), http_enabled=False)
    assert settings.data_dir == str(data / "audit") and settings.tls_client_auth == "optional"
    async with Sink(settings) as sink:
        assert (data / "audit" / "tls" / "sink-cert.pem").exists()
        sender = AuditSender(load_settings(AuditSenderSettings, "repository", env, port=sink.receiver.tls_port,
                                                      retry_initial_seconds=0.02))
        try:
            sender.emit_all(ae.build(facts(T.ITI_41)))
            assert await asyncio.to_thread(sender.flush, 10), sender.last_error
        finally:
            sender.close()
        await stored(sink, 1)
        assert (data / "audit-spool" / "xds-repository" / "spool.db").exists()


def test_python_m_audit_serve_and_accesses(tmp_path, empty_config):
    """What `make run` starts: defaults under $XDS_DATA_DIR, stops cleanly on SIGTERM; then the CLI reads."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}  # none of the developer's settings
    env = {**inherited, "XDS_DATA_DIR": str(tmp_path), "XDS_CONFIG": empty_config, "PYTHONPATH": str(ROOT),
           "XDS_AUDIT_TLS_PORT": str(free_port()), "XDS_AUDIT_UDP_PORT": str(free_port()),
           "XDS_AUDIT_HTTP_PORT": str(free_port())}
    server = subprocess.Popen([sys.executable, "-m", "audit", "serve"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{env['XDS_AUDIT_HTTP_PORT']}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "audit sink did not start"
                time.sleep(0.1)
        assert {k: health[k] for k in ("status", "events", "rejected")} == {"status": "ok", "events": 0, "rejected": 0}
        assert health["writer"]["backlog"] == 0 and not health["writer"]["stalled"]
        sender = AuditSender(load_settings(AuditSenderSettings, "registry", env, port=int(env["XDS_AUDIT_TLS_PORT"]),
                                                      retry_initial_seconds=0.02))
        try:
            sender.emit_all(ae.build(facts(T.ITI_43, principal=doctor("centre_15"))))
            assert sender.flush(10), sender.last_error
        finally:
            sender.close()
        deadline = time.monotonic() + 10
        while httpx.get(f"http://127.0.0.1:{env['XDS_AUDIT_HTTP_PORT']}/health").json()["events"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output
    assert "audit record repository stopping" in output
    cli = subprocess.run([sys.executable, "-m", "audit", "accesses", PATIENT], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0, cli.stderr
    assert "ITI-43" in cli.stdout and "mode=centre_15" in cli.stdout and "user=DUPONT Jean" in cli.stdout
    assert "org=CH Exemple" in cli.stdout and "docs=[1.2.250.1.999.2.1]" in cli.stdout
