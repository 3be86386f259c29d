"""The SOAP service keeps its event loop for I/O: signature checks run in a worker thread, but a request
without a security header takes no thread hop (issue 17)."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from tests.security.server import ServerThread
from xdscore import soap
from xdsservice.config import load_settings
from xdsservice.security import SecuritySettings, build_security_hook
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService
from xuatool import variants
from xuatool.header import request
from xuatool.pki import TestPki

ECHO = "urn:example:echo"
AUDIENCE = "https://xds.example.org/echo"


def test_the_security_hook_runs_on_the_loop_without_a_header_and_off_it_with_one(pki: TestPki, tmp_path: Path) -> None:
    env = {"XDS_SECURITY": "optional", "XDS_TRUST_DIR": str(pki.write(tmp_path)), "XDS_SECURITY_AUDIENCE": AUDIENCE,
           "XDS_PROFILE": "cisis", "XDS_CONFIG": os.devnull}
    verify = build_security_hook(load_settings(SecuritySettings, "echo", env))
    assert verify is not None
    threads: list[tuple[str, str]] = []  # (thread of the hook, thread of the loop)
    hook_thread: list[str] = []

    def hook(req: soap.SoapRequest, context: Any) -> Any:
        hook_thread.append(threading.current_thread().name)
        return verify(req, context)

    async def handler(decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        threads.append((hook_thread[-1], threading.current_thread().name))
        out = etree.Element(f"{{{ECHO}}}EchoResponse")
        out.text = context.principal.name_id if context.principal else "anonymous"
        return SoapReply(out, f"{ECHO}:EchoResponse")

    service = SoapService("/echo", "http://127.0.0.1/echo", {f"{ECHO}:Echo": handler}, security=hook)
    ctx = variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), audience=AUDIENCE)
    with ServerThread(service) as server:
        for security in (None, variants.make("valid", ctx)):
            data = request(etree.Element(f"{{{ECHO}}}Echo"), f"{ECHO}:Echo", security)
            r = httpx.post(server.url("/echo"), content=data, headers={"content-type": "application/soap+xml"}, timeout=30)
            assert r.status_code == 200, r.text
    (anonymous_hook, loop), (signed_hook, loop_again) = threads
    assert anonymous_hook == loop == loop_again  # nothing to verify: no thread hop
    assert signed_hook != loop  # a signature to check: a worker thread, the loop keeps serving
