"""xdsclient.zeepclient without a network: what zeep sends through our transports (headers, WS-A,
MTOM, schema validity) and how it reads what comes back. The HTTP send itself is replaced by a recorder
that answers with a prepared response; everything before and after it is the real code."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.transports import Transport

from tests.artefacts import samples
from tests.artefacts.test_schemas import _PLACEHOLDER, nist_messages
from xdsclient import xop
from xdsclient.zeepclient import (
    MtomTransport,
    Operation,
    XdsTransport,
    element_values,
    registry_client,
    repository_client,
)
from xdscore import mtom, soap
from xdscore.vocabulary import NS, Action, ResponseStatus

ENV = f"{{{NS.SOAP12}}}"
WSA = f"{{{NS.WSA}}}"
ADDRESS = "http://xds.test:8080/pyxds/endpoint"


def _answer(body: etree._Element, action: Action, parts: list[mtom.Part] | None = None) -> tuple[bytes, str]:
    envelope = soap.write_response(body, action.value, "urn:uuid:request")
    if parts is None:
        return envelope, f'application/soap+xml; charset=utf-8; action="{action.value}"'
    content_type, raw = mtom.encode_message(envelope, parts, action.value)
    return raw, content_type


def recording(base: type[Transport], content: bytes, content_type: str) -> Any:
    """A transport of class `base` whose HTTP POST is recorded and answered with (content, content_type)."""

    class Recorder(base):  # type: ignore[valid-type, misc]
        def __init__(self) -> None:
            super().__init__()
            self.sent: list[tuple[str, dict[str, str], bytes]] = []

        def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
            self.sent.append((address, dict(headers), message))
            response = requests.Response()
            response.status_code = 200
            response._content = content
            response.headers["Content-Type"] = content_type
            return response

    return Recorder()


def _sent_envelope(transport: Any) -> tuple[dict[str, str], etree._Element, dict[str, mtom.Attachment]]:
    _, headers, body = transport.sent[-1]
    message = xop.read_message(body, headers["Content-Type"])
    return headers, message.envelope, message.attachments


def _check_headers_and_addressing(headers: dict[str, str], envelope: etree._Element, action: Action) -> None:
    assert "SOAPAction" not in headers and "soapaction" not in {k.lower() for k in headers}
    ctype = mtom.ContentType.parse(headers["Content-Type"])
    assert ctype.params["action"] == action.value
    header = envelope.find(f"{ENV}Header")
    assert [el.text for el in header.findall(f"{WSA}Action")] == [action.value]  # once: no duplicate WS-A
    assert header.find(f"{WSA}Action").get(f"{ENV}mustUnderstand") == "true"
    assert header.findtext(f"{WSA}MessageID").startswith("urn:uuid:")
    assert header.findtext(f"{WSA}To") == ADDRESS


REGISTRY_CASES = [
    (Operation.REGISTER, Action.REGISTER, samples.submit_objects_request, samples.registry_response_success(), Action.REGISTER_RESPONSE),
    (Operation.UPDATE, Action.UPDATE, samples.submit_objects_request, samples.registry_response_success(), Action.UPDATE_RESPONSE),
    (Operation.STORED_QUERY, Action.STORED_QUERY, samples.adhoc_query_request, samples.adhoc_query_response(), Action.STORED_QUERY_RESPONSE),
]


@pytest.mark.parametrize("operation,action,build,reply,reply_action", REGISTRY_CASES, ids=[c[0].name for c in REGISTRY_CASES])
def test_registry_requests_are_plain_soap_and_schema_valid(
    operation: Operation, action: Action, build: Any, reply: etree._Element, reply_action: Action
) -> None:
    transport = recording(XdsTransport, *_answer(reply, reply_action))
    client = registry_client(ADDRESS, transport=transport)
    result = client.call(operation, build())
    headers, envelope, attachments = _sent_envelope(transport)
    assert headers["Content-Type"].startswith("application/soap+xml") and attachments == {}
    _check_headers_and_addressing(headers, envelope, action)
    body = envelope.find(f"{ENV}Body")[0]
    assert samples.xds_schema().validate(body), samples.xds_schema().error_log
    assert result.status == ResponseStatus.SUCCESS.value


def test_stored_query_response_is_read_into_objects() -> None:
    transport = recording(XdsTransport, *_answer(samples.adhoc_query_response(), Action.STORED_QUERY_RESPONSE))
    result = registry_client(ADDRESS, transport=transport).call(Operation.STORED_QUERY, samples.adhoc_query_request())
    (item,) = result.RegistryObjectList._value_1
    entry = item["ExtrinsicObject"]
    assert entry.id == samples.DOC_ID and entry.status.endswith("Approved") and entry.VersionInfo.versionName == "1"
    assert {c.classificationScheme for c in entry.Classification} >= {"urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"}
    coding = next(c for c in entry.Classification if c.nodeRepresentation == "11488-4")
    assert coding.Slot[0].name == "codingScheme" and coding.Slot[0].ValueList.Value == ["2.16.840.1.113883.6.1"]
    assert [e.value for e in entry.ExternalIdentifier] == [samples.PATIENT, samples.DOC_UID]


def test_registry_errors_are_read() -> None:
    transport = recording(XdsTransport, *_answer(samples.registry_response_failure(), Action.REGISTER_RESPONSE))
    result = registry_client(ADDRESS, transport=transport).call(Operation.REGISTER, samples.submit_objects_request())
    assert result.status == ResponseStatus.FAILURE.value
    errors = result.RegistryErrorList.RegistryError
    assert [e.errorCode for e in errors] == ["XDSRegistryMetadataError", "XDSExtraMetadataNotSaved"]
    assert errors[0].location == "Document01" and errors[1].severity.endswith("Warning")


@pytest.mark.parametrize("size", [1024, 3 * 1024 * 1024], ids=["1KB", "3MB"])
def test_provide_and_register_goes_as_mtom_with_byte_identical_parts(size: int) -> None:
    data = bytes(range(256)) * (size // 256)
    transport = recording(MtomTransport, *_answer(samples.registry_response_success(), Action.PROVIDE_AND_REGISTER_RESPONSE))
    client = repository_client(ADDRESS, transport=transport)
    result = client.call(Operation.PROVIDE_AND_REGISTER, samples.provide_and_register(data))
    assert result.status == ResponseStatus.SUCCESS.value

    headers, envelope, attachments = _sent_envelope(transport)
    ctype = mtom.ContentType.parse(headers["Content-Type"])
    assert ctype.is_multipart and ctype.params["type"] == "application/xop+xml"
    _check_headers_and_addressing(headers, envelope, Action.PROVIDE_AND_REGISTER)
    document = next(envelope.iter(f"{{{NS.XDSB}}}Document"))
    assert document.find(mtom.XOP_INCLUDE) is not None and not (document.text or "").strip()
    assert mtom.element_content(document, attachments).read() == data
    # The XOP infoset (documents inlined again) is the schema-valid message.
    xop.inline_includes(envelope, attachments)
    assert samples.xds_schema().validate(envelope.find(f"{ENV}Body")[0])


def test_retrieve_request_is_mtom_and_the_mtom_answer_is_read_exactly() -> None:
    data = b"\r\n%PDF-1.4 binary \x00\xff\r\n"  # zeep alone strips the CR/LF at both ends
    reply = samples.retrieve_response(data)
    document = next(reply.iter(f"{{{NS.XDSB}}}Document"))
    document.text = None
    mtom.xop_include(document, "doc1@server")
    transport = recording(MtomTransport, *_answer(reply, Action.RETRIEVE_RESPONSE, [mtom.Part("doc1@server", "application/pdf", data)]))
    result = repository_client(ADDRESS, transport=transport).call(Operation.RETRIEVE, samples.retrieve_request())

    headers, envelope, attachments = _sent_envelope(transport)
    assert mtom.ContentType.parse(headers["Content-Type"]).is_multipart and attachments == {}
    _check_headers_and_addressing(headers, envelope, Action.RETRIEVE)
    assert samples.xds_schema().validate(envelope.find(f"{ENV}Body")[0])
    assert result.RegistryResponse.status == ResponseStatus.SUCCESS.value
    (doc,) = result.DocumentResponse
    assert doc.Document == data and doc.mimeType == "application/pdf" and doc.DocumentUniqueId == samples.DOC_UID


def test_quirk_zeep_alone_corrupts_mtom_documents_ending_in_line_breaks() -> None:
    """Why the transports read MTOM themselves: zeep's own reader strips CR/LF from binary parts."""
    data = b"\r\nbody\r\n"
    reply = samples.retrieve_response(data)
    document = next(reply.iter(f"{{{NS.XDSB}}}Document"))
    document.text = None
    mtom.xop_include(document, "doc1@server")
    answer = _answer(reply, Action.RETRIEVE_RESPONSE, [mtom.Part("doc1@server", "application/pdf", data)])
    plain = zeep.Client(str(samples.WSDL_DIR / "XDS.b_DocumentRepository.wsdl"), transport=recording(Transport, *answer))
    service = plain.create_service("{urn:ihe:iti:xds-b:2007}DocumentRepository_Binding_Soap12", ADDRESS)
    result = service[Operation.RETRIEVE.value](**element_values(plain, samples.retrieve_request()))
    assert result.DocumentResponse[0].Document == b"body"  # zeep 4.3.3; if this changes, revisit the docs


