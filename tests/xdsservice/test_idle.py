"""Idle HTTP connections (issue 18): a connection that sends nothing, a head trickled byte by byte and a body
that stalls are all ended after `idle_timeout`, on a running registry; the repository's streaming decoder
refuses a stalled body too."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.services import Service, start_registry
from repository.blobs import BlobStore
from repository.intake import StreamingDecoder
from xdscore.errors import SoapFault

TIMEOUT = 1.0


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_registry(tmp_path_factory.mktemp("idle"), env={"XDS_REGISTRY_IDLE_TIMEOUT": str(TIMEOUT)})
    yield service
    service.stop()


def until_closed(sock: socket.socket, limit: float = 10) -> tuple[float, bytes]:
    """Seconds until the server closed `sock`, and what it sent before."""
    started, got = time.monotonic(), b""
    sock.settimeout(limit)
    while data := sock.recv(65536):
        got += data
    return time.monotonic() - started, got


def test_a_connection_that_sends_nothing_is_closed(registry: Service) -> None:
    with socket.create_connection(("127.0.0.1", registry.ports["http"])) as s:
        waited, got = until_closed(s)
    assert got == b"" and TIMEOUT * 0.8 < waited < TIMEOUT + 4


def test_a_trickled_request_head_is_closed(registry: Service) -> None:
    with socket.create_connection(("127.0.0.1", registry.ports["http"])) as s:
        s.sendall(b"POST /xds/registry HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        with pytest.raises(OSError):  # the registry closes while we still write: a reset or a broken pipe
            for _ in range(100):
                s.sendall(b"X")  # one byte of a header name every 0.2 s: never idle, never complete
                time.sleep(0.2)
            until_closed(s, 1)
            raise OSError("still open")
    assert time.monotonic() - started < TIMEOUT + 4


def test_a_stalled_body_gets_a_408_fault(registry: Service) -> None:
    with socket.create_connection(("127.0.0.1", registry.ports["http"])) as s:
        s.sendall(b"POST /xds/registry HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
                  b"Content-Length: 1000\r\n\r\n<soap:Envelope")
        started, got = time.monotonic(), b""
        s.settimeout(10)
        while b"</soap:Envelope>" not in got and (data := s.recv(65536)):
            got += data
        waited = time.monotonic() - started
    assert got.startswith(b"HTTP/1.1 408") and b"the request body stalled" in got
    assert TIMEOUT * 0.8 < waited < TIMEOUT + 4


def test_a_prompt_request_is_served(registry: Service) -> None:
    with socket.create_connection(("127.0.0.1", registry.ports["http"])) as s:
        s.sendall(b"GET /xds/registry?wsdl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        _, got = until_closed(s)
    assert got.startswith(b"HTTP/1.1 200") and b"definitions" in got


def test_the_repository_decoder_refuses_a_stalled_body(tmp_path: Path) -> None:
    decoder = StreamingDecoder(BlobStore(tmp_path), 10**6, 10**6, 10**5, idle_timeout=0.2)
    scope = {"headers": [(b"content-type", b'multipart/related; boundary="b"; type="application/xop+xml"')]}
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"--b\r\n", "more_body": True}
        await asyncio.Event().wait()  # the client never sends the rest
        return {}

    with pytest.raises(SoapFault) as refused:
        asyncio.run(decoder(scope, receive))
    assert refused.value.http_status == 408

