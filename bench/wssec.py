"""Cost of WS-Security verification per request (IHE XUA / VIHF signed assertion).

Two parts:
1. In-process, one thread: requests/s of each step (parse, full `xdscore.wssec.verify`, the xmlsec
   signature alone, the certificate chain alone) and, for the xmlsec-vs-signxml decision, signxml
   verifying the same assertion.
2. Over HTTP: a SoapService with one echo handler on uvicorn (separate process, 1 worker, httptools,
   no access log) and a keep-alive asyncio load generator with N connections, in three set-ups:
   security off without header, security off with the signed header (cost of carrying it), security
   required (every request verified).

Run from the project root:  .venv/bin/python -m bench.wssec [--seconds 8] [--connections 16]
(signxml is the `[bench]` extra: `pip install -e ".[bench]"`; `make install` brings it with the tests.)
The machine is shared with other work: figures are noisy; rerun on a quiet machine for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

ECHO = "urn:example:echo"
ACTION = f"{ECHO}:Echo"
PATH = "/echo"


# --- the server side (run in a subprocess: `python -m bench.wssec serve ...`) ---


def make_app(mode: str, trust: str) -> Any:
    from xdsservice.config import load_settings
    from xdsservice.security import SecuritySettings, build_security_hook
    from xdsservice.soapapp import (
        DecodedRequest,
        RequestContext,
        SoapReply,
        SoapService,
    )

    def echo(decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        out = etree.Element(f"{{{ECHO}}}EchoResponse")
        out.text = context.principal.name_id if context.principal else "anonymous"
        return SoapReply(body=out, action=f"{ECHO}:EchoResponse")

    env = {"XDS_SECURITY": mode, "XDS_TRUST_DIR": trust, "XDS_PROFILE": "cisis", "XDS_CONFIG": os.devnull}
    hook = build_security_hook(load_settings(SecuritySettings, "bench", env))
    return SoapService(PATH, "http://127.0.0.1/echo", {ACTION: echo}, security=hook)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        make_app(args.mode, args.trust), host="127.0.0.1", port=args.port, log_level="warning",
        access_log=False, http="httptools", loop="uvloop", lifespan="off",
    )
    return 0


# --- measurements ---


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def in_process(seconds: float) -> list[tuple[str, float]]:
    import xmlsec
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        from signxml.verifier import XMLVerifier
    except ImportError:  # the fallback verifier is an extra (setup.cfg), not a dependency of the services
        raise SystemExit("bench.wssec measures signxml too: pip install -e '.[bench]'") from None

    from xdscore import soap, wssec, xmldsig, xmlsafe
    from xuatool import variants
    from xuatool.header import request
    from xuatool.pki import generate

    pki = generate()
    now = dt.datetime.now(dt.UTC)
    sec = variants.make("valid", variants.VariantContext(pki=pki, now=now))
    data = request(etree.Element(f"{{{ECHO}}}Echo"), ACTION, sec)
    policy = wssec.Policy(trust_anchors=pki.trust_anchors, now=now, profile=wssec.Profile.VIHF)

    def parse() -> object:
        return soap.read_envelope(xmlsafe.parse_bytes(data))

    def full() -> object:
        return wssec.verify(soap.read_envelope(xmlsafe.parse_bytes(data)).header, policy)

    root = xmlsafe.parse_bytes(data)
    assertion = wssec.find_assertion(wssec.find_security_header(soap.read_envelope(root).header))
    assert assertion is not None
    signature = xmldsig.find_signature(assertion)
    leaf_der = pki.seal.certificate.public_bytes(Encoding.DER)

    def xmlsec_only() -> None:
        ctx = xmlsec.SignatureContext()
        ctx.key = xmlsec.Key.from_memory(leaf_der, xmlsec.constants.KeyDataFormatCertDer)
        ctx.register_id(assertion, "ID")
        ctx.verify(signature)

    def chain_only() -> object:
        return xmldsig.verify_chain(pki.seal.certificate, [], pki.trust_anchors, now)

    assertion_bytes = etree.tostring(assertion)
    cert_pem = pki.seal.cert_pem().decode()

    def signxml_only() -> object:
        return XMLVerifier().verify(assertion_bytes, x509_cert=cert_pem, expect_references=1, id_attribute="ID")

    def xmlsec_standalone() -> None:
        a = etree.fromstring(assertion_bytes)
        ctx = xmlsec.SignatureContext()
        ctx.key = xmlsec.Key.from_memory(leaf_der, xmlsec.constants.KeyDataFormatCertDer)
        ctx.register_id(a, "ID")
        ctx.verify(a.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))

    return [
        ("parse + read envelope (no security)", rate(parse, seconds)),
        ("parse + full wssec.verify (VIHF, RSA-SHA256)", rate(full, seconds)),
        ("xmlsec signature only (parsed message)", rate(xmlsec_only, seconds)),
        ("certificate chain only (cryptography)", rate(chain_only, seconds)),
        ("xmlsec: parse assertion + verify", rate(xmlsec_standalone, seconds)),
        ("signxml: parse assertion + verify", rate(signxml_only, seconds)),
    ]


async def _worker(port: int, payload: bytes, stop_at: float, stats: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    message = head + payload
    length = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        writer.write(message)
        response_head = await reader.readuntil(b"\r\n\r\n")
        m = length.search(response_head)
        await reader.readexactly(int(m.group(1)) if m else 0)
        if response_head[9:12] == b"200":
            stats.append(time.perf_counter() - t0)
        else:
            errors.append(int(response_head[9:12]))
    writer.close()


async def _load(port: int, payload: bytes, seconds: float, connections: int) -> tuple[float, float, int]:
    stats: list[float] = []
    errors: list[int] = []
    await asyncio.gather(*[_worker(port, payload, time.perf_counter() + 1.0, [], []) for _ in range(connections)])
    start = time.perf_counter()
    await asyncio.gather(*[_worker(port, payload, start + seconds, stats, errors) for _ in range(connections)])
    elapsed = time.perf_counter() - start
    mean_ms = 1000 * sum(stats) / len(stats) if stats else float("nan")
    return len(stats) / elapsed, mean_ms, len(errors)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def over_http(seconds: float, connections: int) -> list[tuple[str, float, float, int]]:
    from xuatool import variants
    from xuatool.header import request
    from xuatool.pki import generate

    pki = generate()
    folder = Path(tempfile.mkdtemp(prefix="bench-wssec-"))
    trust = pki.write(folder)
    now = dt.datetime.now(dt.UTC)
    # One assertion valid for the whole run (a client would reuse its VIHF for a session).
    sec = variants.make("valid", variants.VariantContext(pki=pki, now=now, timestamp=False))
    plain = request(etree.Element(f"{{{ECHO}}}Echo"), ACTION, None)
    signed = request(etree.Element(f"{{{ECHO}}}Echo"), ACTION, sec)
    # `off` does not process wsse:Security, so a mandatory one is a MustUnderstand fault (SOAP 1.2):
    # the "carried and ignored" row sends it without mustUnderstand.
    optional_sec = copy.deepcopy(sec)
    optional_sec.attrib.pop("{http://www.w3.org/2003/05/soap-envelope}mustUnderstand", None)
    carried = request(etree.Element(f"{{{ECHO}}}Echo"), ACTION, optional_sec)
    results = []
    for label, mode, payload in (
        ("security off, no header", "off", plain),
        ("security off, signed header ignored", "off", carried),
        ("security required, every request verified", "required", signed),
    ):
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.wssec", "serve", "--mode", mode, "--trust", str(trust), "--port", str(port)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise RuntimeError("bench server did not start") from None
                    time.sleep(0.1)
            rps, mean_ms, errors = asyncio.run(_load(port, payload, seconds, connections))
            results.append((label, rps, mean_ms, errors))
        finally:
            server.terminate()
            server.wait(10)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wssec", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    s = sub.add_parser("serve")
    s.add_argument("--mode", required=True)
    s.add_argument("--trust", required=True)
    s.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (shared machine: figures are noisy)")
    print("\nIn process, one thread:")
    for label, value in in_process(min(args.seconds, 3.0)):
        print(f"  {label:48} {value:8.0f} /s   {1000 / value:6.3f} ms")
    if not args.skip_http:
        print(f"\nOver HTTP (uvicorn 1 worker + asyncio client, {args.connections} connections, {args.seconds:.0f} s):")
        for label, rps, mean_ms, errors in over_http(args.seconds, args.connections):
            print(f"  {label:48} {rps:8.0f} req/s   mean {mean_ms:6.2f} ms   non-200: {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
