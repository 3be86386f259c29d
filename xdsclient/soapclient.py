"""A plain SOAP 1.2 / MTOM client on lxml and httpx (SOAP 1.2 Part 2 §7; WS-Addressing; ITI TF-2x V).

For the conformance kit and tests that need exact control: the caller builds the body element (or the
whole envelope, or the raw bytes), the client wraps it with `xdscore.soap.request_envelope`, optionally
packages it as MTOM/XOP, posts it, and returns the response as received and as parsed (envelope, body,
fault, attachments). Responses are parsed with `xdscore.xmlsafe`. No zeep, no schema: what is sent is
exactly what was built.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self

import httpx
from lxml import etree

from xdsclient import xop
from xdscore import mtom, soap, xmlsafe
from xdscore.errors import SoapFault
from xdscore.vocabulary import NS

_ENV = f"{{{NS.SOAP12}}}"
_WSA = f"{{{NS.WSA}}}"


@dataclass
class SoapResponse:
    """One HTTP response to a SOAP request, kept raw and, when it is a SOAP message, parsed."""

    status_code: int
    headers: httpx.Headers
    raw: bytes  # the HTTP body as received
    envelope: etree._Element | None = None
    envelope_bytes: bytes = b""
    attachments: dict[str, mtom.Attachment] = field(default_factory=dict)
    multipart: bool = False
    parse_error: str | None = None  # why the body is not a SOAP message, if it is not
    request_message_id: str | None = None  # wsa:MessageID of the request, to check wsa:RelatesTo

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", ""))

    @property
    def body(self) -> etree._Element | None:
        """The single child of soap:Body (a RegistryResponse, an AdhocQueryResponse, a Fault ...)."""
        if self.envelope is None:
            return None
        body = self.envelope.find(f"{_ENV}Body")
        if body is None:
            return None
        children = [c for c in body if isinstance(c.tag, str)]
        return children[0] if children else None

    @property
    def fault(self) -> soap.ParsedFault | None:
        return soap.read_fault(self.envelope) if self.envelope is not None else None

    @property
    def action(self) -> str | None:
        return self._header_text("Action")

    @property
    def relates_to(self) -> str | None:
        return self._header_text("RelatesTo")

    def _header_text(self, name: str) -> str | None:
        if self.envelope is None:
            return None
        text = self.envelope.findtext(f"{_ENV}Header/{_WSA}{name}")
        return text.strip() if text is not None else None

    def content(self, element: etree._Element) -> bytes:
        """The bytes an element carries: its xop:Include part, or its inline base64 text."""
        return mtom.element_content(element, self.attachments).read()


class SoapClient:
    """Posts SOAP 1.2 requests to one endpoint URL. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
        max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES,
    ) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def call(
        self,
        body: etree._Element,
        action: str,
        *,
        mtom: bool = False,
        to: str | None = None,
        parts: Iterable[xop.BinaryPart] = (),
        headers: Mapping[str, str] | None = None,
    ) -> SoapResponse:
        """Send `body` in a request envelope with wsa:Action `action` (and wsa:To `to`, if given).

        The body element is copied, never moved. With `mtom=True` the message goes as multipart/related
        and every inline `xdsb:Document` becomes a binary part; `parts` adds prepared parts for bodies
        that already hold their own xop:Include elements.
        """
        envelope = soap.request_envelope(copy.deepcopy(body), action, to)
        return self.send_envelope(envelope, action, mtom=mtom, parts=parts, headers=headers)

    def send_envelope(
        self,
        envelope: etree._Element,
        action: str | None,
        *,
        mtom: bool = False,
        parts: Iterable[xop.BinaryPart] = (),
        headers: Mapping[str, str] | None = None,
    ) -> SoapResponse:
        """Send a complete envelope as is (MTOM packaging modifies it in place)."""
        message_id = envelope.findtext(f"{_ENV}Header/{_WSA}MessageID")
        if mtom:
            all_parts = list(parts) + xop.optimize(envelope)
            data = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
            content_type, content = xop.write_multipart(data, all_parts, action)
        else:
            content = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
            content_type = f"{xop.SOAP12_MEDIA_TYPE}; charset=UTF-8" + (f'; action="{action}"' if action else "")
        response = self.post(content, content_type, headers)
        response.request_message_id = message_id.strip() if message_id else None
        return response

    def post(self, content: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> SoapResponse:
        """POST exact bytes with the given Content-Type; parse whatever comes back."""
        request_headers = {"Content-Type": content_type, **(headers or {})}
        response = self.http.post(self.url, content=content, headers=request_headers)
        return read_response(response.status_code, response.headers, response.content, self.max_bytes)


def read_response(
    status_code: int, headers: httpx.Headers, raw: bytes, max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES
) -> SoapResponse:
    """Parse an HTTP response as a SOAP 1.2 or MTOM message; a non-SOAP body sets `parse_error`."""
    result = SoapResponse(status_code, headers, raw)
    if not raw:
        result.parse_error = "empty body"
        return result
    try:
        message = xop.read_message(raw, headers.get("content-type", ""), max_bytes)
    except SoapFault as exc:
        result.parse_error = exc.reason
        return result
    result.envelope = message.envelope
    result.envelope_bytes = message.envelope_bytes
    result.attachments = message.attachments
    result.multipart = message.multipart
    if message.envelope.tag != f"{_ENV}Envelope":
        result.parse_error = f"the response root is {message.envelope.tag}, not a SOAP 1.2 Envelope"
    return result
