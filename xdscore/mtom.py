"""MTOM/XOP packaging of SOAP 1.2 messages (W3C SOAP MTOM, XOP 1.0; ITI TF-2x V.3.6; RFC 2387, RFC 2392).

In-memory form: `decode_message` splits a whole `multipart/related` body into the root SOAP part and
its attachments by Content-ID; `encode_message` builds one. `cid:` hrefs are URL-decoded before they
are matched against Content-ID headers (RFC 2392), as NIST test PnrXop/encodedURL requires.
No I/O.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Iterable
from urllib.parse import unquote

from lxml import etree

from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS

XOP_INCLUDE = f"{{{NS.XOP}}}Include"


@dataclass(frozen=True)
class ContentType:
    """A parsed Content-Type header: media type (lower case) and its parameters (names lower case)."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, header: str) -> "ContentType":
        msg = Message()
        msg["content-type"] = header
        media = msg.get_content_type().lower()
        params: dict[str, str] = {}
        for key, value in msg.get_params(failobj=[], header="content-type")[1:]:
            params[key.lower()] = str(value)
        return cls(media, params)

    @property
    def is_multipart(self) -> bool:
        return self.media_type == "multipart/related"


@dataclass
class Attachment:
    """One MIME part referenced from the XML by Content-ID: in memory (`data`) or on disk (`path`)."""

    content_id: str
    content_type: str = "application/octet-stream"
    data: bytes | None = None
    path: Path | None = None
    size: int = 0
    sha1: str | None = None  # hex, lower case; set by the streaming reader

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is not None:
            return self.path.read_bytes()
        return b""


@dataclass
class MtomMessage:
    root: bytes  # the SOAP envelope (application/xop+xml part)
    attachments: dict[str, Attachment]


def normalize_cid(value: str) -> str:
    """Content-ID header `<x@y>` or href `cid:x%40y` → `x@y`."""
    value = value.strip()
    if value.lower().startswith("cid:"):
        value = unquote(value[4:])
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def _split_headers(part: bytes) -> tuple[dict[str, str], bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = part.find(sep)
        if idx >= 0:
            head, body = part[:idx], part[idx + len(sep) :]
            break
    else:
        raise SoapFault(FaultCode.SENDER, "MIME part has no header/body separator")
    headers: dict[str, str] = {}
    last = None
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and last:  # folded header
            headers[last] += " " + line.strip().decode("latin-1")
            continue
        name, _, value = line.partition(b":")
        last = name.strip().decode("latin-1").lower()
        headers[last] = value.strip().decode("latin-1")
    return headers, body


def split_multipart(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart body into (headers, content) parts; tolerant of LF-only line ends."""
    delim = b"--" + boundary.encode("latin-1")
    start = body.find(delim)
    if start < 0:
        raise SoapFault(FaultCode.SENDER, "multipart body does not contain its boundary")
    parts: list[tuple[dict[str, str], bytes]] = []
    pos = start + len(delim)
    while True:
        if body[pos : pos + 2] == b"--":
            return parts
        # skip the rest of the delimiter line
        nl = body.find(b"\n", pos)
        if nl < 0:
            break
        pos = nl + 1
        nxt = body.find(b"\n" + delim, pos)
        if nxt < 0:
            break
        end = nxt - 1 if nxt > 0 and body[nxt - 1 : nxt] == b"\r" else nxt
        parts.append(_split_headers(body[pos:end]))
        pos = nxt + 1 + len(delim)
    raise SoapFault(FaultCode.SENDER, "multipart body is truncated: closing boundary missing")


def decode_message(body: bytes, content_type: ContentType) -> MtomMessage:
    """Split a whole multipart/related message into the root part and attachments."""
    boundary = content_type.params.get("boundary")
    if not boundary:
        raise SoapFault(FaultCode.SENDER, "multipart/related Content-Type has no boundary parameter")
    parts = split_multipart(body, boundary)
    if not parts:
        raise SoapFault(FaultCode.SENDER, "multipart message has no parts")
    start = content_type.params.get("start")
    root_index = 0
    if start:
        wanted = normalize_cid(start)
        for i, (headers, _) in enumerate(parts):
            if normalize_cid(headers.get("content-id", "")) == wanted:
                root_index = i
                break
        else:
            raise SoapFault(FaultCode.SENDER, f"no MIME part has the start Content-ID {start}")
    attachments: dict[str, Attachment] = {}
    for i, (headers, content) in enumerate(parts):
        if i == root_index:
            continue
        cid = normalize_cid(headers.get("content-id", ""))
        if headers.get("content-transfer-encoding", "").lower() == "base64":
            content = base64.b64decode(content)
        attachments[cid] = Attachment(
            cid, headers.get("content-type", "application/octet-stream"), data=content, size=len(content)
        )
    return MtomMessage(root=parts[root_index][1], attachments=attachments)


def include_href(element: etree._Element) -> str | None:
    """The normalized Content-ID an element refers to through xop:Include, or None if inline."""
    inc = element.find(XOP_INCLUDE)
    if inc is None:
        return None
    href = inc.get("href")
    if not href:
        raise SoapFault(FaultCode.SENDER, "xop:Include without href")
    return normalize_cid(href)


def element_content(element: etree._Element, attachments: dict[str, Attachment]) -> Attachment:
    """The bytes an element carries, through xop:Include or inline base64."""
    cid = include_href(element)
    if cid is None:
        try:
            data = base64.b64decode("".join((element.text or "").split()), validate=True)
        except ValueError:
            raise SoapFault(FaultCode.SENDER, "element content is not valid base64") from None
        return Attachment(content_id="", data=data, size=len(data))
    found = attachments.get(cid)
    if found is None:
        raise SoapFault(FaultCode.SENDER, f"xop:Include refers to a missing MIME part cid:{cid}")
    return found


def new_content_id() -> str:
    return f"{uuid.uuid4().hex}@pyxds"


@dataclass(frozen=True)
class Part:
    content_id: str
    content_type: str
    data: bytes


def encode_message(
    envelope: bytes, parts: Iterable[Part], action: str | None = None
) -> tuple[str, bytes]:
    """Build an MTOM message; returns (Content-Type header value, body)."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    root_cid = f"root.{uuid.uuid4().hex}@pyxds"
    action_param = f';action="{action}"' if action else ""
    out = [
        f"--{boundary}\r\n".encode(),
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"' + action_param.encode(),
        b"\r\nContent-Transfer-Encoding: binary\r\n",
        f"Content-ID: <{root_cid}>\r\n\r\n".encode(),
        envelope,
    ]
    for p in parts:
        out += [
            f"\r\n--{boundary}\r\n".encode(),
            f"Content-Type: {p.content_type}\r\nContent-Transfer-Encoding: binary\r\n".encode(),
            f"Content-ID: <{p.content_id}>\r\n\r\n".encode(),
            p.data,
        ]
    out.append(f"\r\n--{boundary}--\r\n".encode())
    header = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
        f'start="<{root_cid}>"; start-info="application/soap+xml"' + action_param
    )
    return header, b"".join(out)
