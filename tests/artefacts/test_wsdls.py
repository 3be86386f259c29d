"""wsdl/*.wsdl: SOAP 1.2 document/literal bindings with the IHE operations, messages and wsa:Actions,
loadable by zeep from the local files (ITI TF-2x V; the actions of xds-b.md §1.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import zeep
from lxml import etree
from zeep.wsdl.bindings.soap import Soap12Binding

from tests.artefacts.samples import SCHEMA_DIR, WSDL_DIR
from xdscore.vocabulary import NS, Action

W = "{http://schemas.xmlsoap.org/wsdl/}"
SOAP12 = "{http://schemas.xmlsoap.org/wsdl/soap12/}"
WSAW_ACTION = "{http://www.w3.org/2006/05/addressing/wsdl}Action"  # as IHE publishes its WSDLs

REGISTRY = WSDL_DIR / "XDS.b_DocumentRegistry.wsdl"
REPOSITORY = WSDL_DIR / "XDS.b_DocumentRepository.wsdl"

# operation -> (request action, response action, request element, response element)
EXPECTED = {
    REGISTRY: {
        "DocumentRegistry_RegisterDocumentSet-b": (
            Action.REGISTER, Action.REGISTER_RESPONSE, f"{{{NS.LCM}}}SubmitObjectsRequest", f"{{{NS.RS}}}RegistryResponse"),
        "DocumentRegistry_RegistryStoredQuery": (
            Action.STORED_QUERY, Action.STORED_QUERY_RESPONSE, f"{{{NS.QUERY}}}AdhocQueryRequest", f"{{{NS.QUERY}}}AdhocQueryResponse"),
        "DocumentRegistry_UpdateDocumentSet": (
            Action.UPDATE, Action.UPDATE_RESPONSE, f"{{{NS.LCM}}}SubmitObjectsRequest", f"{{{NS.RS}}}RegistryResponse"),
        "DocumentRegistry_RestrictedUpdateDocumentSet": (
            "urn:ihe:iti:2018:RestrictedUpdateDocumentSet", "urn:ihe:iti:2018:RestrictedUpdateDocumentSetResponse",
            f"{{{NS.LCM}}}SubmitObjectsRequest", f"{{{NS.RS}}}RegistryResponse"),
        "DocumentRegistry_DeleteDocumentSet": (
            "urn:ihe:iti:2010:DeleteDocumentSet", "urn:ihe:iti:2010:DeleteDocumentSetResponse",
            f"{{{NS.LCM}}}RemoveObjectsRequest", f"{{{NS.RS}}}RegistryResponse"),
    },
    REPOSITORY: {
        "DocumentRepository_ProvideAndRegisterDocumentSet-b": (
            Action.PROVIDE_AND_REGISTER, Action.PROVIDE_AND_REGISTER_RESPONSE,
            f"{{{NS.XDSB}}}ProvideAndRegisterDocumentSetRequest", f"{{{NS.RS}}}RegistryResponse"),
        "DocumentRepository_RetrieveDocumentSet": (
            Action.RETRIEVE, Action.RETRIEVE_RESPONSE,
            f"{{{NS.XDSB}}}RetrieveDocumentSetRequest", f"{{{NS.XDSB}}}RetrieveDocumentSetResponse"),
        "DocumentRepository_RemoveDocuments": (
            "urn:ihe:iti:2017:RemoveDocuments", "urn:ihe:iti:2017:RemoveDocumentsResponse",
            "{urn:ihe:iti:rmd:2017}RemoveDocumentsRequest", f"{{{NS.RS}}}RegistryResponse"),
    },
}


def _v(action: Action | str) -> str:
    return action.value if isinstance(action, Action) else action


@pytest.mark.parametrize("wsdl", [REGISTRY, REPOSITORY], ids=lambda p: p.name)
def test_zeep_loads_the_wsdl_with_a_soap12_binding(wsdl: Path) -> None:
    client = zeep.Client(str(wsdl))
    binding = client.service._binding
    assert isinstance(binding, Soap12Binding)
    assert set(binding._operations) == set(EXPECTED[wsdl])
    for name, (request_action, _, request_element, response_element) in EXPECTED[wsdl].items():
        operation = binding.get(name)
        assert operation.abstract.wsa_action == _v(request_action)
        assert operation.soapaction == _v(request_action)
        assert operation.style == "document"
        assert operation.input.body.qname == request_element
        assert operation.output.body.qname == response_element


@pytest.mark.parametrize("wsdl", [REGISTRY, REPOSITORY], ids=lambda p: p.name)
def test_port_type_actions_and_literal_soap12_binding(wsdl: Path) -> None:
    root = etree.parse(str(wsdl)).getroot()
    operations = root.findall(f"{W}portType/{W}operation")
    assert {op.get("name") for op in operations} == set(EXPECTED[wsdl])
    for op in operations:
        request_action, response_action, _, _ = EXPECTED[wsdl][op.get("name")]
        assert op.find(f"{W}input").get(WSAW_ACTION) == _v(request_action)
        assert op.find(f"{W}output").get(WSAW_ACTION) == _v(response_action)
    binding = root.find(f"{W}binding/{SOAP12}binding")
    assert binding.get("style") == "document"
    assert binding.get("transport") == "http://schemas.xmlsoap.org/soap/http"
    for body in root.iter(f"{SOAP12}body"):
        assert body.get("use") == "literal"
    for op in root.iter(f"{SOAP12}operation"):
        assert op.get("soapActionRequired") == "false"
    address = root.find(f"{W}service/{W}port/{SOAP12}address")
    assert address is not None and address.get("location").startswith("http://")


def test_every_transaction_action_is_in_one_wsdl() -> None:
    declared: list[str] = []
    for wsdl in (REGISTRY, REPOSITORY):
        root = etree.parse(str(wsdl)).getroot()
        declared += [el.get(WSAW_ACTION) for el in root.iterfind(f"{W}portType/{W}operation/*")
                     if el.tag in (f"{W}input", f"{W}output")]
    assert len(declared) == len(set(declared))
    assert {a.value for a in Action if a is not Action.SOAP_FAULT} <= set(declared)


@pytest.mark.parametrize("wsdl", [REGISTRY, REPOSITORY], ids=lambda p: p.name)
def test_schema_imports_are_relative_and_exist(wsdl: Path) -> None:
    root = etree.parse(str(wsdl)).getroot()
    locations = [el.get("schemaLocation") for el in root.iter("{http://www.w3.org/2001/XMLSchema}import")]
    assert locations and all(loc.startswith("../schemas/") for loc in locations)
    assert all((wsdl.parent / loc).resolve().parent == SCHEMA_DIR for loc in locations)
    assert all((wsdl.parent / loc).is_file() for loc in locations)
