"""The audit sender against real sockets: spool, background delivery, retries, TLS checks, UDP.

The bare collector is a plain RFC 5425 receiver, so these tests use `tls-plain`; the acknowledged `tls`
transport is tested against the real sink (test_acknowledged.py).
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest

from harness.pgserver import free_port
from tests.audit.collector import Collector
from tests.audit.conftest import facts
from xdscore import audit_events as ae
from xdscore import syslog
from xdsservice.audit_sender import AuditSender, AuditSenderSettings, Spool
from xdsservice.config import load_settings

T = ae.Transaction


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def settings(tmp_path: Path, port: int, **changes: object) -> AuditSenderSettings:
    values: dict[str, object] = {
        "transport": "tls-plain", "host": "127.0.0.1", "port": port, "app_name": "xds-test", "spool_dir": str(tmp_path / "spool"),
        "retry_initial_seconds": 0.02, "retry_max_seconds": 0.2, "connect_timeout": 2.0,
    }
    values.update(changes)
    return AuditSenderSettings(**values).resolved({"XDS_DATA_DIR": str(tmp_path / "data")})  # type: ignore[arg-type]


def message(n: int) -> bytes:
    (xml,) = ae.build(facts(T.ITI_42, submission_set_unique_id=f"1.2.250.1.999.7.{n}"))
    return xml


def submission_set_of(frame: bytes) -> str:
    xml = syslog.decode(frame).msg
    return xml.split(b'ParticipantObjectTypeCodeRole="20"')[0].rsplit(b'ParticipantObjectID="', 1)[1].split(b'"')[0].decode()


@pytest.fixture
def collector(pki):
    sink = Collector(server_context(pki.sink_cert, pki.sink_key), free_port())
    sink.start()
    yield sink
    sink.stop()


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_emitted_events_reach_the_sink_as_atna_syslog(tmp_path, pki, collector):
    sender = AuditSender(settings(tmp_path, collector.port, tls_ca=str(pki.ca)))
    try:
        sender.emit(message(1))
        sender.emit_all([message(2), message(3)])
        assert sender.flush(10)
    finally:
        sender.close()
    assert wait_until(lambda: len(collector.received()) == 3)
    decoded = [syslog.decode(f) for f in collector.received()]
    assert [submission_set_of(f) for f in collector.received()] == [f"1.2.250.1.999.7.{n}" for n in (1, 2, 3)]
    first = decoded[0]
    assert (first.pri, first.app_name, first.msgid, first.utf8) == (85, "xds-test", "IHE+RFC-3881", True)
    assert first.msg == message(1)
    assert first.hostname == socket.gethostname()


def test_sink_down_then_back_all_events_arrive_once(tmp_path, pki, collector):
    """The issue's proof: stop the sink, run 100 transactions, start it again: all 100 arrive, none twice."""
    sender = AuditSender(settings(tmp_path, collector.port, tls_ca=str(pki.ca)))
    try:
        sender.emit(message(0))
        assert sender.flush(10) and wait_until(lambda: len(collector.received()) == 1)
        collector.stop()  # the sink goes away while the sender holds a connection to it

        started = time.monotonic()
        for n in range(1, 101):
            sender.emit(message(n))
        emit_seconds = time.monotonic() - started
        assert emit_seconds < 5, "emit must not wait on the sink"
        assert not wait_until(lambda: sender.pending() == 0, timeout=0.5), "nothing can be delivered now"
        assert sender.last_error is not None

        collector.start()  # same port
        assert sender.flush(20)
    finally:
        sender.close()
    assert wait_until(lambda: len(collector.received()) == 101)
    time.sleep(0.2)  # anything sent twice would have arrived by now
    received = [submission_set_of(f) for f in collector.received()]
    assert len(received) == 101 and len(set(received)) == 101
    assert received == [f"1.2.250.1.999.7.{n}" for n in range(101)]  # and in order


def test_spooled_events_survive_a_process_restart(tmp_path, pki, collector):
    config = settings(tmp_path, collector.port, tls_ca=str(pki.ca))
    crashed = AuditSender(config, start=False)  # never got to deliver
    for n in range(5):
        crashed.emit(message(n))
    crashed.close()
    restarted = AuditSender(config)
    try:
        assert restarted.flush(10)
    finally:
        restarted.close()
    assert wait_until(lambda: len(collector.received()) == 5)


def test_a_sink_with_an_untrusted_certificate_gets_nothing(tmp_path, pki):
    rogue = Collector(server_context(pki.rogue_cert, pki.rogue_key), free_port())
    rogue.start()
    sender = AuditSender(settings(tmp_path, rogue.port, tls_ca=str(pki.ca)))
    try:
        sender.emit(message(1))
        assert not sender.flush(0.5)
        assert "CERTIFICATE_VERIFY_FAILED" in (sender.last_error or "")
        assert rogue.received() == []
    finally:
        sender.close()
        rogue.stop()


