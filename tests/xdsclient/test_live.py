"""Both clients against a real uvicorn server on a free port, serving xdsservice.soapapp.SoapService
endpoints with our WSDLs at ?wsdl and schemas at ?xsd=.

The endpoints' handlers are small stand-ins for the registry and repository: they check what arrives
(schema validity of the XOP infoset, attachment bytes) and answer like the real actors would, so the
tests exercise the clients, the transports, the WSDL/XSD routes and the server's SOAP/MTOM layer."""

from __future__ import annotations

import copy
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from lxml import etree
from zeep.wsdl.bindings.soap import Soap12Binding

from tests.artefacts import samples
from xdsclient import xop
from xdsclient.soapclient import SoapClient
from xdsclient.zeepclient import Operation, registry_client, repository_client
from xdscore import mtom
from xdscore.vocabulary import NS, Action, ResponseStatus
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService
from xdsservice.wsdl import schema_document, wsdl_document

XDSB = f"{{{NS.XDSB}}}"


@dataclass
class Stand:
    """What the stand-in actors saw: request headers per action, documents by id and by uniqueId."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)

    def _response(self, body: etree._Element) -> etree._Element:
        schema = samples.xds_schema()
        if schema.validate(body):
            return samples.registry_response_success()
        failure = samples.registry_response_failure()
        next(failure.iter(f"{{{NS.RS}}}RegistryError")).set("codeContext", str(schema.error_log.last_error))
        return failure

    def registry(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        action = decoded.request.addressing.action
        self.headers[action] = context.headers
        if action == Action.STORED_QUERY.value:
            return SoapReply(samples.adhoc_query_response(), Action.STORED_QUERY_RESPONSE.value)
        reply_action = Action.REGISTER_RESPONSE if action == Action.REGISTER.value else Action.UPDATE_RESPONSE
        return SoapReply(self._response(decoded.request.body), reply_action.value)

    def provide(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        self.headers[decoded.request.addressing.action] = context.headers
        body = copy.deepcopy(decoded.request.body)
        for document in body.iter(f"{XDSB}Document"):
            self.documents[document.get("id")] = mtom.element_content(document, decoded.attachments).read()
        xop.inline_includes(body, decoded.attachments)
        return SoapReply(self._response(body), Action.PROVIDE_AND_REGISTER_RESPONSE.value)

    def retrieve(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        self.headers[decoded.request.addressing.action] = context.headers
        response = samples.retrieve_response(b"")
        template = response.find(f"{XDSB}DocumentResponse")
        response.remove(template)
        parts = []
        for request in decoded.request.body.iter(f"{XDSB}DocumentRequest"):
            unique_id = request.findtext(f"{XDSB}DocumentUniqueId")
            item = copy.deepcopy(template)
            item.find(f"{XDSB}DocumentUniqueId").text = unique_id
            document = item.find(f"{XDSB}Document")
            document.text = None
            cid = mtom.new_content_id()
            mtom.xop_include(document, cid)
            parts.append(mtom.Part(cid, "application/pdf", self.documents[unique_id]))
            response.append(item)
        return SoapReply(response, Action.RETRIEVE_RESPONSE.value, parts=parts, mtom=True)


class Router:
    """One ASGI app for several SoapService endpoints, routed by exact path."""

    def __init__(self, *services: SoapService) -> None:
        self.services = {s.path: s for s in services}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await next(iter(self.services.values()))(scope, receive, send)
            return
        service = self.services.get(scope.get("path", "").rstrip("/"))
        if service is None:
            service = next(iter(self.services.values()))  # answers 404 itself
        await service(scope, receive, send)


@dataclass
class Live:
    base: str
    stand: Stand

    @property
    def registry(self) -> str:
        return self.base + "/pyxds/registry"

    @property
    def repository(self) -> str:
        return self.base + "/pyxds/repository"


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, never the 8081-8083 `make run` uses
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    stand = Stand()
    registry_url, repository_url = base + "/pyxds/registry", base + "/pyxds/repository"
    registry = SoapService(
        "/pyxds/registry",
        registry_url,
        {a.value: stand.registry for a in (Action.REGISTER, Action.STORED_QUERY, Action.UPDATE)},
        wsdl=lambda actions: wsdl_document("registry", registry_url, actions),
        xsd=lambda name: schema_document(name, registry_url),
    )
    repository = SoapService(
        "/pyxds/repository",
        repository_url,
        {Action.PROVIDE_AND_REGISTER.value: stand.provide, Action.RETRIEVE.value: stand.retrieve},
        wsdl=lambda actions: wsdl_document("repository", repository_url, actions),
        xsd=lambda name: schema_document(name, repository_url),
    )
    config = uvicorn.Config(Router(registry, repository), log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield Live(base, stand)
    server.should_exit = True
    thread.join(10)
    sock.close()


# ---- the WSDL and schema routes ---------------------------------------------------------------------


def test_zeep_client_from_the_served_registry_wsdl(live: Live) -> None:
    client = registry_client(wsdl=live.registry + "?wsdl")  # no address: the one the WSDL names
    binding = client.service._binding
    assert isinstance(binding, Soap12Binding)
    assert set(binding._operations) == {Operation.REGISTER.value, Operation.STORED_QUERY.value, Operation.UPDATE.value}
    assert client.service._binding_options["address"] == live.registry
    result = client.call(Operation.REGISTER, samples.submit_objects_request())
    assert result.status == ResponseStatus.SUCCESS.value, result
    sent = live.stand.headers[Action.REGISTER.value]
    assert mtom.ContentType.parse(sent["content-type"]).params["action"] == Action.REGISTER.value
    assert "soapaction" not in sent


def test_zeep_stored_query_through_the_service(live: Live) -> None:
    client = registry_client(wsdl=live.registry + "?wsdl")
    result = client.call(Operation.STORED_QUERY, samples.adhoc_query_request())
    assert result.status == ResponseStatus.SUCCESS.value
    assert result.RegistryObjectList._value_1[0]["ExtrinsicObject"].id == samples.DOC_ID


def test_schemas_are_served_and_only_those(live: Live) -> None:
    with httpx.Client() as http:
        rim = http.get(live.registry + "?xsd=rim.xsd")
        assert rim.status_code == 200 and rim.headers["content-type"].startswith("text/xml")
        assert etree.fromstring(rim.content).get("targetNamespace") == NS.RIM
        imports = etree.fromstring(http.get(live.repository + "?xsd=IHEXDSB.xsd").content)
        assert {i.get("schemaLocation") for i in imports.iter("{http://www.w3.org/2001/XMLSchema}import")} == {
            live.repository + "?xsd=" + name for name in ("rim.xsd", "rs.xsd", "lcm.xsd", "query.xsd")}
        for bad in ("../setup.cfg", "%2e%2e%2fsetup.cfg", "nothing.xsd", ""):
            assert http.get(live.registry + "?xsd=" + bad).status_code == 404
        wsdl = http.get(live.repository + "?wsdl")
        assert wsdl.status_code == 200 and live.repository.encode() in wsdl.content


# ---- zeep against the repository: MTOM both ways -------------------------------------------------------


@pytest.mark.parametrize("size", [1024, 4 * 1024 * 1024 + 3], ids=["1KB", "4MB"])
def test_zeep_provide_and_retrieve_byte_identical(live: Live, size: int) -> None:
    data = os.urandom(size - 2) + b"\r\n"
    client = repository_client(wsdl=live.repository + "?wsdl")
    result = client.call(Operation.PROVIDE_AND_REGISTER, samples.provide_and_register(data))
    assert result.status == ResponseStatus.SUCCESS.value, result
    assert live.stand.documents[samples.DOC_ID] == data
    assert mtom.ContentType.parse(live.stand.headers[Action.PROVIDE_AND_REGISTER.value]["content-type"]).is_multipart

    live.stand.documents[samples.DOC_UID] = data
    request = samples.retrieve_request()
    request.remove(request[1])
    answer = client.call(Operation.RETRIEVE, request)
    assert client.transport.last_response is not None
    assert client.transport.last_response.headers["content-type"].startswith("multipart/related")
    assert answer.DocumentResponse[0].Document == data


# ---- the plain lxml/httpx client ---------------------------------------------------------------------


def test_soapclient_register(live: Live) -> None:
    with SoapClient(live.registry) as client:
        response = client.call(samples.submit_objects_request(), Action.REGISTER.value, to=live.registry)
    assert response.status_code == 200 and response.parse_error is None and response.fault is None
    assert response.body.tag == f"{{{NS.RS}}}RegistryResponse"
    assert response.body.get("status") == ResponseStatus.SUCCESS.value
    assert response.action == Action.REGISTER_RESPONSE.value
    assert response.relates_to == response.request_message_id and response.relates_to.startswith("urn:uuid:")
    assert not response.multipart


def test_soapclient_mtom_provide_then_retrieve(live: Live) -> None:
    data = os.urandom(2048)
    with SoapClient(live.repository) as client:
        provided = client.call(samples.provide_and_register(data), Action.PROVIDE_AND_REGISTER.value, mtom=True)
        assert provided.body.get("status") == ResponseStatus.SUCCESS.value, etree.tostring(provided.body)
        assert live.stand.documents[samples.DOC_ID] == data
        live.stand.documents[samples.DOC_UID] = data
        request = samples.retrieve_request()
        request.remove(request[1])
        retrieved = client.call(request, Action.RETRIEVE.value, mtom=True)
    assert retrieved.multipart and len(retrieved.attachments) == 1
    document = next(retrieved.body.iter(f"{XDSB}Document"))
    assert document.find(mtom.XOP_INCLUDE) is not None
    assert retrieved.content(document) == data


def test_soapclient_reports_faults(live: Live) -> None:
    with SoapClient(live.registry) as client:
        unknown = client.call(samples.submit_objects_request(), "urn:example:NotAnAction")
        soap11 = client.post(
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
            "text/xml; charset=utf-8",
        )
        garbage = client.post(b"not xml at all", "application/soap+xml")
    assert unknown.status_code == 400 and unknown.fault is not None
    assert unknown.fault.code == "soap:Sender" and unknown.fault.subcode.endswith("ActionNotSupported")
    assert unknown.action == Action.SOAP_FAULT.value
    assert soap11.fault is not None and soap11.fault.code == "soap:VersionMismatch"
    assert garbage.status_code == 400 and garbage.fault is not None and garbage.fault.code == "soap:Sender"


def test_soapclient_keeps_non_soap_answers(live: Live) -> None:
    with SoapClient(live.base + "/no/such/endpoint") as client:
        response = client.post(b"x", "application/soap+xml")
    assert response.status_code == 404 and response.envelope is None
    assert response.parse_error and response.raw.startswith(b"not found")
