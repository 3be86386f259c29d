"""The repository's streaming decoder under XDS_SECURITY=required: an anonymous plain SOAP envelope is
refused once its Header is read (xdscore.envelope_gate; issue 18)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from repository.blobs import BlobStore
from repository.intake import StreamingDecoder
from xdscore import wssec
from xdscore.wsse_faults import SecurityFault
from xdsservice.security import WsSecurityHook


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