def test_client_certificate_for_a_sink_that_requires_one(tmp_path, pki):
    strict = Collector(server_context(pki.sink_cert, pki.sink_key, client_ca=pki.ca), free_port())
    strict.start()
    anonymous = AuditSender(settings(tmp_path / "a", strict.port, tls_ca=str(pki.ca)))
    identified = AuditSender(settings(tmp_path / "b", strict.port, tls_ca=str(pki.ca), tls_cert=str(pki.client_cert),
                                      tls_key=str(pki.client_key)))
    try:
        anonymous.emit(message(1))
        identified.emit(message(2))
        assert identified.flush(10)
        assert not anonymous.flush(0.5)
    finally:
        anonymous.close()
        identified.close()
        strict.stop()
    assert [submission_set_of(f) for f in strict.received()] == ["1.2.250.1.999.7.2"]


def test_udp_delivery_one_datagram_per_message(tmp_path):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    sender = AuditSender(settings(tmp_path, receiver.getsockname()[1], transport="udp"))
    try:
        for n in range(20):
            sender.emit(message(n))
        assert sender.flush(10)
        datagrams = [receiver.recv(65535) for _ in range(20)]
    finally:
        sender.close()
        receiver.close()
    assert [submission_set_of(d) for d in datagrams] == [f"1.2.250.1.999.7.{n}" for n in range(20)]


def test_udp_parks_a_record_too_long_for_a_datagram(tmp_path):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    sender = AuditSender(settings(tmp_path, receiver.getsockname()[1], transport="udp", max_udp_bytes=500))
    try:
        sender.emit(message(1))
        assert sender.flush(10)
        ((_, parked, reason),) = sender.spool.parked()
    finally:
        sender.close()
        receiver.close()
    assert syslog.decode(parked).msg == message(1)
    assert "do not fit a UDP datagram of 500" in reason


def test_transport_off_spools_nothing(tmp_path):
    sender = AuditSender(settings(tmp_path, 1, transport="off"))
    sender.emit(message(1))
    assert sender.pending() == 0
    sender.close()
    assert not (tmp_path / "spool").exists()


def test_emit_after_close_is_a_programming_error(tmp_path):
    sender = AuditSender(settings(tmp_path, 1), start=False)
    sender.close()
    with pytest.raises(RuntimeError, match="closed"):
        sender.emit(message(1))


def test_unknown_transport_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tls, tls-plain, udp, off"):
        AuditSender(settings(tmp_path, 1, transport="tcp"))


def test_spool_is_first_in_first_out(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    spool.put_many([b"a", b"b"])
    spool.put_many([b"c"])
    assert [m for _, m in spool.oldest(2)] == [b"a", b"b"]
    spool.delete([row for row, _ in spool.oldest(1)])
    assert [m for _, m in spool.oldest(10)] == [b"b", b"c"]
    assert spool.count() == 2
    spool.close()


def test_default_settings_follow_the_data_directory(tmp_path, empty_config):
    config = load_settings(AuditSenderSettings, "registry", {"XDS_DATA_DIR": str(tmp_path), "XDS_CONFIG": empty_config})
    assert (config.app_name, config.port, config.transport) == ("xds-registry", 6514, "tls")
    assert config.spool_dir == str(tmp_path / "audit-spool" / "xds-registry")
    assert config.dev_ca == str(tmp_path / "audit" / "tls" / "sink-cert.pem")
    udp = load_settings(
        AuditSenderSettings, "x", {"XDS_DATA_DIR": str(tmp_path), "XDS_AUDIT_SENDER_TRANSPORT": "udp", "XDS_CONFIG": empty_config}
    )
    assert udp.port == 5514


def test_the_spool_commits_with_the_projects_durability_policy(tmp_path: Path) -> None:
    """A spooled event must survive a power cut like any stored row (xdsservice.database): WAL with
    synchronous=FULL on the spool's own connection (NORMAL, as before, loses the last commits)."""
    spool = Spool(tmp_path / "spool.db")
    try:
        got = {p: spool._db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("journal_mode", "synchronous")}
    finally:
        spool.close()
    assert got == {"journal_mode": "wal", "synchronous": 2}


def test_only_the_delete_of_delivered_rows_skips_its_fsync(tmp_path: Path) -> None:
    """A delete lost to a power cut only sends its messages again (the sink drops repeats by digest), so it
    commits at NORMAL; the spool's connection is back at FULL for the next put_many, and what stays is intact."""
    spool = Spool(tmp_path / "spool.db")
    try:
        spool.put_many([b"a", b"b", b"c"])
        delivered = [row for row, _ in spool.oldest(2)]
        statements: list[str] = []
        spool._db.set_trace_callback(statements.append)
        spool.delete(delivered)
        spool._db.set_trace_callback(None)
        synchronous = spool._db.execute("PRAGMA synchronous").fetchone()[0]
        left = [m for _, m in spool.oldest(10)]
    finally:
        spool.close()
    delete = next(i for i, s in enumerate(statements) if s.startswith("DELETE"))
    assert statements[0] == "PRAGMA synchronous=NORMAL" and delete > 0
    assert statements[-1] == "PRAGMA synchronous=2"
    assert (synchronous, left) == (2, [b"c"])
