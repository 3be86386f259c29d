"""The SOAP service keeps its event loop for I/O: signature checks run in a worker thread, but a request
without a security header takes no thread hop (issue 17); that worker thread only reads the tree another
thread parsed (issue 16)."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from tests.security.server import ServerThread
from xdscore import soap, xmlsafe
from xdsservice.config import load_settings
from xdsservice.early_security import EnvelopeCheck
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


def test_verification_leaves_the_parsed_request_untouched(pki: TestPki, tmp_path: Path) -> None:
    """xmlsec registers the ID of the assertion it verifies in the assertion's document (libxml2's ID table,
    keyed in the document's string dictionary). That dictionary is the one of the thread that parsed the
    request, the event loop's or the gate's, which goes on parsing other requests while a worker verifies: a
    write into a dictionary with no lock while its owner writes too. The hook verifies a copy of its own: the
    request's tree, whole or the gate's partial one, is only read, and XPath's id() finds nothing registered
    in it afterwards."""
    env = {"XDS_SECURITY": "required", "XDS_TRUST_DIR": str(pki.write(tmp_path)), "XDS_CONFIG": os.devnull}
    hook = build_security_hook(load_settings(SecuritySettings, "echo", env))
    assert hook is not None
    security = variants.make("valid", variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), profile="xua"))
    data = request(etree.Element(f"{{{ECHO}}}Echo"), f"{ECHO}:Echo", security)

    whole = soap.read_envelope(xmlsafe.parse_bytes(data))  # the late call, on the whole request
    assertion = whole.header.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    assert assertion is not None
    assertion_id = assertion.get("ID")
    principal = hook(whole, None)
    assert principal is not None and principal.assertion_id == assertion_id
    assert whole.envelope.getroottree().xpath("id($i)", i=assertion_id) == []

    check = EnvelopeCheck(hook, None)  # the early call, on the gate's partial envelope
    check.root_data(data)
    assert check.verified is not None and check.verified.principal.assertion_id == assertion_id
    assert check.gate.header is not None
    assert check.gate.header.getroottree().xpath("id($i)", i=assertion_id) == []
