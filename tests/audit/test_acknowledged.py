"""Acknowledged TLS (xdscore.syslog_ack), the sender's default transport: a message leaves the spool only once the
sink has stored it; a sink that does not acknowledge gets nothing until told `tls-plain`."""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
import time
from dataclasses import replace

import pytest

from audit.service import Sink
from harness.pgserver import free_port
from tests.audit.collector import Collector
from tests.audit.conftest import facts
from tests.audit.test_integration import sender_for, sink_settings, tls_client
from xdscore import audit_events as ae
from xdscore import syslog_ack as ack
from xdsservice.audit_sender import AuditSender, AuditSenderSettings

T = ae.Transaction


def test_ack_lines_are_read_across_reads():
    reader = ack.AckReader()
    assert reader.feed(b"ack 1") == 0
    assert reader.feed(b"2\nack 3") == 12
    assert reader.feed(b"0\n") == 30
    assert ack.encode(30) == b"ack 30\n"


@pytest.mark.parametrize("data", [b"nack 1\n", b"ack -1\n", b"ack 1 2\n", b"x" * 40, b"ack " + b"9" * 30 + b"\n"])
def test_anything_but_an_ack_line_is_an_error(data):
    with pytest.raises(ack.AckError):
        ack.AckReader().feed(data)


async def test_flushed_means_stored(tmp_path, pki):
    async with Sink(sink_settings(tmp_path, pki)) as sink:
        sender = sender_for(sink, tmp_path, pki)
        assert sender.settings.transport == "tls"
        try:
            for n in range(300):  # more than a batch of the sender (200)
                sender.emit_all(ae.build(facts(T.ITI_42, submission_set_unique_id=f"1.5.{n}")))
            assert await asyncio.to_thread(sender.flush, 20), sender.last_error
            # no waiting for the sink here: the spool emptied only as the sink acknowledged its commits
            assert sink.store.counts() == {"events": 300, "rejected": 0}
        finally:
            sender.close()


async def test_a_stalled_sink_acknowledges_nothing_and_the_sender_keeps_everything(tmp_path, pki):
    settings = sink_settings(tmp_path, pki)
    async with Sink(settings) as sink:
        sender_settings = sender_for(sink, tmp_path, pki).settings
    # the same sink again, its database locked by another writer
    sink = Sink(settings)
    await sink.start()
    locker = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    sender = AuditSender(replace(sender_settings, ack_timeout=0.5))
    try:
        for n in range(5):
            sender.emit_all(ae.build(facts(T.ITI_42, submission_set_unique_id=f"1.6.{n}")))
        await asyncio.sleep(1.5)
        assert sender.pending() == 5 and "TimeoutError" in (sender.last_error or "")
        locker.execute("ROLLBACK")
        assert await asyncio.to_thread(sender.flush, 20), sender.last_error
        await sink.receiver.drained()
        assert sink.store.counts() == {"events": 5, "rejected": 0}  # resent after the time-outs, stored once
    finally:
        sender.close()
        locker.close()
        await sink.stop()


def test_a_sink_without_acknowledgements_gets_nothing_unless_told_tls_plain(tmp_path, pki):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.sink_cert, pki.sink_key)
    plain = Collector(context, free_port())
    plain.start()
    settings = AuditSenderSettings(
        transport="tls", port=plain.port, app_name="x", spool_dir=str(tmp_path / "spool"), tls_ca=str(pki.ca),
        retry_initial_seconds=0.05, retry_max_seconds=0.1,
    ).resolved({})
    sender = AuditSender(settings)
    try:
        sender.emit_all(ae.build(facts(T.ITI_42)))
        assert not sender.flush(1.0)
        assert plain.received() == [] and sender.pending() == 1
        assert "tls-plain" in (sender.last_error or "")
    finally:
        sender.close()
    sender = AuditSender(replace(settings, transport="tls-plain"))
    try:
        assert sender.flush(10), sender.last_error
        assert len(plain.received()) == 1
    finally:
        sender.close()
        plain.stop()


async def test_a_silent_tls_connection_is_closed_after_idle_timeout(tmp_path, pki):
    async with Sink(sink_settings(tmp_path, pki, idle_timeout=0.5)) as sink:
        def silent() -> tuple[float, bytes]:
            with tls_client(pki, sink.receiver.tls_port) as s:
                started = time.monotonic()
                s.settimeout(10)
                got = s.recv(10)
                return time.monotonic() - started, got

        waited, got = await asyncio.to_thread(silent)
    assert got == b"" and 0.3 < waited < 5
