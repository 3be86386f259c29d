# mypy: disable-error-code="no-untyped-call"
"""zeep clients for the XDS.b Document Registry (ITI-42, ITI-18, ITI-57) and Repository (ITI-41, ITI-43).

Built from the project's own WSDLs in `wsdl/` (or any WSDL URL, such as our services' `?wsdl`), with
the zeep 4.3 behaviours that break IHE exchanges fixed in the transport (measured in
shared/spec/python-stack.md §3 and in tests/xdsclient):

- zeep derives the SOAP 1.2 `action` media-type parameter from the binding's soapAction and writes
  `action="None"` when the WSDL has none (IPF's and IHE's ITI-57 WSDLs), and it always adds the SOAP 1.1
  `SOAPAction` header. `XdsTransport` sets `action` to the message's wsa:Action and drops `SOAPAction`.
- zeep adds wsa:Action, wsa:MessageID and wsa:To itself when the WSDL has wsam:Action (so never pass
  `WsAddressingPlugin` as well: the headers would be doubled) but marks none of them mustUnderstand;
  ITI TF-2x V and the NIST validator want wsa:Action mustUnderstand="true", which the transport adds.
- zeep cannot send MTOM (python-zeep #1344): `MtomTransport` sends every request as multipart/related
  with the ITI-41 documents as binary XOP parts.
- zeep reads MTOM responses by itself, but takes the first MIME part as the root whatever `start` says
  and strips CR/LF bytes from both ends of every binary part, which corrupts documents that begin or end
  with a line break. Both transports read multipart responses with `xdscore.mtom` instead and hand zeep
  a plain envelope with the documents inlined as base64.
- zeep ignores xsd:substitutionGroup (python-zeep #321), hence the choice-based RegistryObjectList in
  `schemas/rim.xsd`: with it zeep builds and reads every XDS metadata object.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy
from zeep.transports import Transport

from xdsclient import xop
from xdscore.artefacts import artefact_dir
from xdscore.errors import SoapFault
from xdscore.vocabulary import NS

log = logging.getLogger("xds.client")

WSDL_DIR = artefact_dir("wsdl")
REGISTRY_WSDL = WSDL_DIR / "XDS.b_DocumentRegistry.wsdl"
REPOSITORY_WSDL = WSDL_DIR / "XDS.b_DocumentRepository.wsdl"
REGISTRY_BINDING = f"{{{NS.XDSB}}}DocumentRegistry_Binding_Soap12"
REPOSITORY_BINDING = f"{{{NS.XDSB}}}DocumentRepository_Binding_Soap12"

_SOAP = f"{{{NS.SOAP12}}}"


class Operation(str, Enum):
    """Operation names of our WSDLs (the IHE names, hyphens included: call them with `service[...]`)."""

    REGISTER = "DocumentRegistry_RegisterDocumentSet-b"
    STORED_QUERY = "DocumentRegistry_RegistryStoredQuery"
    UPDATE = "DocumentRegistry_UpdateDocumentSet"
    RESTRICTED_UPDATE = "DocumentRegistry_RestrictedUpdateDocumentSet"
    DELETE = "DocumentRegistry_DeleteDocumentSet"
    PROVIDE_AND_REGISTER = "DocumentRepository_ProvideAndRegisterDocumentSet-b"
    RETRIEVE = "DocumentRepository_RetrieveDocumentSet"
    REMOVE_DOCUMENTS = "DocumentRepository_RemoveDocuments"


def wsa_action(envelope: etree._Element) -> str | None:
    action = envelope.findtext(f"{_SOAP}Header/{{{NS.WSA}}}Action")
    return action.strip() if action else None


class XdsTransport(Transport):
    """zeep transport for plain SOAP 1.2 exchanges, with the IHE fixes described in the module docstring.

    The last exchange is kept (`last_request`: address, headers, body bytes; `last_response`: the
    response as received) so tests and the conformance kit can look at the bytes on the wire.
    """

    mtom = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_request: tuple[str, dict[str, str], bytes] | None = None
        self.last_response: requests.Response | None = None

    def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> requests.Response:
        action = wsa_action(envelope)
        self._require_action(envelope)
        content_type, body = self._serialize(envelope, action)
        # SOAPAction is SOAP 1.1's header; SOAP 1.2 carries the action in the media type (Part 2 §7.1.4).
        headers = {k: v for k, v in headers.items() if k.lower() not in ("soapaction", "content-type")}
        headers["Content-Type"] = content_type
        self.last_request = (address, headers, body)
        response = self.post(address, body, headers)
        self.last_response = response
        return _plain_response(response)

    @staticmethod
    def _require_action(envelope: etree._Element) -> None:
        action = envelope.find(f"{_SOAP}Header/{{{NS.WSA}}}Action")
        if action is not None:
            action.set(f"{_SOAP}mustUnderstand", "true")

    def _serialize(self, envelope: etree._Element, action: str | None) -> tuple[str, bytes]:
        data = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        media = f"{xop.SOAP12_MEDIA_TYPE}; charset=utf-8" + (f'; action="{action}"' if action else "")
        return media, data


class MtomTransport(XdsTransport):
    """zeep transport that sends every request as MTOM/XOP (ITI-41 and ITI-43 require it, TF-2x V.3.6)."""

    mtom = True

    def _serialize(self, envelope: etree._Element, action: str | None) -> tuple[str, bytes]:
        parts = xop.optimize(envelope)
        data = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        return xop.write_multipart(data, parts, action)


def _plain_response(response: requests.Response) -> requests.Response:
    """A multipart response turned into the plain SOAP response zeep reads correctly (see docstring)."""
    content_type = response.headers.get("Content-Type", "")
    if "multipart/related" not in content_type.lower():
        return response
    try:
        message = xop.read_message(response.content, content_type)
    except SoapFault as exc:  # not a readable MTOM message: let zeep report it its own way
        log.warning("cannot read the MTOM response: %s", exc.reason)
        return response
    xop.inline_includes(message.envelope, message.attachments)
    plain = requests.Response()
    plain.status_code = response.status_code
    plain.headers = requests.structures.CaseInsensitiveDict(response.headers)
    plain.headers["Content-Type"] = f"{xop.SOAP12_MEDIA_TYPE}; charset=utf-8"
    plain.headers.pop("Content-Length", None)
    plain._content = etree.tostring(message.envelope, xml_declaration=True, encoding="UTF-8")
    plain.encoding = "utf-8"
    plain.url = response.url
    plain.request = response.request
    plain.reason = response.reason
    return plain


def _settings() -> zeep.Settings:
    # huge_tree: an inlined multi-MB document is one text node, above libxml2's default 10 MB cap.
    return zeep.Settings(strict=True, xml_huge_tree=True, forbid_dtd=True, forbid_entities=True)


@dataclass
class XdsZeepClient:
    """A zeep client bound to one endpoint: `service[Operation.X](**values)` or `call(X, element)`."""

    client: zeep.Client
    service: ServiceProxy
    transport: XdsTransport

    def values(self, element: etree._Element) -> dict[str, Any]:
        """The keyword arguments zeep needs to send a message body built with lxml."""
        return element_values(self.client, element)

    def call(self, operation: Operation | str, body: etree._Element | None = None, **values: Any) -> Any:
        """Invoke `operation` with an lxml body element and/or zeep keyword values (keywords win)."""
        name = operation.value if isinstance(operation, Operation) else operation
        arguments = {**(self.values(body) if body is not None else {}), **values}
        return self.service[name](**arguments)


def element_values(client: zeep.Client, element: etree._Element) -> dict[str, Any]:
    """Parse a message body element with the client's schema into zeep keyword values."""
    element = copy.deepcopy(element)
    for node in list(element.iter(etree.Comment, etree.ProcessingInstruction)):  # zeep reads elements only
        node.getparent().remove(node)
    declaration = client.get_element(etree.QName(element).text)
    parsed = declaration.parse(element, client.wsdl.types)
    values = serialize_object(parsed, dict)
    assert isinstance(values, dict)
    return {k: v for k, v in values.items() if v is not None}


def _build(
    wsdl: str | Path, binding: str, address: str | None, transport: XdsTransport, timeout: float | None
) -> XdsZeepClient:
    transport.operation_timeout = timeout
    client = zeep.Client(str(wsdl), transport=transport, settings=_settings())
    service = client.create_service(binding, address) if address else client.service
    return XdsZeepClient(client, service, transport)


def registry_client(
    address: str | None = None,
    wsdl: str | Path = REGISTRY_WSDL,
    *,
    transport: XdsTransport | None = None,
    timeout: float | None = 60.0,
) -> XdsZeepClient:
    """A Document Registry client (plain SOAP 1.2, as ITI-42/18/57 require) for `address`."""
    return _build(wsdl, REGISTRY_BINDING, address, transport or XdsTransport(), timeout)


def repository_client(
    address: str | None = None,
    wsdl: str | Path = REPOSITORY_WSDL,
    *,
    transport: XdsTransport | None = None,
    timeout: float | None = 60.0,
) -> XdsZeepClient:
    """A Document Repository client (MTOM requests, as ITI-41/43 require) for `address`."""
    return _build(wsdl, REPOSITORY_BINDING, address, transport or MtomTransport(), timeout)
