"""The registry with WS-Security `required` (and TLS): every refused assertion gets its wsse fault and
leaves nothing registered; a valid one registers and its query works. Real processes, real signatures.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from harness.builders import new_patient_id, single_document
from harness.services import Service, feed_patient, start_registry
from xdscore import soap
from xdscore.ebrim import response
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, Action, ResponseStatus, Status
from xdscore.vocabulary import StoredQueryId as Q
from xuatool import pki as pki_module
from xuatool.header import add_security_to_bytes
from xuatool.variants import NIST_SUFFIXES, VariantContext, expected_fault, make

AUDIENCE = "urn:pyxds:test-registry"
REFUSED = [name for name in ("expired", "notyetvalid", "unsigned", "untrusted", "tampered", "unknownaudience",
                             "invalidauthnstatement", "secondrole") if name in NIST_SUFFIXES or name in ("untrusted", "tampered")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("pki")
    generated = pki_module.generate()
    trust = generated.write(folder)
    return generated, trust, folder


@pytest.fixture(scope="module")
def secured(pki, tmp_path_factory) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    _, trust, _ = pki
    service = start_registry(tmp_path_factory.mktemp("secured"), env={
        "XDS_SECURITY": "required", "XDS_TRUST_DIR": str(trust), "XDS_REGISTRY_SECURITY_AUDIENCE": AUDIENCE,
        "XDS_PROFILE": "ihe",
    })
    yield service
    service.stop()


def _ctx(pki) -> VariantContext:  # type: ignore[no-untyped-def]
    return VariantContext(pki[0], dt.datetime.now(dt.UTC), profile="xua", audience=AUDIENCE)


def _post(url: str, body: etree._Element, action: str, security: etree._Element | None) -> httpx.Response:
    env = etree.tostring(soap.request_envelope(body, action), xml_declaration=True, encoding="UTF-8")
    if security is not None:
        env = add_security_to_bytes(env, security)
    return httpx.post(url, content=env, headers={"Content-Type": "application/soap+xml"}, timeout=30)


def _documents_of(service: Service, patient: str, pki) -> int:  # type: ignore[no-untyped-def]
    q = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": patient,
                                         "$XDSDocumentEntryStatus": [Status.APPROVED.value]}, ReturnType.OBJECT_REF)
    r = _post(service.url, q, Action.STORED_QUERY.value, make("valid", _ctx(pki)))
    body = etree.fromstring(r.content).find(f"{{{NS.SOAP12}}}Body")[0]
    assert body.get("status") == ResponseStatus.SUCCESS.value
    return len(body.find(f"{{{NS.RIM}}}RegistryObjectList"))


def test_valid_assertion_registers(secured: Service, pki) -> None:  # type: ignore[no-untyped-def]
    pid = new_patient_id()
    feed_patient(secured.feed_port, pid)
    r = _post(secured.url, single_document(pid).xml(), Action.REGISTER.value, make("valid", _ctx(pki)))
    rr = etree.fromstring(r.content).find(f"{{{NS.SOAP12}}}Body")[0]
    assert rr.get("status") == ResponseStatus.SUCCESS.value, response.read_errors(rr)
    assert _documents_of(secured, pid, pki) == 1


def test_no_assertion_is_refused_when_required(secured: Service, pki) -> None:  # type: ignore[no-untyped-def]
    pid = new_patient_id()
    feed_patient(secured.feed_port, pid)
    r = _post(secured.url, single_document(pid).xml(), Action.REGISTER.value, None)
    fault = soap.read_fault(etree.fromstring(r.content))
    assert r.status_code == 400 and fault is not None and fault.code == "soap:Sender" and fault.subcode
    assert _documents_of(secured, pid, pki) == 0


@pytest.mark.parametrize("variant", REFUSED)
def test_refused_assertion_registers_nothing(secured: Service, pki, variant: str) -> None:  # type: ignore[no-untyped-def]
    pid = new_patient_id()
    feed_patient(secured.feed_port, pid)
    r = _post(secured.url, single_document(pid).xml(), Action.REGISTER.value, make(variant, _ctx(pki)))
    fault = soap.read_fault(etree.fromstring(r.content))
    expected = expected_fault(variant)
    assert expected is not None
    assert r.status_code == 400 and fault is not None and fault.code == "soap:Sender"
    assert fault.subcode is not None and fault.subcode.endswith(expected.value), (fault, expected)
    assert fault.reason
    assert _documents_of(secured, pid, pki) == 0


def test_registry_over_mutual_tls(pki, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _generated, trust, folder = pki
    server_cert, server_key = folder / "server.pem", folder / "server.key"
    client_cert, client_key = folder / "client.pem", folder / "client.key"
    assert server_cert.exists() and client_cert.exists(), sorted(p.name for p in folder.iterdir())
    service = start_registry(tmp_path, env={
        "XDS_REGISTRY_TLS_CERT": str(server_cert), "XDS_REGISTRY_TLS_KEY": str(server_key),
        "XDS_REGISTRY_TLS_CLIENT_CA": str(trust), "XDS_REGISTRY_TLS_CLIENT_AUTH": "required",
    })
    try:
        url = service.url.replace("http://", "https://")
        ca = str(trust / "ca.pem")
        verify = ssl.create_default_context(cafile=ca)
        verify.check_hostname = False
        with pytest.raises(httpx.HTTPError):  # no client certificate: the handshake is refused
            httpx.get(url + "?wsdl", verify=verify)
        verify.load_cert_chain(str(client_cert), str(client_key))
        r = httpx.get(url + "?wsdl", verify=verify)
        assert r.status_code == 200 and url.encode() in r.content  # the WSDL names the https endpoint
    finally:
        service.stop()



def _valid(service: Service, body: etree._Element, action: Action, pki) -> etree._Element:  # type: ignore[no-untyped-def]
    r = _post(service.url, body, action.value, make("valid", _ctx(pki)))
    return etree.fromstring(r.content).find(f"{{{NS.SOAP12}}}Body")[0]


def test_lifecycle_transactions_need_the_assertion_too(secured: Service, pki) -> None:  # type: ignore[no-untyped-def]
    """ITI-57 and ITI-62 go through the same WS-Security hook as ITI-42: refused without an assertion,
    changing nothing; accepted with a valid one."""
    from tests.registry.lifecycle import status_change, update_request
    from tests.test_lifecycle_integration import remove_request

    approved, deprecated = Status.APPROVED.value, Status.DEPRECATED.value
    pid = new_patient_id()
    feed_patient(secured.feed_port, pid)
    assert _valid(secured, single_document(pid).xml(), Action.REGISTER, pki).get("status") == ResponseStatus.SUCCESS.value
    find = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": pid, "$XDSDocumentEntryStatus": [approved]},
                          ReturnType.OBJECT_REF)
    entry = _valid(secured, find, Action.STORED_QUERY, pki).find(f".//{{{NS.RIM}}}ObjectRef").get("id")
    deprecate = update_request(pid)
    status_change(deprecate, entry)

    def everything() -> list[str]:
        q = encode_request(Q.GetAll, {"$patientId": pid, "$XDSDocumentEntryStatus": [approved, deprecated],
                                      "$XDSSubmissionSetStatus": [approved], "$XDSFolderStatus": [approved]},
                           ReturnType.OBJECT_REF)
        return [ref.get("id") for ref in _valid(secured, q, Action.STORED_QUERY, pki).iter(f"{{{NS.RIM}}}ObjectRef")]

    for body, action in ((deprecate.xml(), Action.UPDATE), (remove_request(everything()), Action.DELETE)):
        r = _post(secured.url, body, action.value, None)
        fault = soap.read_fault(etree.fromstring(r.content))
        assert r.status_code == 400 and fault is not None and fault.code == "soap:Sender" and fault.subcode
    assert _documents_of(secured, pid, pki) == 1 and len(everything()) == 3
    assert _valid(secured, deprecate.xml(), Action.UPDATE, pki).get("status") == ResponseStatus.SUCCESS.value
    assert _documents_of(secured, pid, pki) == 0
    rr = _valid(secured, remove_request(everything()), Action.DELETE, pki)
    assert rr.get("status") == ResponseStatus.SUCCESS.value, response.read_errors(rr)
    assert everything() == []