@pytest.fixture
def wsdl_without_soap_action(tmp_path: Path) -> Path:
    """Our registry WSDL as IPF and IHE's ITI-57 WSDL write it: no soapAction on the binding."""
    shutil.copytree(samples.SCHEMA_DIR, tmp_path / "schemas")
    (tmp_path / "wsdl").mkdir()
    source = (samples.WSDL_DIR / "XDS.b_DocumentRegistry.wsdl").read_text()
    target = tmp_path / "wsdl" / "registry.wsdl"
    target.write_text(source.replace(' soapAction="', ' x="'))
    return target


def test_quirk_action_none_and_soapaction_header_are_fixed(wsdl_without_soap_action: Path) -> None:
    answer = _answer(samples.registry_response_success(), Action.REGISTER_RESPONSE)
    plain = zeep.Client(str(wsdl_without_soap_action), transport=recording(Transport, *answer))
    service = plain.create_service("{urn:ihe:iti:xds-b:2007}DocumentRegistry_Binding_Soap12", ADDRESS)
    service[Operation.REGISTER.value](**element_values(plain, samples.submit_objects_request()))
    _, zeep_headers, _ = plain.transport.sent[-1]
    assert 'action="None"' in zeep_headers["Content-Type"] and zeep_headers["SOAPAction"] == '""'  # zeep 4.3.3

    transport = recording(XdsTransport, *answer)
    client = registry_client(ADDRESS, wsdl=wsdl_without_soap_action, transport=transport)
    client.call(Operation.REGISTER, samples.submit_objects_request())
    headers, envelope, _ = _sent_envelope(transport)
    assert "None" not in headers["Content-Type"]
    _check_headers_and_addressing(headers, envelope, Action.REGISTER)


