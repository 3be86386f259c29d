"""Idle HTTP connections are closed (issue 18: a connection that sent nothing stayed open forever).

uvicorn closes a kept-alive connection that stays silent after a response (`timeout_keep_alive`), but not
one that never sends a request, nor one that trickles its request head a byte at a time. `protocol(timeout)`
is uvicorn's httptools protocol with one more timer: a request head must be complete within `timeout`
seconds of the connection opening, or of its first byte on a kept-alive connection. A body that pauses
longer than `timeout` between two pieces is the SOAP layer's to refuse (`receive_within`, used by
`xdsservice.soapapp.read_body` and the repository's streaming decoder): an HTTP 408 SOAP fault.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from xdscore.errors import FaultCode, SoapFault

log = logging.getLogger("xds.http")

Receive = Callable[[], Awaitable[dict[str, Any]]]


def protocol(timeout: float, base: type[Any] | None = None) -> type[Any] | str:
    """The uvicorn `http=` protocol class enforcing `timeout` on request heads, built on `base` (an
    httptools protocol, e.g. `xdsservice.tls_peer.TlsPeerHttpToolsProtocol`; default uvicorn's own);
    "auto" without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # uvicorn[standard] brings httptools; without it, uvicorn's own defaults
        log.warning("httptools is missing: HTTP request heads have no time limit")
        return "auto"
    parent = base if base is not None else HttpToolsProtocol

    class HeadTimeoutProtocol(parent):  # type: ignore[misc, valid-type]
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._head_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._head_timer = self.loop.call_later(timeout, self._expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _expired(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                log.info("HTTP connection from %s closed: no complete request head within %gs", self.client, timeout)
                self.transport.close()

    return HeadTimeoutProtocol


def receive_within(receive: Receive, timeout: float | None) -> Receive:
    """`receive`, refusing a body that pauses longer than `timeout` seconds (HTTP 408 SOAP fault)."""
    if timeout is None:
        return receive

    async def bounded() -> dict[str, Any]:
        try:
            return await asyncio.wait_for(receive(), timeout)
        except TimeoutError:
            raise SoapFault(FaultCode.SENDER, f"the request body stalled: nothing received for {timeout:g} s",
                            http_status=408) from None

    return bounded
