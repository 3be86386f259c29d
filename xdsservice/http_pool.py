"""A kept-alive HTTP/1.1 client connection pool on asyncio streams, the protocol spoken by h11 (RFC 9112).

The repository sends an ITI-42 to the registry for every ITI-41. Done with a synchronous client, each
in-flight ITI-41 held a worker thread for the whole call, so the default pool of six threads capped the
repository at six concurrent submissions; and httpx spent more CPU per request than the rest of the
call. Here a request is a coroutine: any number wait on the registry at once, no thread is held, and
connections are reused (a fresh TCP and, with https, TLS handshake per request would cost more than the
request). h11 (python-hyper) does the HTTP/1.1 framing, with no I/O of its own; this module only moves
bytes and keeps the connections.

What the caller must tell apart (ITI-41 keeps or removes its documents accordingly):
- `ConnectFailed`: the request never left (connection refused, connect timeout, TLS handshake refused);
- `NoAnswer`: the request was sent, or may have been, and no complete answer came (timeout, connection
  dropped, a reply that is not HTTP): the server may have acted on it.
A kept-alive connection the server may have closed meanwhile is not reused: one idle longer than
`max_idle_seconds` (below the servers' usual 5 s keep-alive) is closed, and so is one whose peer has
already closed its side.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11


class ConnectFailed(Exception):
    """No connection could be made: nothing was sent."""


class NoAnswer(Exception):
    """The request was (or may have been) sent and no complete answer came back."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names lower case; a repeated header keeps its last value
    body: bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0

    def usable(self, now: float, max_idle: float) -> bool:
        return (now - self.idle_since < max_idle and not self.reader.at_eof()
                and not self.writer.transport.is_closing() and self.protocol.our_state is h11.IDLE)

    def close(self) -> None:
        try:
            self.writer.close()
        except RuntimeError:  # its event loop is gone (a test's loop): nothing left to close
            pass


class HttpPool:
    """POSTs to one URL over kept-alive connections (`max_idle` of them kept between requests)."""

    def __init__(self, url: str, timeout: float, connect_timeout: float, tls: ssl.SSLContext | None = None,
                 max_idle: int = 64, max_idle_seconds: float = 4.0, max_response_bytes: int = 64 * 1024 * 1024) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.tls = (tls or ssl.create_default_context()) if parts.scheme == "https" else None
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.max_idle_seconds = max_idle_seconds
        self.max_response_bytes = max_response_bytes
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, content: bytes, headers: list[tuple[str, str]]) -> Response:
        connection = await self._checkout()
        request = h11.Request(method="POST", target=self.target, headers=[
            ("Host", self.host_header), ("Content-Length", str(len(content))), *headers])
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._exchange(connection, request, content)
        except (TimeoutError, OSError, h11.ProtocolError, asyncio.IncompleteReadError, NoAnswer) as exc:
            connection.close()
            raise NoAnswer(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        except BaseException:  # cancelled: the connection is in an unknown state
            connection.close()
            raise
        self._checkin(connection)
        return response

    async def _checkout(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that made them
            self.close()
            self._loop = loop
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(now, self.max_idle_seconds):
                return connection
            connection.close()
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None,
                    limit=256 * 1024)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        return _Connection(reader, writer)

    async def _exchange(self, connection: _Connection, request: h11.Request, content: bytes) -> Response:
        protocol = connection.protocol
        connection.writer.write(protocol.send(request) + protocol.send(h11.Data(data=content)) + protocol.send(h11.EndOfMessage()))
        await connection.writer.drain()
        status, headers, body = 0, {}, bytearray()
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                protocol.receive_data(await connection.reader.read(256 * 1024))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_response_bytes:
                    raise NoAnswer(f"the answer is larger than {self.max_response_bytes} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return Response(status, headers, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                raise NoAnswer("the server closed the connection before answering")
            # h11.InformationalResponse (100 Continue): nothing to do

    def _checkin(self, connection: _Connection) -> None:
        protocol = connection.protocol
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE and len(self._idle) < self.max_idle:
            protocol.start_next_cycle()
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:  # Connection: close, or an exchange h11 does not let us reuse
            connection.close()

    def close(self) -> None:
        """Close the idle connections (those in use close when their request ends)."""
        for connection in self._idle:
            connection.close()
        self._idle.clear()
