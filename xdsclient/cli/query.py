"""`xds query` (ITI-18 Registry Stored Query FindDocuments, ITI TF-2a 3.18) and `xds retrieve` (ITI-43
Retrieve Document Set, ITI TF-2b 3.43; the repository found by GetDocuments when not given).

Each call carries `security` (a wsse:Security header with a VIHF, ITI TF-2b 3.40) when given: a copy is
put in the SOAP header, as a registry or repository running WS-Security `required` (the dmp default) wants.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xdsclient.soapclient import SoapClient, SoapResponse
from xdscore import soap
from xdscore.ebrim import document_entry, rim
from xdscore.ebrim.response import read_errors
from xdscore.model import DocumentEntry
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, Action, ResponseStatus, Status, StoredQueryId
from xuatool import add_security

XDSB = f"{{{NS.XDSB}}}"
RIM = f"{{{NS.RIM}}}"
STATUSES = {
    "approved": [Status.APPROVED.value],
    "deprecated": [Status.DEPRECATED.value],
    "all": [Status.APPROVED.value, Status.DEPRECATED.value],
}


class ServiceError(Exception):
    """A registry or repository answered with errors (or not with SOAP)."""


def _check(response: SoapResponse, what: str) -> etree._Element:
    fault = response.fault
    if fault is not None:
        raise ServiceError(f"the {what} answered with a SOAP fault: {fault.reason}")
    body = response.body
    if body is None:
        raise ServiceError(f"the {what} answered HTTP {response.status_code}: {response.parse_error or 'not SOAP'}")
    return body


def _send(client: SoapClient, body: etree._Element, action: str, to: str, security: etree._Element | None,
          mtom: bool = False) -> SoapResponse:
    envelope = soap.request_envelope(body, action, to)
    if security is not None:
        add_security(envelope, security)
    return client.send_envelope(envelope, action, mtom=mtom)


def _errors(body: etree._Element) -> list[tuple[str, str, str, str]]:
    return [e for e in read_errors(body) if e[2].endswith(":Error")]


def find_documents(registry: str, patient_id: str, status: str = "approved", filters: dict[str, list[str]] | None = None,
                   times: dict[str, str] | None = None, timeout: float = 60.0,
                   security: etree._Element | None = None) -> list[DocumentEntry]:
    """The patient's DocumentEntries (LeafClass), filtered by status, coded values (`code^^scheme`, a
    list is an OR) and time bounds (DTM)."""
    params: dict[str, str | list[str] | list[list[str]]] = {
        "$XDSDocumentEntryPatientId": patient_id,
        "$XDSDocumentEntryStatus": STATUSES[status],
    }
    params.update({name: values for name, values in (filters or {}).items() if values})
    params.update(times or {})
    return _entries(registry, encode_request(StoredQueryId.FindDocuments, params), timeout, security)


def get_documents(registry: str, unique_id: str, timeout: float = 60.0,
                  security: etree._Element | None = None) -> list[DocumentEntry]:
    params: dict[str, str | list[str] | list[list[str]]] = {"$XDSDocumentEntryUniqueId": [unique_id]}
    return _entries(registry, encode_request(StoredQueryId.GetDocuments, params, ReturnType.LEAF_CLASS), timeout,
                    security)


def _entries(registry: str, request: etree._Element, timeout: float, security: etree._Element | None) -> list[DocumentEntry]:
    with SoapClient(registry, timeout=timeout) as client:
        body = _check(_send(client, request, Action.STORED_QUERY.value, registry, security), "registry")
    errors = _errors(body)
    if errors:
        raise ServiceError("the registry refused the query: " + "; ".join(f"{c} ({ctx})" for c, ctx, _, _ in errors))
    return [document_entry.read(rim.read_object(eo)) for eo in body.iter(f"{RIM}ExtrinsicObject")]


@dataclass(frozen=True)
class Retrieved:
    unique_id: str
    repository_unique_id: str
    mime_type: str
    data: bytes


def retrieve(repository: str, unique_id: str, repository_unique_id: str, timeout: float = 120.0,
             security: etree._Element | None = None) -> Retrieved:
    """One document by ITI-43 (MTOM); raises ServiceError with the repository's codes if it is not there."""
    req = etree.Element(f"{XDSB}RetrieveDocumentSetRequest", nsmap={"xdsb": NS.XDSB})
    doc_req = etree.SubElement(req, f"{XDSB}DocumentRequest")
    etree.SubElement(doc_req, f"{XDSB}RepositoryUniqueId").text = repository_unique_id
    etree.SubElement(doc_req, f"{XDSB}DocumentUniqueId").text = unique_id
    with SoapClient(repository, timeout=timeout) as client:
        response = _send(client, req, Action.RETRIEVE.value, repository, security, mtom=True)
        body = _check(response, "repository")
        errors = _errors(body)
        found = body.find(f"{XDSB}DocumentResponse")
        registry_response = body.find(f"{{{NS.RS}}}RegistryResponse")
        status = registry_response.get("status") if registry_response is not None else None
        if errors or found is None or status == ResponseStatus.FAILURE.value:
            raise ServiceError("the repository has no such document: "
                               + ("; ".join(f"{c} ({ctx})" for c, ctx, _, _ in errors) or str(status)))
        document = found.find(f"{XDSB}Document")
        if document is None:
            raise ServiceError("the repository's answer holds no document")
        return Retrieved(unique_id, repository_unique_id, found.findtext(f"{XDSB}mimeType") or "",
                         response.content(document))
