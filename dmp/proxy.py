"""`<prefix>/repository`: the DMP's repository path on the registry's port, forwarded to our repository
(which runs in its own process), so a DMP client configured with one base URL reaches ITI-41 and ITI-43
(dmp-services.md §2a TD2.1, TD3.2; KIT-CS and DRIMbox build every service URL from one base).

A streaming reverse proxy: the request body goes to the repository as it arrives and the answer (MTOM
included) comes back chunk by chunk, so a large document is never held in memory. The WS-Security header
travels untouched: a signed VIHF is verified by the repository. Limit: the TLS client certificate of the
caller ends here, so a DMP DIRECTE caller with an unsigned VIHF (authenticated by its card on the TLS
connection) must call the repository directly (docs/dmp-services.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from xdscore import soap
from xdscore.errors import FaultCode, SoapFault

log = logging.getLogger("xds.dmp.proxy")

# Hop-by-hop headers (RFC 9110 §7.6.1) and those httpx sets itself.
_DROPPED = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                      "host", "content-length"})


class RepositoryProxy:
    def __init__(self, target: str, timeout: float = 300.0) -> None:
        self.target = target
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=10.0))
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def body() -> AsyncIterator[bytes]:
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield message.get("body", b"")
                more = message.get("more_body", False)

        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])
                   if k.decode("latin-1").lower() not in _DROPPED]
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.target + (f"?{query}" if query else "")
        method = scope.get("method", "POST")
        request = self.client().build_request(method, url, headers=headers,
                                              content=body() if method in ("POST", "PUT") else None)
        try:
            response = await self.client().send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("repository %s unreachable: %s", self.target, exc)
            fault = SoapFault(FaultCode.RECEIVER, f"the document repository cannot be reached ({type(exc).__name__})",
                              http_status=502)
            data = soap.write_fault(fault)
            await send({"type": "http.response.start", "status": 502, "headers": [
                (b"content-type", f"{soap.SOAP12_CONTENT_TYPE}; charset=utf-8".encode()),
                (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})
            return
        try:
            out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.multi_items()
                   if k.lower() not in _DROPPED - {"content-length"}]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()
