"""WS-Security verified before the Body is read (xdsservice.early_security; issue 18), on a SoapService
driven through ASGI with a counting `receive`: how much of the body was pulled shows where the refusal
happened. The hook is the real one (`build_security_hook`), the assertions real signatures."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.security import fixtures
from xdscore import mtom, soap, xmlsafe
from xdscore.vocabulary import NS
from xdsservice.config import load_settings
from xdsservice.security import SecuritySettings, WsSecurityHook, build_security_hook
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService
from xuatool import variants
from xuatool.header import request
from xuatool.pki import TestPki

pki = fixtures.pki
ECHO = "urn:example:echo"
ACTION = f"{ECHO}:Echo"
PAD = b"<e:Pad>" + b"p" * 65_000 + b"</e:Pad>"


class Counting(WsSecurityHook):
    """The real hook, counting its verifications."""

    def __init__(self, hook: WsSecurityHook) -> None:
        super().__init__(hook.policy, hook.clock)
        self.headers_verified = 0

    def verify_header(self, header: etree._Element | None, context: Any) -> Any:
        self.headers_verified += 1
        return super().verify_header(header, context)


def hook_for(mode: str, pki: TestPki, folder: Path) -> Counting:
    env = {"XDS_SECURITY": mode, "XDS_TRUST_DIR": str(pki.write(folder)), "XDS_CONFIG": os.devnull}
    hook = build_security_hook(load_settings(SecuritySettings, "echo", env))
    assert hook is not None
    return Counting(hook)


@pytest.fixture
def required(pki: TestPki, tmp_path: Path) -> Counting:
    return hook_for("required", pki, tmp_path)


@pytest.fixture
def optional(pki: TestPki, tmp_path: Path) -> Counting:
    return hook_for("optional", pki, tmp_path)


class Echo:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, int]] = []  # (principal, attachments)

    def __call__(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        self.calls.append((context.principal, len(decoded.attachments)))
        return SoapReply(etree.Element(f"{{{ECHO}}}EchoResponse"), f"{ECHO}:EchoResponse")


def security(pki: TestPki, variant: str) -> etree._Element:
    return variants.make(variant, variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC), profile="xua"))


def envelope(sec: etree._Element | None, pads: int = 0) -> bytes:
    body = etree.Element(f"{{{ECHO}}}Echo", nsmap={"e": ECHO})
    body.text = "x"
    data = request(body, ACTION, sec)
    assert b"</e:Echo>" in data
    return data.replace(b"</e:Echo>", PAD * pads + b"</e:Echo>") if pads else data


def chunks_of(data: bytes, size: int = 65_536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def call(service: SoapService, content_type: str, pieces: Iterator[bytes]) -> tuple[int, etree._Element, int]:
    """(HTTP status, the answer's envelope, how many body messages the service pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []
    pending = next(pieces, None)

    async def receive() -> dict[str, Any]:
        nonlocal pulled, pending
        pulled += 1
        chunk, pending = pending, next(pieces, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": pending is not None}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/echo", "query_string": b"", "client": ("127.0.0.1", 1),
             "headers": [(b"content-type", content_type.encode())]}
    asyncio.run(service(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], xmlsafe.parse_bytes(body), pulled


def endless(head: bytes, filler: bytes) -> Iterator[bytes]:
    yield head
    while True:
        yield filler


def subcode(answer: etree._Element) -> str:
    """The fault's subcode as wsse:Name (whatever prefix the service chose)."""
    value = answer.findtext(f".//{{{NS.SOAP12}}}Subcode/{{{NS.SOAP12}}}Value") or ":"
    return "wsse:" + value.split(":", 1)[1]


SOAP = "application/soap+xml; charset=utf-8"


def test_a_valid_assertion_is_verified_once_and_reaches_the_handler(required: Counting, pki: TestPki) -> None:
    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo}, security=required)
    status, answer, _ = call(service, SOAP, chunks_of(envelope(security(pki, "valid"), pads=20)))
    assert status == 200, etree.tostring(answer)
    assert required.headers_verified == 1  # on the Header, before the Body: never again on the whole envelope
    [(principal, _)] = echo.calls
    assert principal is not None and principal.name_id


@pytest.mark.parametrize(("variant", "expected"), [
    ("tampered", "wsse:FailedCheck"), ("untrusted", "wsse:FailedAuthentication"), ("expired", "wsse:InvalidSecurityToken"),
    ("unsigned", "wsse:InvalidSecurityToken"),
])
def test_a_forged_assertion_is_refused_before_the_body_is_pulled(required: Counting, pki: TestPki, variant: str,
                                                                   expected: str) -> None:
    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo}, security=required)
    data = envelope(security(pki, variant))
    head = data[: data.index(b"<e:Echo")] + b"<e:Echo>"
    status, answer, pulled = call(service, SOAP, endless(head, PAD))
    assert (status, subcode(answer)) == (400, expected)
    assert pulled == 1 and echo.calls == []
    message_id = etree.fromstring(data).findtext(f".//{{{NS.WSA}}}MessageID")
    assert answer.findtext(f".//{{{NS.WSA}}}RelatesTo") == message_id


def test_an_id_of_the_body_repeating_the_assertion_is_still_refused(required: Counting, pki: TestPki) -> None:
    """What the Header alone cannot show is checked once the envelope is parsed (wssec: unique IDs)."""
    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo}, security=required)
    sec = security(pki, "valid")
    assertion_id = sec.find(f"{{{NS.SAML2}}}Assertion").get("ID")  # type: ignore[union-attr]
    data = envelope(sec).replace(b"<e:Echo", b'<e:Echo ID="' + assertion_id.encode() + b'"', 1)
    status, answer, _ = call(service, SOAP, chunks_of(data))
    assert (status, subcode(answer)) == (400, "wsse:InvalidSecurity")
    assert "appears more than once" in (answer.findtext(f".//{{{NS.SOAP12}}}Text") or "")
    assert echo.calls == [] and required.headers_verified == 1


