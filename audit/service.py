"""The audit record repository as one process: syslog listeners, store, HTTP API (the wiring only).

`run(settings)` starts whatever state its database is in (unreachable, refusing: the write loop retries it
and keeps what arrives in `pending.db` meanwhile, `/health` saying why nothing is stored), serves until SIGINT or SIGTERM, then stops listening, stores what was received (for up to
`stop_grace_seconds`; what the database did not take by then goes to `pending.db`, stored at the next
start) and exits: a few seconds, whatever state the database is in.
`Sink` is the same service as an object for tests and benchmarks (`async with Sink(settings) as sink`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from types import TracebackType
from typing import Self

import uvicorn
import uvloop

from audit.api import create_app
from audit.config import AuditSettings
from audit.notify import FileChannel, LogChannel
from audit.receiver import AuditReceiver
from audit.store import AuditStore

log = logging.getLogger("xds.audit")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the sink decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Sink:
    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings
        self.store: AuditStore | None = None
        self.receiver: AuditReceiver | None = None
        self._http: _Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self.http_port: int | None = None

    async def start(self) -> None:
        s = self.settings
        channels = [FileChannel(s.notify_file)] if s.notify_file else [LogChannel()]
        # No connection here: the write loop prepares the database (migrations), and retries while it is down.
        self.store = await asyncio.to_thread(AuditStore.open, s.database_url, False, channels, s.retention_days)
        self.receiver = AuditReceiver(s, self.store)
        await self.receiver.start()
        if s.http_enabled:
            config = uvicorn.Config(
                create_app(self.store, self.receiver.status), host=s.http_host, port=s.http_port,
                log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1,
            )
            self._http = _Server(config)
            self._http_task = asyncio.create_task(self._http.serve(), name="audit-http")
            while not self._http.started:
                if self._http_task.done():
                    await self._http_task  # raises the bind error
                    raise RuntimeError("audit HTTP API stopped during start-up")
                await asyncio.sleep(0.01)
            self.http_port = self._http.servers[0].sockets[0].getsockname()[1]
        log.info(
            "audit record repository: TLS %s, UDP %s, HTTP %s, database %s",
            self.receiver.tls_port, self.receiver.udp_port, self.http_port, _safe_url(s.database_url),
        )

    async def stop(self) -> None:
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            self._http = self._http_task = None
        if self.receiver is not None:
            await self.receiver.stop()
        if self.store is not None:
            self.store.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()


def _safe_url(url: str) -> str:
    """The database URL without its password, for the log."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def serve(settings: AuditSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sink = Sink(settings)
    await sink.start()
    try:
        await stop.wait()
    finally:
        log.info("audit record repository stopping")
        await sink.stop()


def run(settings: AuditSettings) -> None:
    # uvloop, as uvicorn gives the services: its TLS is compiled where asyncio's sslproto is Python, and TLS
    # reading is most of what the sink's loop does (issue 15: a third of its loop's CPU per message).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(settings))
