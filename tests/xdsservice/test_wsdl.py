"""xdsservice.wsdl: the WSDLs and schemas as served at ?wsdl / ?xsd=: pointed at the serving endpoint with
absolute URLs, and listing only the operations the endpoint answers."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from lxml import etree

from xdsservice.wsdl import SCHEMAS, WSAW_ACTION, UnknownDocument, schema_document, wsdl_document

XSD_IMPORT = "{http://www.w3.org/2001/XMLSchema}import"
SOAP12_ADDRESS = "{http://schemas.xmlsoap.org/wsdl/soap12/}address"
W = "{http://schemas.xmlsoap.org/wsdl/}"
ENDPOINT = "https://xds.example.org:8443/pyxds/registry"
REGISTRY_ACTIONS = {
    "DocumentRegistry_RegisterDocumentSet-b": "urn:ihe:iti:2007:RegisterDocumentSet-b",
    "DocumentRegistry_RegistryStoredQuery": "urn:ihe:iti:2007:RegistryStoredQuery",
    "DocumentRegistry_UpdateDocumentSet": "urn:ihe:iti:2010:UpdateDocumentSet",
    "DocumentRegistry_RestrictedUpdateDocumentSet": "urn:ihe:iti:2018:RestrictedUpdateDocumentSet",
    "DocumentRegistry_DeleteDocumentSet": "urn:ihe:iti:2010:DeleteDocumentSet",
}
REPOSITORY_ACTIONS = {
    "DocumentRepository_ProvideAndRegisterDocumentSet-b": "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
    "DocumentRepository_RetrieveDocumentSet": "urn:ihe:iti:2007:RetrieveDocumentSet",
    "DocumentRepository_RemoveDocuments": "urn:ihe:iti:2017:RemoveDocuments",
}


def operations(wsdl: bytes) -> dict[str, list[str]]:
    """portType operation -> [input action, binding operation present?]"""
    root = etree.fromstring(wsdl)
    bound = {op.get("name") for op in root.iterfind(f"{W}binding/{W}operation")}
    return {op.get("name"): [op.find(f"{W}input").get(WSAW_ACTION), op.get("name") in bound]
            for op in root.iterfind(f"{W}portType/{W}operation")}


@pytest.mark.parametrize("name", ["registry", "repository", "XDS.b_DocumentRegistry.wsdl"])
def test_wsdl_points_at_the_endpoint(name: str) -> None:
    root = etree.fromstring(wsdl_document(name, ENDPOINT))
    assert [a.get("location") for a in root.iter(SOAP12_ADDRESS)] == [ENDPOINT]
    locations = [i.get("schemaLocation") for i in root.iter(XSD_IMPORT)]
    assert locations
    for location in locations:
        assert location.startswith(ENDPOINT + "?xsd=")
        assert location.split("?xsd=")[1] in SCHEMAS


def test_wsdl_depends_only_on_its_arguments() -> None:
    other = "http://127.0.0.1:9/x"
    assert wsdl_document("registry", ENDPOINT) != wsdl_document("registry", other)
    assert other.encode() in wsdl_document("registry", other)
    assert b"localhost/pyxds" not in wsdl_document("registry", other)  # the placeholder is gone


def test_every_operation_carries_the_ihe_action_and_a_binding() -> None:
    assert operations(wsdl_document("registry", ENDPOINT)) == {k: [v, True] for k, v in REGISTRY_ACTIONS.items()}
    assert operations(wsdl_document("repository", ENDPOINT)) == {k: [v, True] for k, v in REPOSITORY_ACTIONS.items()}


def test_only_the_operations_served_are_listed() -> None:
    served = frozenset({REGISTRY_ACTIONS["DocumentRegistry_RegisterDocumentSet-b"],
                        REGISTRY_ACTIONS["DocumentRegistry_RegistryStoredQuery"], "urn:example:other"})
    wsdl = wsdl_document("registry", ENDPOINT, served)
    assert set(operations(wsdl)) == {"DocumentRegistry_RegisterDocumentSet-b", "DocumentRegistry_RegistryStoredQuery"}
    root = etree.fromstring(wsdl)
    assert {m.get("name") for m in root.iterfind(f"{W}message")} == {
        "RegisterDocumentSet-b_Message", "RegisterDocumentSet-bResponse_Message",
        "RegistryStoredQuery_Message", "RegistryStoredQueryResponse_Message"}
    # ITI-57 served: it appears, nothing else changes
    with_update = wsdl_document("registry", ENDPOINT, served | {REGISTRY_ACTIONS["DocumentRegistry_UpdateDocumentSet"]})
    assert set(operations(with_update)) == set(operations(wsdl)) | {"DocumentRegistry_UpdateDocumentSet"}


def test_schema_imports_no_operation_needs_are_dropped() -> None:
    served = frozenset(REPOSITORY_ACTIONS[k] for k in ("DocumentRepository_ProvideAndRegisterDocumentSet-b",
                                                       "DocumentRepository_RetrieveDocumentSet"))
    without = etree.fromstring(wsdl_document("repository", ENDPOINT, served))
    assert {i.get("namespace") for i in without.iter(XSD_IMPORT)} == {"urn:ihe:iti:xds-b:2007",
                                                                      "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"}
    full = etree.fromstring(wsdl_document("repository", ENDPOINT, served | {REPOSITORY_ACTIONS["DocumentRepository_RemoveDocuments"]}))
    assert "urn:ihe:iti:rmd:2017" in {i.get("namespace") for i in full.iter(XSD_IMPORT)}


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_imports_are_absolute_urls_of_the_endpoint(name: str) -> None:
    root = etree.fromstring(schema_document(name, ENDPOINT))
    for imp in root.iter(XSD_IMPORT):
        location = imp.get("schemaLocation")
        assert location.startswith(ENDPOINT + "?xsd=") and location[len(ENDPOINT) + 5:] in SCHEMAS
        # absolute: RFC 2396 and RFC 3986 resolution agree (a relative ?xsd= would lose /registry in 2396)
        assert urljoin(ENDPOINT + "?xsd=" + name, location) == location


def test_schema_names_are_case_insensitive() -> None:
    assert schema_document("ihexdsb.xsd", ENDPOINT) == schema_document("IHEXDSB.xsd", ENDPOINT)


@pytest.mark.parametrize(
    "name", ["", "setup.cfg", "../setup.cfg", "../schemas/rim.xsd", "/etc/passwd", "rim.xsd/..", "cms.xsd"]
)
def test_only_published_schemas_are_served(name: str) -> None:
    with pytest.raises(UnknownDocument):
        schema_document(name, ENDPOINT)


@pytest.mark.parametrize("name", ["", "registry.wsdl", "../wsdl/XDS.b_DocumentRegistry.wsdl", "audit"])
def test_only_published_wsdls_are_served(name: str) -> None:
    with pytest.raises(KeyError):
        wsdl_document(name, ENDPOINT)
