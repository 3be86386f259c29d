"""Streaming request decoder for the repository endpoint (ITI TF-2x V.3.6 MTOM/XOP; SOAP 1.2 HTTP binding).

Plugged into `xdsservice.soapapp.SoapService` as its `decoder`. A multipart/related body is fed to
`xdscore.mtom.MtomAssembler` as it arrives: the SOAP envelope stays in memory (under
`max_envelope_bytes`), attachments are hashed on the fly and spill to spool files beside the blob
store past `spill_threshold`. Memory therefore stays flat whatever the document size; the whole body
is capped at `max_request_bytes` (1 GiB by default). Simple SOAP bodies (a zeep ITI-43, an ITI-41 with
inline base64) are read whole under the envelope limit.

Received bytes are handed to the assembler in batches of about 1 MiB, in a worker thread, so hashing
and disk writes never block the event loop. Spool files are removed when the request ends, unless the
transaction filed them in the blob store meanwhile.

Security first (issue 18): until the envelope's Header is verified (`xdsservice.early_security`), each
chunk goes to the assembler at once, in a worker thread, and the root part's Header is verified there as
soon as its Body starts; a refused request (anonymous under `required`, a forged assertion) is answered
before any attachment byte is hashed or spooled, and the rest of the body is never read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any

from repository.blobs import BlobStore
from xdscore import mtom, xmlsafe
from xdscore.envelope_gate import DEFAULT_MAX_HEADER_BYTES
from xdsservice.early_security import EnvelopeCheck
from xdsservice.idle import receive_within
from xdsservice.soapapp import (
    BodyTooLarge,
    DecodedRequest,
    body_chunks,
    content_type,
    decode_off_loop,
    envelope_check,
    note_body_size,
    read_gated_body,
    read_root,
)

BATCH_BYTES = 1024 * 1024
INLINE_BYTES = 64 * 1024  # smaller batches are decoded on the loop: a thread hop would cost more
# Attachments of one request kept in memory together (each below spill_threshold); past this, the next
# ones spill to disk too, so a thousand parts just under the threshold never sit in memory at once.
ATTACHMENTS_IN_MEMORY = 8 * 1024 * 1024

Receive = Callable[[], Awaitable[dict[str, Any]]]


class StreamingDecoder:
    def __init__(self, blobs: BlobStore, max_request_bytes: int, max_envelope_bytes: int, spill_threshold: int,
                 idle_timeout: float | None = None, security: object = None,
                 xml_limits: xmlsafe.XmlLimits | None = None, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self.blobs = blobs
        self.security = security  # the endpoint's hook: it verifies the Header before the Body is read
        self.max_header_bytes = max_header_bytes
        self.xml_limits = replace(xml_limits or xmlsafe.XmlLimits(), max_bytes=max_envelope_bytes)
        self.idle_timeout = idle_timeout  # a body pausing longer is refused (408): xdsservice.idle
        self.max_request_bytes = max_request_bytes
        self.max_envelope_bytes = max_envelope_bytes
        self.spill_threshold = spill_threshold

    async def __call__(self, scope: dict[str, Any], receive: Receive) -> DecodedRequest:
        receive = receive_within(receive, self.idle_timeout)
        header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"content-type"), "")
        ctype = content_type(header)
        check = envelope_check(self.security, header, scope, self.max_header_bytes)
        if not ctype.is_multipart:
            try:
                body = await read_gated_body(receive, self.max_envelope_bytes, check)
            except BodyTooLarge:
                note_body_size(scope, self.max_envelope_bytes)
                raise
            finally:
                if check is not None:
                    check.close()
            note_body_size(scope, len(body))
            decoded = await decode_off_loop(body, header, self.max_envelope_bytes, self.xml_limits,
                                            check.tokens_of(body) if check is not None else False)
            decoded.verified = check.verified if check is not None else None
            return decoded

        assembler = mtom.MtomAssembler(
            ctype,
            sink_factory=self.blobs.sink_factory(self.spill_threshold, limit=self.max_request_bytes,
                                                 budget=mtom.MemoryBudget(ATTACHMENTS_IN_MEMORY)),
            max_root_bytes=self.max_envelope_bytes,
            watcher=check,  # the root part's Header is verified before any attachment is hashed or spooled
        )
        try:
            await self._pump(receive, assembler, check)
            message = assembler.result()
        except BaseException:
            await asyncio.to_thread(assembler.abort)
            raise
        finally:
            if check is not None:
                check.close()
        note_body_size(scope, len(message.root))
        # A large root, or one with new names, is parsed off the loop, by a thread that keeps the tree
        # (provide patches it there): xdsservice.soapapp.read_root.
        try:
            request, owner = await read_root(message.root, self.max_envelope_bytes, self.xml_limits,
                                             check.tokens_of(message.root) if check is not None else False)
        except BaseException:
            _remove_spooled(message.attachments)
            raise
        decoded = DecodedRequest(request, message.attachments, message.root,
                                 verified=check.verified if check is not None else None, tree_thread=owner)
        if any(a.spilled is not None for a in message.attachments.values()):  # else nothing to remove: no
            decoded.on_close.append(lambda: _remove_spooled(message.attachments))  # thread hop per request
        return decoded

    async def _pump(self, receive: Receive, assembler: mtom.MtomAssembler, check: EnvelopeCheck | None) -> None:
        batch: list[bytes] = []
        batched = 0
        async for chunk in body_chunks(receive, self.max_request_bytes):
            if check is not None and check.pending:  # each chunk at once, in the thread where the Header is verified
                await check.in_own_thread(partial(assembler.feed, chunk))
                continue
            batch.append(chunk)
            batched += len(chunk)
            if batched >= BATCH_BYTES:
                await self._feed(assembler, b"".join(batch))
                batch, batched = [], 0
        if batch:
            await self._feed(assembler, b"".join(batch))
        assembler.feed_eof()

    @staticmethod
    async def _feed(assembler: mtom.MtomAssembler, data: bytes) -> None:
        if len(data) > INLINE_BYTES:
            await asyncio.to_thread(assembler.feed, data)
        else:
            assembler.feed(data)


def _remove_spooled(attachments: dict[str, mtom.Attachment]) -> None:
    for attachment in attachments.values():
        if attachment.spilled is not None:
            attachment.spilled.discard()
