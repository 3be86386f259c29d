"""xdsclient.xop: what the client sends as MTOM, the server's decoder (xdscore.mtom) reads back exactly."""

from __future__ import annotations

import base64
import os
from urllib.parse import unquote

import pytest
from lxml import etree

from tests.artefacts import samples
from xdsclient import xop
from xdscore import mtom, soap
from xdscore.vocabulary import NS, Action

DOCUMENT = f"{{{NS.XDSB}}}Document"
SIZES = {"1KB": 1024, "5MB": 5 * 1024 * 1024}


def _pnr_envelope(data: bytes) -> etree._Element:
    return soap.request_envelope(samples.provide_and_register(data), Action.PROVIDE_AND_REGISTER.value)


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_server_decoder_reads_back_every_byte(size: int) -> None:
    data = os.urandom(size)
    envelope = _pnr_envelope(data)
    parts = xop.optimize(envelope)
    content_type, body = xop.write_multipart(etree.tostring(envelope), parts, Action.PROVIDE_AND_REGISTER.value)

    ctype = mtom.ContentType.parse(content_type)
    assert ctype.is_multipart
    assert ctype.params["type"] == "application/xop+xml"
    assert ctype.params["start-info"] == "application/soap+xml"
    assert ctype.params["action"] == Action.PROVIDE_AND_REGISTER.value
    message = mtom.decode_message(body, ctype)
    root = etree.fromstring(message.root)
    document = next(root.iter(DOCUMENT))
    assert document.text is None and document.find(mtom.XOP_INCLUDE) is not None
    received = mtom.element_content(document, message.attachments)
    assert received.read() == data
    assert received.content_type == "application/pdf"  # the ExtrinsicObject's mimeType


def test_line_breaks_at_both_ends_survive() -> None:
    data = b"\r\n\n%PDF body\r\n\r\n"
    envelope = _pnr_envelope(data)
    parts = xop.optimize(envelope)
    content_type, body = xop.write_multipart(etree.tostring(envelope), parts, None)
    message = mtom.decode_message(body, mtom.ContentType.parse(content_type))
    assert [a.read() for a in message.attachments.values()] == [data]


def test_hrefs_are_url_escaped_content_ids() -> None:
    envelope = _pnr_envelope(b"x")
    (part,) = xop.optimize(envelope)
    href = next(envelope.iter(mtom.XOP_INCLUDE)).get("href")
    assert href.startswith("cid:") and "@" not in href  # RFC 2392: the addr-spec is URL-escaped
    assert unquote(href[4:]) == part.content_id


def test_several_documents_each_get_their_part() -> None:
    pnr = samples.provide_and_register(b"first")
    pnr.append(samples.XDSB.Document(base64.b64encode(b"second").decode(), id="Document02"))
    envelope = soap.request_envelope(pnr, Action.PROVIDE_AND_REGISTER.value)
    parts = xop.optimize(envelope)
    assert [p.data for p in parts] == [b"first", b"second"]
    assert len({p.content_id for p in parts}) == 2
    assert [p.content_type for p in parts] == ["application/pdf", "application/octet-stream"]


def test_optimize_leaves_existing_includes_and_refuses_non_base64() -> None:
    envelope = _pnr_envelope(b"x")
    xop.optimize(envelope)
    assert xop.optimize(envelope) == []  # already optimised
    bad = _pnr_envelope(b"x")
    next(bad.iter(DOCUMENT)).text = "not base64!"
    with pytest.raises(ValueError):
        xop.optimize(bad)


def test_read_message_and_inline_includes_round_trip() -> None:
    data = os.urandom(3000) + b"\n"
    body = samples.retrieve_response(data)
    document = next(body.iter(DOCUMENT))
    document.text = None
    cid = mtom.new_content_id()
    mtom.xop_include(document, cid)
    envelope = soap.write_response(body, Action.RETRIEVE_RESPONSE.value, "urn:uuid:1")
    content_type, raw = mtom.encode_message(envelope, [mtom.Part(cid, "application/pdf", data)], Action.RETRIEVE_RESPONSE.value)

    message = xop.read_message(raw, content_type)
    assert message.multipart and set(message.attachments) == {cid}
    assert xop.inline_includes(message.envelope, message.attachments) == 1
    inlined = next(message.envelope.iter(DOCUMENT))
    assert base64.b64decode(inlined.text) == data
    assert samples.xds_schema().validate(inlined.getparent().getparent())


def test_read_message_plain_soap() -> None:
    envelope = soap.write_response(samples.registry_response_success(), Action.REGISTER_RESPONSE.value, None)
    message = xop.read_message(envelope, 'application/soap+xml; charset=UTF-8; action="x"')
    assert not message.multipart and message.attachments == {}
    assert message.envelope.tag == f"{{{NS.SOAP12}}}Envelope"