def test_soap_faults_become_zeep_faults() -> None:
    from xdscore.errors import FaultCode, SoapFault

    fault = soap.write_fault(SoapFault(FaultCode.SENDER, "wsa:Action x is not served", soap.WSA_ACTION_NOT_SUPPORTED))
    transport = recording(XdsTransport, fault, "application/soap+xml; charset=utf-8")
    with pytest.raises(zeep.exceptions.Fault) as info:
        registry_client(ADDRESS, transport=transport).call(Operation.REGISTER, samples.submit_objects_request())
    assert info.value.code == "soap:Sender" and "not served" in info.value.message


# ---- zeep reads and writes real messages: every ebRS 3.0 message of the NIST test kit ---------------

# Attribute values zeep writes out when the original left them to the schema default.
_DEFAULTS = {
    ("ExtrinsicObject", "isOpaque", "false"),
    ("ExtrinsicObject", "mimeType", "application/octet-stream"),
    ("AdhocQueryRequest", "federated", "false"),
    ("AdhocQueryRequest", "startIndex", "0"),
    ("AdhocQueryRequest", "maxResults", "-1"),
    ("ObjectRef", "createReplica", "false"),
    ("LocalizedString", "{http://www.w3.org/XML/1998/namespace}lang", "en-US"),
    ("LocalizedString", "charset", "UTF-8"),
    ("VersionInfo", "versionName", "1.1"),
    ("RemoveObjectsRequest", "deletionScope", "urn:oasis:names:tc:ebxml-regrep:DeletionScopeType:DeleteAll"),
    ("ResponseOption", "returnComposedObjects", "false"),
    ("ResponseOption", "returnType", "RegistryObject"),
}


def _infoset(el: etree._Element) -> Any:
    """Element content up to prefixes, whitespace, schema defaults, schemaLocation hints and empty names."""
    if not isinstance(el.tag, str):
        return None
    local = etree.QName(el).localname
    if local in ("Name", "Description") and len(el) == 0:
        return None  # an InternationalString without strings: zeep reads it as absent
    attributes = sorted(
        (k, v)
        for k, v in el.attrib.items()
        if (local, k, v) not in _DEFAULTS and not k.startswith("{http://www.w3.org/2001/XMLSchema-instance}")
    )
    children = [c for c in (_infoset(x) for x in el) if c is not None]
    return (el.tag, attributes, (el.text or "").strip() if not children else "", children)


@pytest.mark.skipif(not samples.NIST_TESTKIT.is_dir(), reason="NIST test kit not present")
def test_zeep_round_trips_every_nist_message() -> None:
    client = repository_client(ADDRESS).client  # the repository WSDL reaches all five schemas
    paths = nist_messages()
    assert len(paths) > 400
    for path in paths:
        original = etree.parse(str(path)).getroot()
        for option in original.iter(f"{{{NS.QUERY}}}ResponseOption"):
            if _PLACEHOLDER.match(option.get("returnType", "")):
                option.set("returnType", "LeafClass")
        declaration = client.get_element(etree.QName(original).text)
        holder = etree.Element("holder")
        declaration.render(holder, declaration(**element_values(client, original)))
        assert _infoset(holder[0]) == _infoset(original), path
        assert samples.xds_schema().validate(holder[0]), path


def test_inline_documents_survive_the_round_trip() -> None:
    client = repository_client(ADDRESS).client
    values = element_values(client, samples.provide_and_register(b"\x00abc\xff"))
    assert values["Document"][0]["_value_1"] == b"\x00abc\xff"
    assert base64.b64decode(next(samples.provide_and_register(b"\x00abc\xff").iter(f"{{{NS.XDSB}}}Document")).text) == b"\x00abc\xff"
