"""The repository's streaming decoder under XDS_SECURITY=required: a plain SOAP envelope, or the root part of
an MTOM ITI-41, whose assertion is missing or forged is refused once its Header is read, before the Body
and any attachment (xdsservice.early_security; issue 18)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from harness.services import Service, start_repository
from repository.blobs import BlobStore, SpoolFile
from repository.intake import StreamingDecoder
from tests.security import fixtures
from xdscore import wssec
from xdscore.vocabulary import NS, Action
from xdscore.wsse_faults import SecurityFault
from xdsservice.config import load_settings
from xdsservice.security import SecuritySettings, WsSecurityHook, build_security_hook
from xuatool import variants
from xuatool.header import request
from xuatool.pki import TestPki

pki = fixtures.pki


def test_the_repository_decoder_stops_an_anonymous_envelope_at_its_header(tmp_path: Path) -> None:
    """XDS_SECURITY=required on the repository: a plain SOAP ITI-43 without an assertion is refused once
    its Header is read; the 100 MB that follow are never pulled (issue 18)."""
    hook = WsSecurityHook(wssec.Policy(trust_anchors=(), now=dt.datetime.now(dt.UTC), require_assertion=True))
    decoder = StreamingDecoder(BlobStore(tmp_path), 10**9, 10**9, 10**5, security=hook)
    head = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>'
            b'<x:RetrieveDocumentSetRequest xmlns:x="urn:ihe:iti:xds-b:2007">')
    pulled = 0

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": head if pulled == 1 else b"<x:Pad/>" * 131072, "more_body": True}

    scope = {"headers": [(b"content-type", b"application/soap+xml; charset=utf-8")]}
    with pytest.raises(SecurityFault, match="requires a signed SAML assertion"):
        asyncio.run(decoder(scope, receive))
    assert pulled == 1


# --- MTOM: the root part's Header is verified before any attachment is hashed or spooled ---------------


class CountingBlobs(BlobStore):
    """The real blob store, counting the spool files it opens."""

    spooled = 0

    def spool(self) -> SpoolFile:
        self.spooled += 1
        return super().spool()


BOUNDARY = "MIMEBoundary_gate"
MTOM_TYPE = (f'multipart/related; boundary="{BOUNDARY}"; type="application/xop+xml"; start="<root@x>"; '
             'start-info="application/soap+xml"')


def iti41_head(security: etree._Element | None) -> bytes:
    """An ITI-41 MTOM body up to the start of its 1st attachment (the document to follow, never ending)."""
    body = etree.Element(f"{{{NS.XDSB}}}ProvideAndRegisterDocumentSetRequest")
    envelope = request(body, Action.PROVIDE_AND_REGISTER.value, security)
    return (f"--{BOUNDARY}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n"
            f"Content-ID: <root@x>\r\n\r\n").encode() + envelope + (
            f"\r\n--{BOUNDARY}\r\nContent-Type: text/xml\r\nContent-ID: <doc1@x>\r\n\r\n").encode()


@pytest.mark.parametrize("variant", [None, "tampered", "untrusted"])
def test_an_mtom_iti41_is_refused_before_its_attachment_is_spooled(tmp_path: Path, pki: TestPki,
                                                                     variant: str | None) -> None:
    trust = pki.write(tmp_path / "pki")
    hook = build_security_hook(load_settings(SecuritySettings, "repository", {
        "XDS_SECURITY": "required", "XDS_TRUST_DIR": str(trust), "XDS_CONFIG": os.devnull}))
    blobs = CountingBlobs(tmp_path / "data")
    decoder = StreamingDecoder(blobs, 50 * 1024 * 1024, 10**8, 10**5, security=hook)  # without the check: 413
    security = variants.make(variant, variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), profile="xua")) \
        if variant else None
    head = iti41_head(security)
    pulled = 0

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": head if pulled == 1 else b"d" * 1024 * 1024, "more_body": True}

    scope = {"headers": [(b"content-type", MTOM_TYPE.encode())]}
    with pytest.raises(SecurityFault):
        asyncio.run(decoder(scope, receive))
    assert pulled == 1 and blobs.spooled == 0
    assert list(blobs.tmp_dir.iterdir()) == []


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("gated-repository")
    trust = pki.write(folder / "pki")
    service = start_repository(folder / "data", "http://127.0.0.1:9/xds/registry",  # never reached
                               env={"XDS_SECURITY": "required", "XDS_TRUST_DIR": str(trust)})
    yield service
    service.stop()


def peak_rss_mb(service: Service) -> float:
    for line in Path(f"/proc/{service.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("variant", [None, "tampered"])
def test_a_running_repository_refuses_a_200_mb_iti41_before_spooling_it(running: Service, pki: TestPki,
                                                                        variant: str | None) -> None:
    """Time to the fault, peak RSS, and the spool folder watched while the document streams in: without
    the check the repository read and spooled the 200 MB before refusing."""
    security = variants.make(variant, variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), profile="xua")) \
        if variant else None
    head, size, tail = iti41_head(security), 200 * 1024 * 1024, f"\r\n--{BOUNDARY}--\r\n".encode()
    tmp_dir = running.data_dir / "repository" / "tmp"
    spool_seen, watching = 0, True

    def watch() -> None:
        nonlocal spool_seen
        while watching:
            spool_seen = max(spool_seen, len(list(tmp_dir.glob("spool-*"))))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    before = peak_rss_mb(running)
    with socket.create_connection(("127.0.0.1", running.ports["http"]), timeout=30) as s:
        s.sendall(f"POST /xds/repository HTTP/1.1\r\nHost: x\r\nContent-Type: {MTOM_TYPE}\r\n"
                  f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n".encode() + head)

        def send_the_document() -> None:
            try:
                block = b"d" * (1024 * 1024)
                for _ in range(size // len(block)):
                    s.sendall(block)
                s.sendall(tail)
            except OSError:
                pass  # answered and closed before the end: what we want

        started = time.monotonic()
        sender = threading.Thread(target=send_the_document, daemon=True)
        sender.start()
        reply = b""
        while b"Envelope>" not in reply and (data := s.recv(65536)):
            reply += data
        elapsed = time.monotonic() - started
    sender.join(30)
    watching = False
    watcher.join(5)
    grown = peak_rss_mb(running) - before
    assert (b"FailedCheck" if variant else b"InvalidSecurity") in reply, reply[:600]
    assert spool_seen == 0 and list(tmp_dir.glob("spool-*")) == []
    assert elapsed < 3.0, elapsed
    assert grown < 50, f"peak RSS grew by {grown:.0f} MB"
