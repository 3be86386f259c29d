"""Client-side MTOM/XOP packaging of XDS.b messages (W3C SOAP MTOM, XOP 1.0; ITI TF-2x V.3.6; RFC 2387/2392).

Sending: `optimize` moves the base64 content of each `xdsb:Document` (ITI-41) out of the envelope into a
binary MIME part and leaves an `xop:Include` in its place; `write_multipart` frames the envelope and the
parts as `multipart/related`. The writer is deliberately independent of the server's encoder
(`xdscore.mtom.encode_message`), so the tests cross-check two implementations, and it writes `cid:`
hrefs URL-escaped (RFC 2392) as Axis2 and CXF do, which the receiver must decode.

Receiving: `read_message` splits a response with `xdscore.mtom.decode_message` and parses the root part
with `xdscore.xmlsafe`; `inline_includes` turns each `xop:Include` back into base64 text, for readers
(zeep) that only know the XML infoset.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from urllib.parse import quote

from lxml import etree

from xdscore import mtom, xmlsafe
from xdscore.vocabulary import NS

XDSB_DOCUMENT = f"{{{NS.XDSB}}}Document"
RIM_EXTRINSIC_OBJECT = f"{{{NS.RIM}}}ExtrinsicObject"
SOAP12_MEDIA_TYPE = "application/soap+xml"
ROOT_PART_TYPE = f'application/xop+xml; charset=UTF-8; type="{SOAP12_MEDIA_TYPE}"'


@dataclass(frozen=True)
class BinaryPart:
    """One attachment to send: the Content-ID without angle brackets, its media type and its bytes."""

    content_id: str
    content_type: str
    data: bytes


def _content_id(index: int) -> str:
    return f"part{index}.{uuid.uuid4().hex}@pyxds.org"


def _mime_types(envelope: etree._Element) -> dict[str, str]:
    """ExtrinsicObject id -> mimeType, so each document part carries its document's media type."""
    return {
        eo.get("id", ""): eo.get("mimeType", "application/octet-stream")
        for eo in envelope.iter(RIM_EXTRINSIC_OBJECT)
    }


def optimize(envelope: etree._Element, tag: str = XDSB_DOCUMENT) -> list[BinaryPart]:
    """Replace the inline base64 content of every `tag` element by an xop:Include; return the parts.

    Elements that already hold an xop:Include are left as they are. Raises ValueError if an element's
    text is not base64, since sending it as an attachment would silently change the message.
    """
    mime_types = _mime_types(envelope)
    parts: list[BinaryPart] = []
    for element in envelope.iter(tag):
        if element.find(mtom.XOP_INCLUDE) is not None:
            continue
        text = "".join((element.text or "").split())
        try:
            data = base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ValueError(f"{etree.QName(element).localname} content is not base64") from None
        cid = _content_id(len(parts) + 1)
        element.text = None
        include = etree.SubElement(element, mtom.XOP_INCLUDE, nsmap={"xop": NS.XOP})
        include.set("href", "cid:" + quote(cid, safe=""))
        parts.append(BinaryPart(cid, mime_types.get(element.get("id", ""), "application/octet-stream"), data))
    return parts


def write_multipart(envelope: bytes, parts: list[BinaryPart], action: str | None) -> tuple[str, bytes]:
    """Frame an MTOM message; returns (Content-Type header value, body).

    The root part comes first and is named by `start`; the SOAP 1.2 `action` parameter goes on the
    outer Content-Type (SOAP 1.2 Part 2 §7.1.4, MTOM §4.3).
    """
    boundary = f"uuid:{uuid.uuid4()}"
    root_cid = f"root.{uuid.uuid4().hex}@pyxds.org"
    action_param = f'; action="{action}"' if action else ""
    chunks = [
        f"--{boundary}\r\n"
        f"Content-Type: {ROOT_PART_TYPE}\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{root_cid}>\r\n\r\n".encode("ascii"),
        envelope,
    ]
    for part in parts:
        chunks.append(
            f"\r\n--{boundary}\r\n"
            f"Content-Type: {part.content_type}\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{part.content_id}>\r\n\r\n".encode("ascii")
        )
        chunks.append(part.data)
    chunks.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
        f'start="<{root_cid}>"; start-info="{SOAP12_MEDIA_TYPE}"{action_param}'
    )
    return content_type, b"".join(chunks)


@dataclass
class ReceivedMessage:
    """A response as read from the wire: the envelope bytes, the parsed envelope, the attachments."""

    envelope_bytes: bytes
    envelope: etree._Element
    attachments: dict[str, mtom.Attachment]
    multipart: bool


def read_message(body: bytes, content_type: str, max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES) -> ReceivedMessage:
    """Read a SOAP or MTOM response body. Raises `xdscore.errors.SoapFault` when it is not one."""
    ctype = mtom.ContentType.parse(content_type or SOAP12_MEDIA_TYPE)
    attachments: dict[str, mtom.Attachment] = {}
    envelope_bytes = body
    if ctype.is_multipart:
        message = mtom.decode_message(body, ctype)
        envelope_bytes, attachments = message.root, message.attachments
    root = xmlsafe.parse_bytes(envelope_bytes, max_bytes, "SOAP response")
    return ReceivedMessage(envelope_bytes, root, attachments, ctype.is_multipart)


def inline_includes(root: etree._Element, attachments: dict[str, mtom.Attachment]) -> int:
    """Replace each xop:Include by the base64 text of the part it names; returns how many were replaced."""
    count = 0
    for include in list(root.iter(mtom.XOP_INCLUDE)):
        parent = include.getparent()
        if parent is None:
            continue
        data = mtom.element_content(parent, attachments).read()
        parent.remove(include)
        parent.text = base64.b64encode(data).decode("ascii")
        count += 1
    return count
