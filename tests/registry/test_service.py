"""The registry as a service: real HTTP and real MLLP against `python -m registry`, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from harness.builders import new_patient_id, single_document
from harness.services import Service, feed_patient, start_registry
from xdscore import soap
from xdscore.ebrim import response
from xdscore.vocabulary import NS, Action, ErrorCode, ResponseStatus

ENV = f"{{{NS.SOAP12}}}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "citus"])
def registry(request, tmp_path_factory) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    url = {"postgresql": "pg_url", "citus": "citus_db_url"}.get(request.param)
    url = request.getfixturevalue(url) if url else None
    service = start_registry(tmp_path_factory.mktemp(f"registry-{request.param}"), database_url=url)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def citus_db_url(citus_cluster) -> str:  # type: ignore[no-untyped-def]
    import os

    return os.environ["XDS_TEST_CITUS_URL"] if citus_cluster is None else citus_cluster.create_database("registry_service")


@pytest.fixture(scope="module")
def pg_url(pg_server) -> str:  # type: ignore[no-untyped-def]
    import os

    if pg_server is None:
        return os.environ["XDS_TEST_PG_URL"]
    return pg_server.create_database("registry_service")


def post(url: str, body: bytes, content_type: str = 'application/soap+xml; charset=utf-8') -> httpx.Response:
    return httpx.post(url, content=body, headers={"Content-Type": content_type}, timeout=30)


def envelope(body: etree._Element, action: str = Action.REGISTER.value) -> bytes:
    return etree.tostring(soap.request_envelope(body, action, to="http://x/"), xml_declaration=True, encoding="UTF-8")


def registry_response(r: httpx.Response) -> etree._Element:
    root = etree.fromstring(r.content)
    return root.find(f"{ENV}Body")[0]


def test_register_over_http(registry: Service) -> None:
    pid = new_patient_id()
    ack = feed_patient(registry.feed_port, pid)
    assert "MSA|AA|" in ack
    r = post(registry.url, envelope(single_document(pid).xml()))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/soap+xml")
    root = etree.fromstring(r.content)
    assert root.findtext(f"{ENV}Header/{{{NS.WSA}}}Action") == Action.REGISTER_RESPONSE.value
    assert root.findtext(f"{ENV}Header/{{{NS.WSA}}}RelatesTo", "").startswith("urn:uuid:")
    rr = registry_response(r)
    assert rr.get("status") == ResponseStatus.SUCCESS.value, etree.tostring(rr)


def test_unknown_patient_over_http(registry: Service) -> None:
    r = post(registry.url, envelope(single_document(new_patient_id()).xml()))
    rr = registry_response(r)
    assert rr.get("status") == ResponseStatus.FAILURE.value
    assert [e[0] for e in response.read_errors(rr)] == [ErrorCode.XDSUnknownPatientId.value]


def test_unknown_action_is_a_fault(registry: Service) -> None:
    r = post(registry.url, envelope(etree.Element("x"), action="urn:example:Nope"))
    assert r.status_code == 400
    fault = soap.read_fault(etree.fromstring(r.content))
    assert fault is not None and fault.code == "soap:Sender" and fault.subcode and fault.subcode.endswith("ActionNotSupported")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&xxe;</soap:Body></soap:Envelope>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&lol3;</soap:Body></soap:Envelope>"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS, b"", b"<unclosed", b"\xff\xfe garbage"], ids=["xxe", "laughs", "empty", "unclosed", "garbage"])
def test_hostile_xml_gets_a_sender_fault(registry: Service, payload: bytes) -> None:
    r = post(registry.url, payload)
    assert r.status_code == 400
    fault = soap.read_fault(etree.fromstring(r.content))
    assert fault is not None and fault.code == "soap:Sender"
    assert b"root:" not in r.content  # /etc/passwd never echoed


def test_soap11_gets_version_mismatch(registry: Service) -> None:
    """SOAP 1.2 Part 1 Appendix A: a SOAP 1.1 message gets a SOAP 1.1 fault with the Upgrade header."""
    body = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
    r = post(registry.url, body, "text/xml")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(r.content)
    assert root.tag == f"{{{soap.SOAP11_NS}}}Envelope"
    assert root.find(f"{{{soap.SOAP11_NS}}}Header/{ENV}Upgrade/{ENV}SupportedEnvelope") is not None
    fault = soap.read_fault(root)
    assert fault is not None and fault.code == "soap:VersionMismatch"


def test_header_after_body_is_a_sender_fault(registry: Service) -> None:
    env = soap.request_envelope(single_document(new_patient_id()).xml(), Action.REGISTER.value)
    env.append(env.find(f"{ENV}Header"))  # moved after the Body
    r = post(registry.url, etree.tostring(env))
    fault = soap.read_fault(etree.fromstring(r.content))
    assert r.status_code == 400 and fault is not None and fault.code == "soap:Sender"
    assert "the Header comes after the Body" in fault.reason


def test_oversized_body_is_refused_and_nothing_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    service = start_registry(tmp_path, env={"XDS_REGISTRY_MAX_REQUEST_BYTES": "4000"})
    try:
        pid = new_patient_id()
        feed_patient(service.feed_port, pid)
        big = envelope(single_document(pid).xml())
        assert len(big) > 4000
        r = post(service.url, big)
        fault = soap.read_fault(etree.fromstring(r.content))
        assert r.status_code == 413 and fault is not None and "limit" in fault.reason
    finally:
        service.stop()


def test_wrong_body_element_is_a_fault(registry: Service) -> None:
    r = post(registry.url, envelope(etree.Element("{urn:example}NotASubmitObjectsRequest")))
    fault = soap.read_fault(etree.fromstring(r.content))
    assert r.status_code == 400 and fault is not None and "SubmitObjectsRequest" in fault.reason


def test_mtom_packaged_register_is_accepted(registry: Service) -> None:
    """IPF/CXF clients with MTOM switched on send ITI-42 as multipart: accept it."""
    from xdscore import mtom

    pid = new_patient_id()
    feed_patient(registry.feed_port, pid)
    ctype, body = mtom.encode_message(envelope(single_document(pid).xml()), [], Action.REGISTER.value)
    rr = registry_response(post(registry.url, body, ctype))
    assert rr.get("status") == ResponseStatus.SUCCESS.value


def test_wsdl_and_schemas_are_served_and_zeep_registers(registry: Service) -> None:
    """An unmodified zeep client built from the registry's own ?wsdl registers a document."""
    r = httpx.get(registry.url + "?wsdl")
    assert r.status_code == 200 and b"RegisterDocumentSet-b" in r.content and registry.url.encode() in r.content
    assert httpx.get(registry.url + "?xsd=rim.xsd").status_code == 200
    assert httpx.get(registry.url + "?xsd=../../etc/passwd").status_code == 404
    from xdsclient.zeepclient import Operation, registry_client

    pid = new_patient_id()
    feed_patient(registry.feed_port, pid)
    client = registry_client(registry.url, wsdl=registry.url + "?wsdl")
    result = client.call(Operation.REGISTER, single_document(pid).xml())
    assert "Success" in str(result)