def test_optional_mode_lets_anonymous_calls_through_and_refuses_a_forged_one_early(optional: Counting,
                                                                                    pki: TestPki) -> None:
    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo}, security=optional)
    status, _, _ = call(service, SOAP, chunks_of(envelope(None, pads=3)))
    assert status == 200 and echo.calls == [(None, 0)]
    data = envelope(security(pki, "tampered"))
    status, answer, pulled = call(service, SOAP, endless(data[: data.index(b"<e:Echo")] + b"<e:Echo>", PAD))
    assert (status, subcode(answer), pulled) == (400, "wsse:FailedCheck", 1)


def mtom_pieces(data: bytes, attachment: Iterator[bytes], root_first: bool = True) -> tuple[str, Iterator[bytes]]:
    boundary = "MIMEBoundary_early"
    root = (f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n"
            f"Content-ID: <root@x>\r\n\r\n").encode() + data
    part_head = f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <doc@x>\r\n\r\n".encode()
    content_type = (f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="<root@x>"; '
                    f'start-info="application/soap+xml"')

    def pieces() -> Iterator[bytes]:
        if root_first:
            yield root
            yield part_head
            yield from attachment
        else:
            yield part_head[2:]
            yield b"x" * 1000
            yield b"\r\n" + root
        yield f"\r\n--{boundary}--\r\n".encode()

    return content_type, pieces()


def test_an_mtom_request_with_a_forged_assertion_is_refused_before_its_attachment(required: Counting,
                                                                                  pki: TestPki) -> None:
    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo}, security=required)
    for variant in ("tampered", None):
        content_type, pieces = mtom_pieces(envelope(security(pki, variant) if variant else None), endless(b"", b"x" * 65_536))
        status, answer, pulled = call(service, content_type, pieces)
        assert status == 400 and subcode(answer) == ("wsse:FailedCheck" if variant else "wsse:InvalidSecurity")
        assert pulled == 1 and echo.calls == []


def test_an_mtom_request_with_a_valid_assertion_keeps_its_attachment(required: Counting, pki: TestPki) -> None:
    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo}, security=required)
    content_type, pieces = mtom_pieces(envelope(security(pki, "valid")), iter([b"x" * 300_000]))
    status, answer, _ = call(service, content_type, pieces)
    assert status == 200, etree.tostring(answer)
    [(principal, attachments)] = echo.calls
    assert principal is not None and attachments == 1 and required.headers_verified == 1


def test_an_attachment_before_the_envelope(required: Counting, optional: Counting, pki: TestPki) -> None:
    """`required` refuses it (the Header must be judged before attachments are read); `optional` verifies
    the Header once the envelope is parsed, as for any request it could not judge early."""
    data = envelope(security(pki, "valid"))
    content_type, pieces = mtom_pieces(data, iter(()), root_first=False)
    status, answer, _ = call(SoapService("/echo", "http://x/echo", {ACTION: Echo()}, security=required), content_type, pieces)
    assert status == 400 and "attachment came before the SOAP envelope" in (answer.findtext(f".//{{{NS.SOAP12}}}Text") or "")
    echo = Echo()
    content_type, pieces = mtom_pieces(data, iter(()), root_first=False)
    status, _, _ = call(SoapService("/echo", "http://x/echo", {ACTION: echo}, security=optional), content_type, pieces)
    assert status == 200 and echo.calls[0][0] is not None and optional.headers_verified == 1


def test_a_hook_without_verify_header_is_called_on_the_whole_request(pki: TestPki) -> None:
    seen: list[int] = []

    def hook(req: soap.SoapRequest, context: Any) -> None:
        seen.append(len(req.body))
        return None

    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo}, security=hook)
    status, _, _ = call(service, SOAP, chunks_of(envelope(None, pads=3)))
    assert status == 200 and seen == [3]


def test_mtom_bodies_still_decode_without_a_hook() -> None:
    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo})
    content_type, body = mtom.encode_message(envelope(None), [mtom.Part("doc@x", "text/plain", b"hello")], ACTION)
    status, _, _ = call(service, content_type, chunks_of(body, 7))
    assert status == 200 and echo.calls == [(None, 1)]


def test_a_body_scanned_for_names_by_the_check_is_not_scanned_again(optional: Counting,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The check scans the body's names as it comes (xdscore.names.Scanner); a body that came in one piece
    is parsed with that scan (xdsservice.names.parse), not scanned a second time (issue 15)."""
    from xdscore import names as xnames

    scans: list[int] = []
    real = xnames.tokens

    def counted(data: bytes) -> frozenset[bytes] | None:
        scans.append(len(data))
        return real(data)

    monkeypatch.setattr(xnames, "tokens", counted)
    echo = Echo()
    service = SoapService("/echo", "http://x/echo", {ACTION: echo}, security=optional)
    data = envelope(None)
    for _ in range(2):  # the second time its names are known: parsed on the loop, with the check's scan
        scans.clear()
        assert call(service, SOAP, iter([data]))[0] == 200
        assert scans == [len(data)]
    content_type, pieces = mtom_pieces(data, iter([b"x" * 1000]))
    scans.clear()
    assert call(service, content_type, iter([b"".join(pieces)]))[0] == 200
    assert scans == [len(data)]  # the root part, scanned once
    scans.clear()
    assert call(service, SOAP, iter([data[:100], data[100:]]))[0] == 200  # in pieces: the parse scans it whole
    assert len(data) in scans
    assert [p for p, _ in echo.calls] == [None] * 4
