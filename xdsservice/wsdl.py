"""The standard WSDLs and schemas a service publishes at `?wsdl` and `?xsd=NAME` (ITI TF-2x V.3.1, V.3.2).

`wsdl_document(name, endpoint_url)` returns one of the WSDLs of `wsdl/` with its soap12:address set to
the serving endpoint and its schema imports pointed at `endpoint_url?xsd=...`; `schema_document(name)`
returns one of the schemas of `schemas/` with its own imports pointed the same way, so that a client
given only the `?wsdl` URL (zeep, SoapUI, a .NET svcutil) can fetch everything over HTTP. Only the files
listed here are served. Pure functions of their arguments (the files are read once and cached).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath
from urllib.parse import quote

from lxml import etree

from xdscore.artefacts import artefact_dir

WSDL_DIR = artefact_dir("wsdl")
SCHEMA_DIR = artefact_dir("schemas")

# Service name -> WSDL file; the file names are accepted as names too.
WSDLS = {
    "registry": "XDS.b_DocumentRegistry.wsdl",
    "repository": "XDS.b_DocumentRepository.wsdl",
}
SCHEMAS = ("IHEXDSB.xsd", "rim.xsd", "rs.xsd", "lcm.xsd", "query.xsd", "xml.xsd")

_XSD = "http://www.w3.org/2001/XMLSchema"
_SOAP12_WSDL = "http://schemas.xmlsoap.org/wsdl/soap12/"
_IMPORTS = (f"{{{_XSD}}}import", f"{{{_XSD}}}include", f"{{{_XSD}}}redefine")


class UnknownDocument(KeyError):
    """Asked for a WSDL or schema that is not published."""


def _wsdl_file(name: str) -> str:
    if name in WSDLS:
        return WSDLS[name]
    if name in WSDLS.values():
        return name
    raise UnknownDocument(name)


def schema_name(name: str) -> str:
    """The published schema called `name` (case-insensitive), or UnknownDocument."""
    wanted = name.strip().lower()
    for known in SCHEMAS:
        if known.lower() == wanted:
            return known
    raise UnknownDocument(name)


def _schema_url(location: str, endpoint_url: str | None) -> str:
    name = schema_name(PurePosixPath(location).name)
    query = "?xsd=" + quote(name)
    return endpoint_url + query if endpoint_url else query


def _point_imports(root: etree._Element, endpoint_url: str | None) -> None:
    for element in root.iter(*_IMPORTS):
        location = element.get("schemaLocation")
        if location:
            element.set("schemaLocation", _schema_url(location, endpoint_url))


def _serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@lru_cache(maxsize=64)
def wsdl_document(name: str, endpoint_url: str) -> bytes:
    """WSDL `name` ("registry", "repository" or a file name) as served by the endpoint `endpoint_url`."""
    root = etree.parse(str(WSDL_DIR / _wsdl_file(name))).getroot()
    for address in root.iter(f"{{{_SOAP12_WSDL}}}address"):
        address.set("location", endpoint_url)
    _point_imports(root, endpoint_url)
    return _serialize(root)


@lru_cache(maxsize=64)
def schema_document(name: str, endpoint_url: str | None = None) -> bytes:
    """Schema `name` (e.g. "rim.xsd") with its imports pointed at `?xsd=` of the same endpoint.

    Without `endpoint_url` the imports are the relative references `?xsd=rim.xsd`, which resolve
    against the URL the schema was fetched from (RFC 3986 §5.2), so any endpoint path works.
    """
    root = etree.parse(str(SCHEMA_DIR / schema_name(name))).getroot()
    _point_imports(root, endpoint_url)
    return _serialize(root)
