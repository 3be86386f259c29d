"""WS-Security over real HTTP: a SoapService on uvicorn whose security hook comes from settings.

The single handler records every call; each bad assertion must get its SOAP 1.2 fault (Sender + wsse
subcode, HTTP 400) and leave the handler uncalled. The valid ones reach it with their Principal.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.security.server import ServerThread
from xdscore import soap, xmlsafe
from xdscore.principal import Principal
from xdscore.vocabulary import NS
from xdsservice.config import load_settings
from xdsservice.security import SecuritySettings, build_security_hook
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService
from xuatool import variants
from xuatool.header import request
from xuatool.pki import TestPki

ECHO = "urn:example:echo"
ACTION = f"{ECHO}:Echo"
PATH = "/echo"
AUDIENCE = "https://xds.example.org/echo"


@dataclass
class Recorder:
    calls: list[Principal | None] = field(default_factory=list)

    def __call__(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        self.calls.append(context.principal)
        out = etree.Element(f"{{{ECHO}}}EchoResponse")
        out.text = context.principal.name_id if context.principal else "anonymous"
        return SoapReply(body=out, action=f"{ECHO}:EchoResponse")


def service(mode: str, trust: Path, recorder: Recorder) -> SoapService:
    env = {"XDS_SECURITY": mode, "XDS_TRUST_DIR": str(trust), "XDS_SECURITY_AUDIENCE": AUDIENCE, "XDS_PROFILE": "cisis",
           "XDS_CONFIG": os.devnull}
    hook = build_security_hook(load_settings(SecuritySettings, "echo", env))
    return SoapService(PATH, "http://127.0.0.1/echo", {ACTION: recorder}, security=hook)


@pytest.fixture(scope="module")
def trust(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pki.write(tmp_path_factory.mktemp("pki"))


@dataclass
class Running:
    url: str
    recorder: Recorder


@pytest.fixture(scope="module")
def required(trust: Path) -> Iterator[Running]:
    recorder = Recorder()
    with ServerThread(service("required", trust, recorder)) as server:
        yield Running(server.url(PATH), recorder)


def post(url: str, security: etree._Element | None) -> httpx.Response:
    body = etree.Element(f"{{{ECHO}}}Echo")
    data = request(body, ACTION, security)
    return httpx.post(url, content=data, headers={"content-type": "application/soap+xml; charset=utf-8"}, timeout=10)


def fault_of(response: httpx.Response) -> tuple[str, tuple[str, str] | None, str]:
    assert response.headers["content-type"].startswith("application/soap+xml")
    root = xmlsafe.parse_bytes(response.content)
    parsed = soap.read_fault(root)
    assert parsed is not None, response.text
    value = root.find(f".//{{{NS.SOAP12}}}Subcode/{{{NS.SOAP12}}}Value")
    sub = None
    if value is not None and value.text:
        prefix, local = value.text.split(":")
        sub = (value.nsmap[prefix], local)
    return parsed.code, sub, parsed.reason


def test_every_variant_over_http(required: Running, pki: TestPki) -> None:
    ctx = variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), audience=AUDIENCE)
    for name in variants.names("vihf"):
        before = len(required.recorder.calls)
        response = post(required.url, variants.make(name, ctx))
        expected = variants.expected_fault(name)
        if expected is None:
            assert response.status_code == 200, (name, response.text)
            assert len(required.recorder.calls) == before + 1
            principal = required.recorder.calls[-1]
            assert principal is not None and principal.name_id == "899700000001" and principal.is_vihf
        else:
            assert response.status_code == 400, (name, response.text)
            code, sub, reason = fault_of(response)
            assert code == "soap:Sender" and sub == (NS.WSSE, expected.value), (name, sub, reason)
            assert reason
            assert len(required.recorder.calls) == before, f"{name} reached the handler"


def test_required_mode_refuses_a_call_without_assertion(required: Running) -> None:
    before = len(required.recorder.calls)
    response = post(required.url, None)
    assert response.status_code == 400
    assert fault_of(response)[1] == (NS.WSSE, "InvalidSecurity")
    assert len(required.recorder.calls) == before


def test_optional_mode(trust: Path, pki: TestPki) -> None:
    recorder = Recorder()
    ctx = variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), audience=AUDIENCE)
    with ServerThread(service("optional", trust, recorder)) as server:
        anonymous = post(server.url(PATH), None)
        assert anonymous.status_code == 200 and b"anonymous" in anonymous.content
        assert recorder.calls == [None]
        signed = post(server.url(PATH), variants.make("valid", ctx))
        assert signed.status_code == 200 and b"899700000001" in signed.content
        tampered = post(server.url(PATH), variants.make("tampered", ctx))
        assert tampered.status_code == 400 and fault_of(tampered)[1] == (NS.WSSE, "FailedCheck")
        assert len(recorder.calls) == 2


def test_off_mode_does_not_understand_a_mandatory_security_header(trust: Path, pki: TestPki) -> None:
    """`off` processes no wsse:Security: one marked mustUnderstand is a MustUnderstand fault (SOAP 1.2
    Part 1 §5.2.3, HTTP 500 per Part 2 §7.5.2.2); one not marked is ignored, as before."""
    recorder = Recorder()
    ctx = variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC))
    assert build_security_hook(load_settings(SecuritySettings, "echo", {"XDS_SECURITY": "off", "XDS_CONFIG": os.devnull})) is None
    mandatory = variants.make("valid", ctx)
    assert mandatory.get(f"{{{NS.SOAP12}}}mustUnderstand") == "true"
    with ServerThread(service("off", trust, recorder)) as server:
        response = post(server.url(PATH), mandatory)
        assert response.status_code == 500, response.text
        code, sub, reason = fault_of(response)
        assert code == "soap:MustUnderstand" and sub is None and "Security" in reason
        assert recorder.calls == []
        for value in ("false", "0"):
            optional_header = variants.make("tampered", ctx)
            optional_header.set(f"{{{NS.SOAP12}}}mustUnderstand", value)
            response = post(server.url(PATH), optional_header)
            assert response.status_code == 200 and b"anonymous" in response.content
        not_marked = variants.make("tampered", ctx)
        del not_marked.attrib[f"{{{NS.SOAP12}}}mustUnderstand"]
        assert post(server.url(PATH), not_marked).status_code == 200
        assert recorder.calls == [None, None, None]


def test_optional_and_required_modes_understand_the_security_header(required: Running, trust: Path, pki: TestPki) -> None:
    ctx = variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), audience=AUDIENCE)
    assert post(required.url, variants.make("valid", ctx)).status_code == 200
    recorder = Recorder()
    with ServerThread(service("optional", trust, recorder)) as server:
        assert post(server.url(PATH), variants.make("valid", ctx)).status_code == 200
        # processed, so a bad one is a wsse fault, not MustUnderstand
        assert fault_of(post(server.url(PATH), variants.make("tampered", ctx)))[1] == (NS.WSSE, "FailedCheck")
