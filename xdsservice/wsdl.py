"""The standard WSDLs and schemas a service publishes at `?wsdl` and `?xsd=NAME` (ITI TF-2x V.3.1, V.3.2).

`wsdl_document(name, endpoint_url, actions)` returns one of the WSDLs of `wsdl/` as the endpoint serves it:
- only the operations whose input wsa:Action (`wsaw:Action`, or `wsam:Action`) is in `actions`, the
  actions the endpoint really answers (`SoapService` passes its handlers' actions), with their binding
  operations; messages, and schema imports, no remaining operation uses are dropped. So a service that
  starts answering ITI-57 lists it in its WSDL by itself, and a client never sees an operation it cannot
  call;
- its soap12:address set to the endpoint;
- its schema imports pointed at `endpoint_url?xsd=NAME`, absolute URLs.
`schema_document(name, endpoint_url)` returns one of the schemas of `schemas/` with its imports pointed
the same way. The URLs are absolute because a relative `?xsd=rim.xsd` is resolved differently by RFC 2396
clients (wsdl4j, JAXB xjc, so Axis2, CXF and wsimport; Python xmlschema), which drop the last path segment
(`/xds/?xsd=rim.xsd`), and by RFC 3986 ones (zeep), which keep it.
Only the files listed here are served. Pure functions of their arguments (files read once and cached).
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
SCHEMAS = ("IHEXDSB.xsd", "RMD.xsd", "rim.xsd", "rs.xsd", "lcm.xsd", "query.xsd", "xml.xsd")

_XSD = "http://www.w3.org/2001/XMLSchema"
_WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
_SOAP12_WSDL = "http://schemas.xmlsoap.org/wsdl/soap12/"
_IMPORTS = (f"{{{_XSD}}}import", f"{{{_XSD}}}include", f"{{{_XSD}}}redefine")
# WS-Addressing 1.0 WSDL binding (IHE's WSDLs) and Metadata (its W3C Recommendation) action attributes.
WSAW_ACTION = "{http://www.w3.org/2006/05/addressing/wsdl}Action"
WSAM_ACTION = "{http://www.w3.org/2007/05/addressing/metadata}Action"


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


def _point_imports(root: etree._Element, endpoint_url: str) -> None:
    for element in root.iter(*_IMPORTS):
        location = element.get("schemaLocation")
        if location:
            name = schema_name(PurePosixPath(location).name)
            element.set("schemaLocation", f"{endpoint_url}?xsd={quote(name)}")


def _serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def input_action(operation: etree._Element) -> str | None:
    """The wsa:Action of a portType operation's input."""
    message = operation.find(f"{_WSDL}input")
    if message is None:
        return None
    return message.get(WSAW_ACTION) or message.get(WSAM_ACTION)


def _resolve(el: etree._Element, qname: str) -> tuple[str | None, str]:
    prefix, _, local = qname.rpartition(":")
    return el.nsmap.get(prefix or None), local


def _keep_operations(root: etree._Element, actions: frozenset[str]) -> None:
    """Drop the operations not served, their binding operations, then unused messages and imports."""
    dropped: set[str] = set()
    for port_type in root.iterfind(f"{_WSDL}portType"):
        for op in port_type.findall(f"{_WSDL}operation"):
            if input_action(op) not in actions:
                port_type.remove(op)
                dropped.add(op.get("name", ""))
    for binding in root.iterfind(f"{_WSDL}binding"):
        for op in binding.findall(f"{_WSDL}operation"):
            if op.get("name") in dropped:
                binding.remove(op)
    used_messages = {
        _resolve(io, io.get("message", ""))[1]
        for io in root.iterfind(f"{_WSDL}portType/{_WSDL}operation/*")
        if io.get("message")
    }
    used_namespaces: set[str | None] = set()
    for message in root.findall(f"{_WSDL}message"):
        if message.get("name") not in used_messages:
            root.remove(message)
            continue
        for part in message.iterfind(f"{_WSDL}part"):
            used_namespaces.add(_resolve(part, part.get("element", ""))[0])
    for imp in list(root.iterfind(f"{_WSDL}types/{{{_XSD}}}schema/{{{_XSD}}}import")):
        if imp.get("namespace") not in used_namespaces:
            imp.getparent().remove(imp)


@lru_cache(maxsize=64)
def wsdl_document(name: str, endpoint_url: str, actions: frozenset[str] | None = None) -> bytes:
    """WSDL `name` ("registry", "repository" or a file name) as served by the endpoint `endpoint_url`
    answering `actions` (None: every operation of the file)."""
    root = etree.parse(str(WSDL_DIR / _wsdl_file(name))).getroot()
    if actions is not None:
        _keep_operations(root, actions)
    for address in root.iter(f"{{{_SOAP12_WSDL}}}address"):
        address.set("location", endpoint_url)
    _point_imports(root, endpoint_url)
    return _serialize(root)


@lru_cache(maxsize=64)
def schema_document(name: str, endpoint_url: str) -> bytes:
    """Schema `name` (e.g. "rim.xsd") with its imports pointed at `endpoint_url?xsd=NAME`."""
    root = etree.parse(str(SCHEMA_DIR / schema_name(name))).getroot()
    _point_imports(root, endpoint_url)
    return _serialize(root)
