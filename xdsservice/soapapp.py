"""SOAP 1.2 over HTTP as a raw ASGI application (SOAP 1.2 Part 2 §7 HTTP binding; ITI TF-2x V).

The I/O plumbing only: read the body (plain SOAP or MTOM) under a size limit, parse it safely, read the
envelope and its WS-Addressing headers, let the security hook turn the WS-Security header into a
principal (as soon as the Header has arrived, before the Body is read: `xdsservice.early_security`),
dispatch on wsa:Action, and write the reply. Every `SoapFault` and every unexpected
exception becomes a SOAP Fault here, and only here: a client never gets a stack trace or a bare 500.
Synchronous handlers (the registry's rules and SQL) run in a worker thread so the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote

from lxml import etree

from xdscore import mtom, soap, xmlsafe
from xdscore.envelope_gate import DEFAULT_MAX_HEADER_BYTES
from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS
from xdsservice import memory, names, tree_threads
from xdsservice.early_security import EnvelopeCheck, Verified, header_verifier
from xdsservice.idle import receive_within

log = logging.getLogger("xds.soap")
T = TypeVar("T")

# A body larger than this is parsed in a worker thread: the event loop keeps serving the other requests
# (lxml parses ~50 MB/s, so a body of this size holds the loop ~1 ms at most).
PARSE_INLINE_BYTES = 64 * 1024


@dataclass
class RequestContext:
    """What a transaction may know about the HTTP exchange it came in."""

    client_host: str | None
    client_port: int | None
    endpoint: str  # our own URL, as configured
    headers: dict[str, str]
    principal: Any = None  # set by the security hook (xdscore.wssec.Principal) when an assertion came
    tls_peer: dict[str, Any] | None = None
    reply_to: str = ""  # wsa:ReplyTo, else wsa:From: who the client says it is (audit source UserID)


@dataclass
class DecodedRequest:
    request: soap.SoapRequest
    attachments: dict[str, mtom.Attachment] = field(default_factory=dict)
    raw: bytes = b""  # the SOAP envelope bytes, for audit (ParticipantObjectQuery)
    # Run once the exchange is over, whatever happened (e.g. a streaming decoder removing spilled parts).
    on_close: list[Callable[[], Any]] = field(default_factory=list)
    verified: Verified | None = None  # the security hook's answer, given before the Body was read
    # The thread that parsed the envelope when it was too large for the event loop (None: the loop's own).
    tree_thread: tree_threads.TreeThread | None = None

    async def in_tree_thread(self, work: Callable[[], T]) -> T:
        """Run `work`, which changes the request's tree, in the thread that parsed it: the names it adds go
        into that thread's libxml2 dictionary, which no other thread may write (xdsservice.tree_threads)."""
        if self.tree_thread is None:
            return work()
        return await self.tree_thread.run(work)


@dataclass
class SoapReply:
    """A handler's answer: the response envelope (body element + action) and optional MTOM parts."""

    body: etree._Element | bytes  # bytes: one serialized UTF-8 element, sent as is (soap.response_parts)
    action: str
    # `mtom.StreamingPart`s are sent chunk by chunk (read in a worker thread), so a reply can stream
    # documents from disk without holding them in memory.
    parts: list[mtom.AnyPart] = field(default_factory=list)
    mtom: bool = False
    after_send: list[Callable[[], Any]] = field(default_factory=list)  # e.g. audit emission


Handler = Callable[[DecodedRequest, RequestContext], SoapReply]
AsyncHandler = Callable[[DecodedRequest, RequestContext], Awaitable[SoapReply]]


class SecurityHook(Protocol):
    def __call__(self, request: soap.SoapRequest, context: RequestContext) -> Any: ...


class BodyTooLarge(SoapFault):
    def __init__(self, limit: int) -> None:
        super().__init__(FaultCode.SENDER, f"request body is larger than the limit of {limit} bytes", http_status=413)


