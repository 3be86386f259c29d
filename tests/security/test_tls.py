"""xdsservice.tls: HTTPS with and without client certificates on a real uvicorn server."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.security.server import ServerThread
from xdsservice.config import load_settings
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService
from xdsservice.tls import (
    TlsConfigError,
    TlsSettings,
    client_ssl_context,
    server_ssl_context,
    uvicorn_ssl_kwargs,
)
from xuatool.header import request
from xuatool.pki import TestPki

ACTION = "urn:example:echo:Echo"


def echo(decoded: DecodedRequest, context: RequestContext) -> SoapReply:
    return SoapReply(body=etree.Element("{urn:example:echo}EchoResponse"), action=ACTION + "Response")


@pytest.fixture(scope="module")
def files(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tls")
    pki.write(folder)
    return folder


def settings(files: Path, client_auth: str) -> TlsSettings:
    return TlsSettings(
        cert=str(files / "server.pem"), key=str(files / "server.key"),
        client_ca=str(files / "trust") if client_auth != "none" else "", client_auth=client_auth,
    )


def call(url: str, ctx: ssl.SSLContext) -> int:
    data = request(etree.Element("{urn:example:echo}Echo"), ACTION, None)
    r = httpx.post(url, content=data, headers={"content-type": "application/soap+xml"}, verify=ctx, timeout=10)
    return r.status_code


def test_plain_http_when_not_configured() -> None:
    assert uvicorn_ssl_kwargs(load_settings(TlsSettings, "registry", {"XDS_CONFIG": os.devnull})) == {}
    assert server_ssl_context(TlsSettings()) is None


def test_https_without_client_certificate(files: Path) -> None:
    app = SoapService("/echo", "https://127.0.0.1/echo", {ACTION: echo})
    with ServerThread(app, **uvicorn_ssl_kwargs(settings(files, "none"))) as server:
        assert call(server.url("/echo", "https"), client_ssl_context(str(files / "trust"))) == 200
        with pytest.raises(httpx.ConnectError):  # the server's CA is not in the system store
            call(server.url("/echo", "https"), client_ssl_context())


def test_mutual_tls_required(files: Path) -> None:
    app = SoapService("/echo", "https://127.0.0.1/echo", {ACTION: echo})
    with ServerThread(app, **uvicorn_ssl_kwargs(settings(files, "required"))) as server:
        url = server.url("/echo", "https")
        with_cert = client_ssl_context(str(files / "trust"), str(files / "client.pem"), str(files / "client.key"))
        assert call(url, with_cert) == 200
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            call(url, client_ssl_context(str(files / "trust")))
        rogue = client_ssl_context(str(files / "trust"), str(files / "rogue.pem"), str(files / "rogue.key"))
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            call(url, rogue)


def test_server_context_for_the_audit_sink(files: Path) -> None:
    ctx = server_ssl_context(settings(files, "required"))
    assert ctx is not None and ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2


def test_settings_from_environment(files: Path) -> None:
    env = {
        "XDS_CONFIG": os.devnull,
        "XDS_TLS_CERT": str(files / "server.pem"),
        "XDS_TLS_KEY": str(files / "server.key"),
        "XDS_REPOSITORY_TLS_CLIENT_AUTH": "required",
        "XDS_REPOSITORY_TLS_CLIENT_CA": str(files / "trust" / "ca.pem"),
    }
    repo = load_settings(TlsSettings, "repository", env)
    assert repo.cert_reqs is ssl.CERT_REQUIRED and repo.client_ca.endswith("ca.pem")
    assert load_settings(TlsSettings, "registry", env).cert_reqs is ssl.CERT_NONE
    kwargs = uvicorn_ssl_kwargs(repo)
    assert kwargs["ssl_cert_reqs"] is ssl.CERT_REQUIRED and kwargs["ssl_ca_certs"].endswith("ca.pem")


def test_inconsistent_settings_are_refused(files: Path) -> None:
    with pytest.raises(TlsConfigError):
        TlsSettings(client_auth="required").check()
    with pytest.raises(TlsConfigError):
        TlsSettings(cert=str(files / "server.pem"), client_auth="required").check()
    with pytest.raises(TlsConfigError):
        TlsSettings(cert="/nonexistent.pem").check()
    with pytest.raises(TlsConfigError):
        TlsSettings(cert=str(files / "server.pem"), client_auth="sometimes").check()
