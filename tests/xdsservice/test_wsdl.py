"""xdsservice.wsdl: the WSDLs and schemas as served at ?wsdl / ?xsd=, pointed at the serving endpoint."""

from __future__ import annotations

import pytest
from lxml import etree

from xdsservice.wsdl import SCHEMAS, UnknownDocument, schema_document, wsdl_document

XSD_IMPORT = "{http://www.w3.org/2001/XMLSchema}import"
SOAP12_ADDRESS = "{http://schemas.xmlsoap.org/wsdl/soap12/}address"
ENDPOINT = "https://xds.example.org:8443/pyxds/registry"


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


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_imports_point_at_xsd_query(name: str) -> None:
    relative = etree.fromstring(schema_document(name))
    absolute = etree.fromstring(schema_document(name, ENDPOINT))
    for root, prefix in ((relative, "?xsd="), (absolute, ENDPOINT + "?xsd=")):
        for imp in root.iter(XSD_IMPORT):
            location = imp.get("schemaLocation")
            assert location.startswith(prefix) and location[len(prefix):] in SCHEMAS


def test_schema_names_are_case_insensitive() -> None:
    assert schema_document("ihexdsb.xsd") == schema_document("IHEXDSB.xsd")


@pytest.mark.parametrize(
    "name", ["", "setup.cfg", "../setup.cfg", "../schemas/rim.xsd", "/etc/passwd", "rim.xsd/..", "cms.xsd"]
)
def test_only_published_schemas_are_served(name: str) -> None:
    with pytest.raises(UnknownDocument):
        schema_document(name)


@pytest.mark.parametrize("name", ["", "registry.wsdl", "../wsdl/XDS.b_DocumentRegistry.wsdl", "audit"])
def test_only_published_wsdls_are_served(name: str) -> None:
    with pytest.raises(KeyError):
        wsdl_document(name, ENDPOINT)