async def body_chunks(receive: Callable[[], Awaitable[dict[str, Any]]], limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives: the one loop over ASGI `http.request` messages. A body past `limit`
    is BodyTooLarge (HTTP 413) as soon as it crosses it; a client gone before the end is a Sender fault."""
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise SoapFault(FaultCode.SENDER, "client disconnected before the body was complete")
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        if chunk:
            yield chunk


async def read_body(receive: Callable[[], Awaitable[dict[str, Any]]], limit: int) -> bytes:
    """The whole body in memory (under `limit`)."""
    return b"".join([chunk async for chunk in body_chunks(receive, limit)])


# Bodies that are a SOAP envelope themselves (decode_bytes); MTOM's multipart/related carries one as its root.
ENVELOPE_MEDIA_TYPES = ("application/soap+xml", "application/xop+xml", "text/xml")
MTOM_MEDIA_TYPE = "multipart/related"


def media_type_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def connection_context(scope: dict[str, Any], endpoint: str = "") -> RequestContext:
    """What is known of the exchange before its body is read: the client and its TLS certificate."""
    client = scope.get("client") or (None, None)
    return RequestContext(client_host=client[0], client_port=client[1], endpoint=endpoint, headers=_headers(scope),
                          tls_peer=scope.get("extensions", {}).get("tls"))


def envelope_check(security: object, content_type: str, scope: dict[str, Any],
                   max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> EnvelopeCheck | None:
    """An `EnvelopeCheck` when the endpoint's hook verifies a Header on its own (xdsservice.early_security)
    and the body is an envelope or an MTOM message: the Header is then verified before the Body is read."""
    hook = header_verifier(security)
    media_type = media_type_of(content_type)
    if hook is None or (media_type not in ENVELOPE_MEDIA_TYPES and media_type != MTOM_MEDIA_TYPE):
        return None
    return EnvelopeCheck(hook, connection_context(scope), max_header_bytes)


async def read_gated_body(receive: Callable[[], Awaitable[dict[str, Any]]], limit: int,
                          check: EnvelopeCheck | None) -> bytes:
    """`read_body`, with the envelope's Header verified as soon as it has arrived (`check`): a request the
    security hook refuses is answered before the rest of its body is read or parsed (issue 18)."""
    chunks: list[bytes] = []
    async for chunk in body_chunks(receive, limit):
        if check is not None and check.pending:
            await check.feed_async(chunk)
        chunks.append(chunk)
    return b"".join(chunks)


def content_type(header: str) -> mtom.ContentType:
    """The request's Content-Type; none at all is refused (415) rather than guessed (SOAP 1.2 Part 2 §7.1.4:
    a SOAP 1.2 request is application/soap+xml, or multipart/related for MTOM)."""
    if not header.strip():
        raise SoapFault(FaultCode.SENDER, "the request has no Content-Type; a SOAP 1.2 request is "
                        "application/soap+xml (multipart/related with MTOM)", http_status=415)
    return mtom.ContentType.parse(header)


async def read_mtom(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], limit: int,
                    check: EnvelopeCheck | None, max_bytes: int, limits: xmlsafe.XmlLimits | None = None
                    ) -> DecodedRequest:
    """An MTOM request assembled as it arrives, in memory (the repository spools instead: repository.intake).
    While the Header is unverified the assembler runs in a worker thread, where `check` verifies it as the
    root part's Body starts: a refused request is answered before its attachments are read."""
    ctype = content_type(_headers(scope).get("content-type", ""))
    assembler = mtom.MtomAssembler(ctype, max_root_bytes=max_bytes, watcher=check)
    size = 0
    try:
        async for chunk in body_chunks(receive, limit):
            size += len(chunk)
            if check is not None and check.pending:
                await check.in_own_thread(partial(assembler.feed, chunk))
            else:
                assembler.feed(chunk)
        assembler.feed_eof()
    finally:
        note_body_size(scope, size)  # what was read is memory too, refused or not
        if check is not None:
            check.close()
    message = assembler.result()
    request, owner = await read_root(message.root, max_bytes, limits, check.tokens_of(message.root) if check else False)
    return DecodedRequest(request, message.attachments, message.root, tree_thread=owner)


