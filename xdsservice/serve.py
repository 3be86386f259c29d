"""Running one SOAP service process (`python -m registry`, `python -m repository`): logging, the app built
from its settings, uvicorn with the service's TLS, and a configuration error ending the process with one
line on stderr and a non-zero status instead of a traceback.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from xdsservice import idle
from xdsservice.config import SettingsError
from xdsservice.tls import TlsSettings, uvicorn_ssl_kwargs


class ServedSettings(Protocol):
    """What every served service's settings have."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def log_level(self) -> str: ...

    @property
    def tls(self) -> TlsSettings: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def idle_timeout(self) -> float: ...


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


# Young collections every 10,000 allocations instead of 700: a registration allocates some 2,000 container
# objects (model values, lxml proxies), nearly all freed by reference counting before a collection would
# find them; with 700 the collector ran a few times per request (0.15 ms of CPU per ITI-42, issue 15).
GC_THRESHOLDS = (10_000, 10, 10)


def settle_garbage_collection() -> None:
    """Once the app is built: what the process built to serve (modules, schemas, value sets, the app) is
    moved out of the collector's generations (`gc.freeze`), so that collections no longer walk it, and
    young collections run less often (`GC_THRESHOLDS`). Those objects are kept for the process's life
    anyway; what becomes garbage later is collected as before."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(service: str, settings: ServedSettings, build: Callable[[], Any], banner: Callable[[], Sequence[str]]) -> None:
    """Build the ASGI app, print the banner lines, serve until interrupted."""
    import uvicorn

    configure_logging(settings.log_level)
    try:
        ssl_kwargs = uvicorn_ssl_kwargs(settings.tls)
        app = build()
    except SettingsError as exc:
        raise SystemExit(f"{service}: configuration error: {exc}") from None
    for line in banner():
        print(line, flush=True)
    settle_garbage_collection()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level=settings.log_level,
        lifespan="on",
        # request heads within idle_timeout (xdsservice.idle), on the TLS peer protocol when TLS asks for it
        http=idle.protocol(settings.idle_timeout, ssl_kwargs.pop("http", None)),
        **ssl_kwargs,
    )
