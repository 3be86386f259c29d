"""Stand-ins for "a vendor's endpoints" that the kit is pointed at: a SOAP 1.2 HTTP server answering with
canned responses, and an MLLP listener answering HL7 ACKs. The kit is the thing under test here.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from lxml import etree

from xdscore import mtom
from xdscore.soap import write_response
from xdscore.vocabulary import NS

RS = NS.RS
RIM = NS.RIM
QUERY = NS.QUERY
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


@dataclass
class Received:
    action: str
    body: etree._Element
    content_type: str
    attachments: dict[str, mtom.Attachment]


@dataclass
class Reply:
    body: etree._Element
    parts: list[mtom.Part] = field(default_factory=list)  # MTOM reply when not empty or mtom=True
    mtom: bool = False
    http_status: int = 200


Handler = Callable[[Received], Reply]


def registry_response(status: str = SUCCESS, errors: list[tuple[str, str, str]] = ()) -> etree._Element:
    """rs:RegistryResponse with (code, context, severity-suffix) errors."""
    rr = etree.Element(f"{{{RS}}}RegistryResponse", status=status)
    if errors:
        rel = etree.SubElement(rr, f"{{{RS}}}RegistryErrorList")
        for code, context, sev in errors:
            etree.SubElement(
                rel, f"{{{RS}}}RegistryError", errorCode=code, codeContext=context,
                severity=f"urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:{sev}",
            )
    return rr


def query_response(objects: list[etree._Element], status: str = SUCCESS) -> etree._Element:
    resp = etree.Element(f"{{{QUERY}}}AdhocQueryResponse", status=status, nsmap={"query": QUERY, "rim": RIM})
    rol = etree.SubElement(resp, f"{{{RIM}}}RegistryObjectList")
    for o in objects:
        rol.append(o)
    return resp


class FakeSoapEndpoint:
    def __init__(self, handler: Handler):
        self.handler = handler
        self.received: list[Received] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ctype = self.headers.get("Content-Type", "")
                ct = mtom.ContentType.parse(ctype)
                attachments: dict[str, mtom.Attachment] = {}
                if ct.is_multipart:
                    msg = mtom.decode_message(raw, ct)
                    root, attachments = msg.root, msg.attachments
                else:
                    root = raw
                env = etree.fromstring(root)
                action = env.findtext(f"{{{NS.SOAP12}}}Header/{{{NS.WSA}}}Action", "").strip()
                body = next(c for c in env.find(f"{{{NS.SOAP12}}}Body") if isinstance(c.tag, str))
                rec = Received(action, body, ctype, attachments)
                outer.received.append(rec)
                reply = outer.handler(rec)
                env_bytes = write_response(reply.body, action + "Response", None)
                if reply.parts or reply.mtom:
                    content_type, payload = mtom.encode_message(env_bytes, reply.parts)
                else:
                    content_type, payload = "application/soap+xml; charset=UTF-8", env_bytes
                self.send_response(reply.http_status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/xds"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeMllpListener:
    """Acknowledges every framed HL7 message with MSA-1 = `ack_code` (or what `responder(message)` returns:
    the MSA-1 code and extra segments)."""

    def __init__(self, ack_code: str = "AA", responder: Callable[[str], tuple[str, str]] | None = None):
        self.ack_code = ack_code
        self.responder = responder
        self.messages: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.02)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                buf = b""
                while b"\x1c\r" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                msg = buf.strip(b"\x0b\x1c\r").decode()
                self.messages.append(msg)
                control = msg.split("\r")[0].split("|")[9]
                code, extra = self.responder(msg) if self.responder else (self.ack_code, "")
                ack = f"MSH|^~\\&|REG|X|SRC|Y|20250101||ACK^A01|A{control}|P|2.5\rMSA|{code}|{control}\r{extra}"
                conn.sendall(b"\x0b" + ack.encode() + b"\x1c\r")

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()
        self.sock.close()