async def read_root(root: bytes, max_bytes: int, limits: xmlsafe.XmlLimits | None,
                    scanned: frozenset[bytes] | bool | None = False
                    ) -> tuple[soap.SoapRequest, tree_threads.TreeThread | None]:
    """An MTOM message's root part read as the SOAP envelope, and the thread that owns its tree (where its
    names may go: xdsservice.names; `scanned`: its names' scan if the envelope check made it)."""
    def read() -> soap.SoapRequest:
        return soap.read_envelope(xmlsafe.parse_bytes(root, max_bytes, "SOAP envelope", limits))

    return await names.parse(root, read, PARSE_INLINE_BYTES, scanned=scanned)


def decode_bytes(
    body: bytes, content_type_header: str, max_bytes: int, limits: xmlsafe.XmlLimits | None = None
) -> DecodedRequest:
    """Decode a complete HTTP body: application/soap+xml or multipart/related (MTOM/XOP); the envelope
    is parsed under `limits` (default: `max_bytes` alone, xdscore.xmlsafe)."""
    ctype = content_type(content_type_header)
    attachments: dict[str, mtom.Attachment] = {}
    if ctype.is_multipart:
        message = mtom.decode_message(body, ctype)
        envelope_bytes, attachments = message.root, message.attachments
    elif ctype.media_type in ("application/soap+xml", "application/xop+xml"):
        envelope_bytes = body
    elif ctype.media_type == "text/xml":
        # SOAP 1.1's media type: read the envelope anyway so the client gets a VersionMismatch fault.
        envelope_bytes = body
    else:
        raise SoapFault(FaultCode.SENDER, f"unsupported Content-Type {ctype.media_type}", http_status=415)
    root = xmlsafe.parse_bytes(envelope_bytes, max_bytes, "SOAP envelope", limits)
    return DecodedRequest(soap.read_envelope(root), attachments, envelope_bytes)


_WSSE_SECURITY = f"{{{NS.WSSE}}}Security"


def _has_security_header(header: etree._Element | None) -> bool:
    return header is not None and any(child.tag == _WSSE_SECURITY for child in header)


async def decode_off_loop(
    body: bytes, content_type_header: str, max_bytes: int, limits: xmlsafe.XmlLimits | None = None,
    scanned: frozenset[bytes] | bool | None = False,
) -> DecodedRequest:
    """`decode_bytes`, in a worker thread when the body is large enough to hold the event loop or holds
    names never seen before (xdsservice.names); the decoded request keeps that thread
    (`DecodedRequest.in_tree_thread`). `scanned`: the body's names' scan if the envelope check made it."""
    decoded, owner = await names.parse(body, partial(decode_bytes, body, content_type_header, max_bytes, limits),
                                       PARSE_INLINE_BYTES, scanned=scanned)
    decoded.tree_thread = owner
    return decoded


def note_body_size(scope: dict[str, Any], size: int) -> None:
    """Tell the service how large this request's body was (for `xdsservice.memory` once it is over)."""
    scope["xds.body_bytes"] = size


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _send(send: Callable[..., Awaitable[None]], status: int, content_type: str, body: bytes | list[bytes]) -> None:
    """One response; a body given in pieces is sent piece by piece, never joined (see soap.response_parts)."""
    pieces = [body] if isinstance(body, bytes) else body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(sum(len(p) for p in pieces)).encode()),
            ],
        }
    )
    for i, piece in enumerate(pieces):
        await send({"type": "http.response.body", "body": piece, "more_body": i < len(pieces) - 1})


Decoder = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]]], Awaitable[DecodedRequest]]


