"""The kept-alive HTTP/1.1 client pool (xdsservice.http_pool) against real servers on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from tests.security.server import ServerThread
from xdsservice.http_pool import ConnectFailed, HttpPool, NoAnswer


def echo_app(delay: float = 0.0) -> Any:
    """Answers each POST with the client's port and the body it received, after `delay` seconds."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if delay:
            await asyncio.sleep(delay)
        reply = f"{scope['client'][1]} ".encode() + body
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(reply)).encode())]})
        await send({"type": "http.response.body", "body": reply})

    return app


async def test_connections_are_kept_alive_and_reused() -> None:
    with ServerThread(echo_app()) as server:
        pool = HttpPool(server.url("/echo"), timeout=10, connect_timeout=5)
        first = await pool.post(b"one", [("Content-Type", "text/plain")])
        second = await pool.post(b"two", [("Content-Type", "text/plain")])
        pool.close()
    assert (first.status, first.headers["content-type"]) == (200, "text/plain")
    port1, body1 = first.body.split(b" ", 1)
    port2, body2 = second.body.split(b" ", 1)
    assert (body1, body2) == (b"one", b"two")
    assert port1 == port2  # the same TCP connection


async def test_an_idle_connection_past_its_age_is_not_reused() -> None:
    with ServerThread(echo_app()) as server:
        pool = HttpPool(server.url("/echo"), timeout=10, connect_timeout=5, max_idle_seconds=0.05)
        first = await pool.post(b"one", [])
        await asyncio.sleep(0.2)
        second = await pool.post(b"two", [])
        pool.close()
    assert first.body.split(b" ")[0] != second.body.split(b" ")[0]


async def test_requests_wait_side_by_side_without_threads() -> None:
    """24 requests the server holds 0.5 s each: together they take about 0.5 s, not 24 x 0.5 / 6 threads."""
    with ServerThread(echo_app(delay=0.5)) as server:
        pool = HttpPool(server.url("/echo"), timeout=30, connect_timeout=5)
        started = time.perf_counter()
        replies = await asyncio.gather(*(pool.post(str(i).encode(), []) for i in range(24)))
        elapsed = time.perf_counter() - started
        pool.close()
    assert sorted(r.body.split(b" ", 1)[1] for r in replies) == sorted(str(i).encode() for i in range(24))
    assert elapsed < 1.9, elapsed


async def test_nothing_listening_is_connect_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pool = HttpPool(f"http://127.0.0.1:{port}/x", timeout=5, connect_timeout=2)
    with pytest.raises(ConnectFailed):
        await pool.post(b"x", [])


async def test_a_server_that_never_answers_is_no_answer() -> None:
    with socket.socket() as black_hole:  # accepts (backlog), reads nothing, answers nothing
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(8)
        pool = HttpPool(f"http://127.0.0.1:{black_hole.getsockname()[1]}/x", timeout=0.3, connect_timeout=2)
        with pytest.raises(NoAnswer):
            await pool.post(b"x", [])
        pool.close()


async def test_a_reply_that_is_not_http_is_no_answer() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"220 smtp.example.org ESMTP\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = HttpPool(f"http://127.0.0.1:{port}/x", timeout=5, connect_timeout=2)
    with pytest.raises(NoAnswer):
        await pool.post(b"x", [])
    server.close()
    await server.wait_closed()
