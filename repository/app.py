"""Document Repository service wiring: settings → blob store, document store, registry client, SOAP endpoint.

Only plumbing: the streaming decoder (`repository.intake`) reads the body, the WS-Security hook
(`xdsservice.security`, XDS_SECURITY / XDS_TRUST_DIR, docs/security.md) verifies the caller's assertion
and puts the Principal in `context.principal`, each handler calls its transaction (`repository.provide`
for ITI-41, `repository.retrieve` for ITI-43) and wraps the answer. The ITI-42 of an ITI-41 whose
assertion was verified carries the caller's wsse:Security header unchanged (`caller_security`).
The endpoint also publishes the standard repository WSDL at `?wsdl` and its schemas at `?xsd=NAME`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lxml import etree

from repository.blobs import BlobStore
from repository.config import RepositorySettings
from repository.intake import StreamingDecoder
from repository.provide import provide_and_register
from repository.registry_client import RegistryClient
from repository.retrieve import parse_request, retrieve
from repository.store import DocumentStore
from xdscore import wssec
from xdscore.vocabulary import Action
from xdsservice.security import hook_for_service
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService

log = logging.getLogger("xds.repository")


class Repository:
    """The running repository: its stores, its registry client and its SOAP endpoint (ASGI app at `.asgi`)."""

    def __init__(self, settings: RepositorySettings) -> None:
        self.settings = settings
        root = Path(settings.root)
        root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(root)
        self.store = DocumentStore(settings.database)
        self.registry = RegistryClient.from_settings(settings)
        endpoint = settings.endpoint
        self.asgi = SoapService(
            path=settings.path,
            endpoint=endpoint,
            handlers={
                Action.PROVIDE_AND_REGISTER.value: self.on_provide_and_register,
                Action.RETRIEVE.value: self.on_retrieve,
            },
            wsdl=lambda: _wsdl_document(endpoint),
            xsd=lambda name: _schema_document(name),
            max_bytes=settings.max_envelope_bytes,
            security=hook_for_service("repository"),  # XDS_SECURITY, XDS_TRUST_DIR (docs/security.md)
            decoder=StreamingDecoder(self.blobs, settings.max_request_bytes, settings.max_envelope_bytes, settings.spill_threshold),
            on_shutdown=[self._close],
        )

    async def _close(self) -> None:
        self.registry.close()
        self.store.close()

    def on_provide_and_register(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        outcome = provide_and_register(
            decoded.request.body,
            decoded.attachments,
            self.settings.repository_unique_id,
            self.store,
            self.blobs,
            self.registry.on_behalf_of(caller_security(decoded, context)),
        )
        # An MTOM request gets an MTOM answer (what Axis2/CXF clients expect); a simple one a simple one.
        was_mtom = context.headers.get("content-type", "").lower().startswith("multipart/related")
        return SoapReply(outcome.response, Action.PROVIDE_AND_REGISTER_RESPONSE.value, mtom=was_mtom)

    def on_retrieve(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        requests = parse_request(decoded.request.body)
        outcome = retrieve(requests, self.settings.repository_unique_id, self.store, self.blobs)
        return SoapReply(outcome.response, Action.RETRIEVE_RESPONSE.value, parts=outcome.parts, mtom=True)


def caller_security(decoded: DecodedRequest, context: RequestContext) -> etree._Element | None:
    """The request's wsse:Security header when the hook verified an assertion in it, else None.

    Only a verified header is passed on: in `off` mode, or for an anonymous call in `optional` mode,
    the registry sees no header from us, as if the document source had called it directly without one."""
    if context.principal is None:
        return None
    return wssec.find_security_header(decoded.request.header)


def _wsdl_document(endpoint: str) -> bytes:
    from xdsservice.wsdl import wsdl_document

    return wsdl_document("repository", endpoint)


def _schema_document(name: str) -> bytes:
    from xdsservice.wsdl import UnknownDocument, schema_document

    try:
        return schema_document(name)
    except UnknownDocument as exc:
        raise KeyError(name) from exc