class SoapService:
    """An ASGI app serving one SOAP endpoint path, its WSDL (`?wsdl`) and schemas (`?xsd=NAME`)."""

    def __init__(
        self,
        path: str,
        endpoint: str,
        handlers: dict[str, Handler | AsyncHandler],
        wsdl: Callable[[frozenset[str]], bytes] | None = None,
        max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES,
        security: SecurityHook | None = None,
        decoder: Decoder | None = None,
        extra_routes: dict[str, Callable[..., Awaitable[None]]] | None = None,
        xsd: Callable[[str], bytes] | None = None,
        on_startup: list[Callable[[], Awaitable[None]]] | None = None,
        on_shutdown: list[Callable[[], Awaitable[None]]] | None = None,
        idle_timeout: float | None = None,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        xml_limits: xmlsafe.XmlLimits | None = None,
    ) -> None:
        self.path = path.rstrip("/") or "/"
        self.max_header_bytes = max_header_bytes  # bytes before soap:Body (xdscore.envelope_gate)
        self.idle_timeout = idle_timeout  # a body pausing longer is refused (408): xdsservice.idle
        self.endpoint = endpoint
        self.handlers = handlers
        self.wsdl = wsdl
        self.max_bytes = max_bytes
        # The envelope's shape (depth, elements, value lengths: xdscore.xmlsafe); its bytes are max_bytes.
        self.xml_limits = replace(xml_limits or xmlsafe.XmlLimits(), max_bytes=max_bytes)
        self.security = security
        # Without a hook nothing processes wsse:Security, so a mandatory one is not understood (SOAP 1.2).
        self.understood = soap.UNDERSTOOD if security is not None else soap.UNDERSTOOD_WITHOUT_SECURITY
        self.decoder = decoder or self._decode_in_memory
        self.extra_routes = extra_routes or {}
        self.on_startup = on_startup or []
        self.on_shutdown = on_shutdown or []
        self.xsd = xsd  # schema by name for `?xsd=NAME` (raises KeyError when unknown): xdsservice.wsdl

    async def _decode_in_memory(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]]
    ) -> DecodedRequest:
        header = _headers(scope).get("content-type", "")
        receive = receive_within(receive, self.idle_timeout)
        content_type(header)  # none at all: 415 before the body is read
        check = envelope_check(self.security, header, scope, self.max_header_bytes)
        if media_type_of(header) == MTOM_MEDIA_TYPE:
            decoded = await read_mtom(scope, receive, self.max_bytes, check, self.max_bytes, self.xml_limits)
        else:
            try:
                body = await read_gated_body(receive, self.max_bytes, check)
            except BodyTooLarge:
                note_body_size(scope, self.max_bytes)  # what was read before the refusal was memory too
                raise
            finally:
                if check is not None:
                    check.close()
            note_body_size(scope, len(body))
            decoded = await decode_off_loop(body, header, self.max_bytes, self.xml_limits,
                                            check.tokens_of(body) if check is not None else False)
        decoded.verified = check.verified if check is not None else None
        return decoded

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope.get("path", "/").rstrip("/") or "/"
        if path in self.extra_routes:
            await self.extra_routes[path](scope, receive, send)
            return
        if path != self.path:
            await _send(send, 404, "text/plain", b"not found; the SOAP endpoint is " + self.path.encode())
            return
        method = scope.get("method", "GET")
        query = scope.get("query_string", b"").decode("latin-1").lower()
        if method == "GET":
            first = query.split("&")[0]
            if self.wsdl is not None and first in ("wsdl", "wsdl="):
                # The WSDL lists the operations whose actions this endpoint answers (xdsservice.wsdl).
                await _send(send, 200, "text/xml; charset=utf-8", self.wsdl(frozenset(self.handlers)))
            elif self.xsd is not None and first.startswith("xsd="):
                try:
                    schema = self.xsd(unquote(first[4:]))
                except KeyError:
                    await _send(send, 404, "text/plain", b"no such schema")
                    return
                await _send(send, 200, "text/xml; charset=utf-8", schema)
            else:
                await _send(send, 405, "text/plain", b"POST a SOAP 1.2 message, or GET ?wsdl")
            return
        if method != "POST":
            await _send(send, 405, "text/plain", b"method not allowed")
            return
        await self._handle_post(scope, receive, send)

    async def _handle_post(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        decoded: DecodedRequest | None = None
        try:
            try:
                decoded = await self.decoder(scope, receive)
            except SoapFault as fault:  # the envelope is not parsed: a refused Header gives its wsa:MessageID
                await self._send_fault(send, fault, getattr(fault, "relates_to", None))
                return
            except Exception:  # an unexpected decoder error is still answered with a fault
                log.exception("unhandled error while decoding a SOAP request")
                await self._send_fault(send, SoapFault(FaultCode.RECEIVER, "internal error; see the server log"), None)
                return
            await self._serve(scope, decoded, send)
        finally:
            for callback in decoded.on_close if decoded is not None else ():
                try:
                    await asyncio.to_thread(callback)
                except Exception:  # clean-up must not break the exchange
                    log.exception("request clean-up callback failed")
            owner = decoded.tree_thread if decoded is not None else None
            decoded = None  # the parsed tree goes before the memory it took is handed back
            await names.release(owner)  # a thread of its own exits, with the names it parsed
            if memory.should_trim(scope.get("xds.body_bytes", 0)):
                await asyncio.to_thread(memory.trim)

    async def _serve(self, scope: dict[str, Any], decoded: DecodedRequest, send: Any) -> None:
        relates_to: str | None = None
        try:
            relates_to = decoded.request.addressing.message_id
            soap.check_must_understand(decoded.request.header, self.understood)
            context = connection_context(scope, self.endpoint)
            context.reply_to = decoded.request.addressing.reply_to or decoded.request.addressing.from_address or ""
            action = decoded.request.addressing.action
            handler = self.handlers.get(action)
            if handler is None:
                raise SoapFault(
                    FaultCode.SENDER,
                    f"wsa:Action {action} is not served at this endpoint",
                    soap.WSA_ACTION_NOT_SUPPORTED,
                )
            if self.security is not None:
                context.principal = await self._principal(decoded, context)
            if asyncio.iscoroutinefunction(handler):
                reply = await handler(decoded, context)
            else:
                reply = await asyncio.to_thread(handler, decoded, context)  # type: ignore[arg-type]
        except SoapFault as fault:
            await self._send_fault(send, fault, relates_to)
            return
        except Exception:  # the one place every unexpected error becomes a fault
            log.exception("unhandled error while serving a SOAP request")
            await self._send_fault(send, SoapFault(FaultCode.RECEIVER, "internal error; see the server log"), relates_to)
            return
        await self._send_reply(send, reply, relates_to)
        for callback in reply.after_send:
            try:
                callback()
            except Exception:  # a failing audit hook must not break the exchange
                log.exception("after-send callback failed")

    async def _principal(self, decoded: DecodedRequest, context: RequestContext) -> Any:
        """The caller's Principal: verified already on the Header (then only the whole envelope's IDs are
        left to check, xdsservice.early_security), else by the hook now. Signature work runs in a worker
        thread; a request without a wsse:Security header takes no thread hop."""
        secured = _has_security_header(decoded.request.header)
        if decoded.verified is not None:
            hook: Any = self.security
            if secured:
                await asyncio.to_thread(hook.check_envelope, decoded.request, context)
            return decoded.verified.principal
        assert self.security is not None
        if secured:
            return await asyncio.to_thread(self.security, decoded.request, context)
        return self.security(decoded.request, context)

    async def _send_fault(self, send: Any, fault: SoapFault, relates_to: str | None) -> None:
        await _send(send, fault.http_status, soap.fault_content_type(fault), soap.write_fault(fault, relates_to))

    async def _send_reply(self, send: Any, reply: SoapReply, relates_to: str | None) -> None:
        envelope = soap.response_parts(reply.body, reply.action, relates_to)
        if reply.mtom or reply.parts:
            joined = b"".join(envelope)
            if any(isinstance(p, mtom.StreamingPart) for p in reply.parts):
                await self._stream_reply(send, mtom.encode_stream(joined, reply.parts, reply.action))
                return
            content_type, body = mtom.encode_message(joined, reply.parts, reply.action)
            await _send(send, 200, content_type, body)
            return
        await _send(send, 200, f'{soap.SOAP12_CONTENT_TYPE}; charset=utf-8; action="{reply.action}"', envelope)

    async def _stream_reply(self, send: Any, encoded: mtom.EncodedMessage) -> None:
        """Send an MTOM reply piece by piece; chunks are produced (files read) in a worker thread."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", encoded.content_type.encode("latin-1")),
                    (b"content-length", str(encoded.length).encode()),
                ],
            }
        )
        chunks = encoded.chunks
        try:
            while True:
                chunk = await asyncio.to_thread(next, chunks, None)
                if chunk is None:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:  # the status line is gone: the short body tells the client
            log.exception("streaming an MTOM reply failed after it started")
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self.on_startup:
                        await hook()
                except Exception as exc:  # reported to the server, which stops
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    try:
                        await hook()
                    except Exception:
                        log.exception("shutdown hook failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

