"""Document Repository service wiring: settings → blob store, document store, registry client, SOAP endpoint.

Only plumbing: the streaming decoder (`repository.intake`) reads the body, the WS-Security hook
(`xdsservice.security`, XDS_SECURITY / XDS_TRUST_DIR, docs/security.md) verifies the caller's assertion
and puts the Principal in `context.principal`, each handler calls its transaction (`repository.provide`
for ITI-41, `repository.retrieve` for ITI-43) and wraps the answer. The ITI-42 of an ITI-41 whose
assertion was verified carries the caller's wsse:Security header (`caller_security`): unchanged for a signed
assertion, with the card this service verified as an X.509 token for a DMP DIRECTE caller (xdscore.forwarded),
which the registry believes when it trusts this repository's TLS client certificate (`trusted_forwarders`).
The endpoint also publishes the standard repository WSDL at `?wsdl` and its schemas at `?xsd=NAME`.

Audit: `repository.audit_facts` turns each transaction's outcome into `AuditFacts`; the reply's
`after_send` records them through the process's `AuditTrail` (its `audit_sender` settings). A request the
handler answers with a SOAP fault is recorded as a failure before the fault goes out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from lxml import etree

from repository.access import ANONYMOUS, feed_precheck
from repository.audit_facts import provide_audit_facts, remove_audit_facts, retrieve_audit_facts
from repository.blobs import BlobStore
from repository.config import RepositorySettings
from repository.intake import StreamingDecoder
from repository.provide import provide_and_register, submission_facts
from repository.reconcile import Reconciler, settle_requested
from repository.registry_client import RegistryClient, RegistryUnavailable
from repository.remove import parse_request as parse_remove_request
from repository.remove import remove_documents
from repository.responses import registry_response
from repository.retrieve import DocumentRequest, parse_request, retrieve
from repository.store import DocumentStore, StoredDocument
from xdscore import forwarded, wssec
from xdscore.access import forward
from xdscore.access.matrix import Operation
from xdscore.errors import Violation
from xdscore.principal import AuthenticatedBy
from xdscore.vocabulary import Action, ErrorCode, ResponseStatus
from xdsservice.auditing import AuditTrail, ae
from xdsservice.security import build_security_hook, client_certificate
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService

log = logging.getLogger("xds.repository")

T = TypeVar("T")
IO_THREADS = 32  # concurrent blob filings (each mostly waiting on its fsyncs)


class Repository:
    """The running repository: its stores, its registry client and its SOAP endpoint (ASGI app at `.asgi`)."""

    def __init__(self, settings: RepositorySettings, audit: AuditTrail | None = None) -> None:
        self.settings = settings
        security = build_security_hook(settings.security)  # refused settings stop us before anything is created
        root = Path(settings.data_dir)
        root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(root)
        self.store = DocumentStore(settings.database_url)
        self.registry = RegistryClient.from_settings(settings)
        self._io_threads = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="repository-io")
        self.audit = audit or AuditTrail(settings.audit_sender)
        # Pending documents settled with the registry, at start-up and then periodically (repository.reconcile).
        self.reconciler = Reconciler(self.store, self.blobs, self.registry, settings.repository_unique_id,
                                     settings.reconcile_grace_seconds, settings.reconcile_interval_seconds)
        endpoint = settings.endpoint
        self.asgi = SoapService(
            path=settings.path,
            endpoint=endpoint,
            handlers={
                Action.PROVIDE_AND_REGISTER.value: self.on_provide_and_register,
                Action.RETRIEVE.value: self.on_retrieve,
                Action.REMOVE_DOCUMENTS.value: self.on_remove_documents,
            },
            wsdl=lambda actions: _wsdl_document(endpoint, actions),
            xsd=lambda name: _schema_document(name, endpoint),
            max_bytes=settings.max_envelope_bytes,
            security=security,  # XDS_SECURITY, XDS_TRUST_DIR (docs/security.md)
            decoder=StreamingDecoder(self.blobs, settings.max_request_bytes, settings.max_envelope_bytes, settings.spill_threshold,
                                     settings.idle_timeout, security, settings.xml_limits(), settings.max_header_bytes),
            on_startup=[self.reconciler.start],
            on_shutdown=[self._close],
        )

    async def _close(self) -> None:
        await self.reconciler.stop()
        self.registry.close()
        self.store.close()
        self._io_threads.shutdown(wait=True)
        self.audit.close()

    async def _io(self, work: Callable[[], T]) -> T:
        """Blocking file work (blob filing: fsyncs) in the repository's own threads, so that ITI-41s in
        flight fsync side by side and never wait on the threads asyncio keeps for everything else."""
        return await asyncio.get_running_loop().run_in_executor(self._io_threads, work)

    def _recorder(self, facts: Iterable[ae.AuditFacts]) -> list[Callable[[], None]]:
        kept = list(facts)
        return [lambda: self._record(kept)]

    def _record(self, facts: Iterable[ae.AuditFacts]) -> None:
        for one in facts:
            self.audit.record(one)

    async def on_provide_and_register(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        """ITI-41 as a coroutine: it holds no thread while its rows wait for their group commit, its blobs
        for their fsync (the repository's own I/O threads) and its ITI-42 for the registry."""
        dmp = self.settings.profile == "dmp"
        if dmp and (refused := feed_precheck(context.principal, decoded.request.body)):
            # TD2.1 refused before anything is stored (docs/dmp-access.md)
            facts = provide_audit_facts(self.audit, context, submission_facts(decoded.request.body), ResponseStatus.FAILURE)
            facts = dataclasses.replace(facts, outcome_description=refused[0].context)
            return SoapReply(registry_response(refused), Action.PROVIDE_AND_REGISTER_RESPONSE.value,
                             after_send=self._recorder([facts]))
        caller = forward.write(context.principal) if dmp and context.principal is not None else None
        try:
            outcome = await provide_and_register(
                decoded.request.body,
                decoded.attachments,
                self.settings.repository_unique_id,
                self.store,
                self.blobs,
                self.registry.on_behalf_of(caller_security(decoded, context), caller),
                limits=self.settings.submission_limits(),
                io=self._io,
                tree=decoded.in_tree_thread,
                inline_max_bytes=self.settings.inline_max_bytes,
            )
        except Exception:  # answered with a SOAP fault by SoapService: a failed ITI-41 all the same
            self._record([provide_audit_facts(self.audit, context, submission_facts(decoded.request.body), ResponseStatus.FAILURE)])
            raise
        facts = provide_audit_facts(self.audit, context, outcome.submission, outcome.status)
        # An MTOM request gets an MTOM answer (what Axis2/CXF clients expect); a simple one a simple one.
        was_mtom = context.headers.get("content-type", "").lower().startswith("multipart/related")
        return SoapReply(outcome.response, Action.PROVIDE_AND_REGISTER_RESPONSE.value, mtom=was_mtom,
                         after_send=self._recorder([facts]))

    def on_retrieve(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        try:
            requests = parse_request(decoded.request.body)
            denied = self.denied(requests, context) if self.settings.profile == "dmp" else {}
            outcome = retrieve(requests, self.settings.repository_unique_id, self.store, self.blobs,
                               self.settings.max_retrieve_documents, denied, self.settle_requested)
        except Exception:  # answered with a SOAP fault by SoapService: a failed ITI-43 all the same
            self._record(retrieve_audit_facts(self.audit, context, (), ResponseStatus.FAILURE))
            raise
        facts = retrieve_audit_facts(self.audit, context, outcome.documents, outcome.status)
        if denied:  # the DMP's access decision in the trace (TD3.2)
            reasons = sorted({v.context for v in denied.values()})
            note = f"DMP access (TD3.2): {len(denied)} document(s) refused: {'; '.join(reasons)}"[:2000]
            facts = [dataclasses.replace(f, outcome_description=note) for f in facts]
        return SoapReply(outcome.response, Action.RETRIEVE_RESPONSE.value, parts=outcome.parts, mtom=True,
                         after_send=self._recorder(facts))

    def settle_requested(self, unique_ids: list[str]) -> dict[str, StoredDocument]:
        """ITI-43 asking for documents not stored here: those pending that the registry lists become stored."""
        return settle_requested(unique_ids, self.store, self.registry, self.settings.repository_unique_id)

    def on_remove_documents(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        """ITI-86 Remove Documents."""
        try:
            requests = parse_remove_request(decoded.request.body)
            outcome = remove_documents(requests, self.settings.repository_unique_id, self.store, self.blobs)
        except Exception:  # answered with a SOAP fault by SoapService: a failed ITI-86 all the same
            self._record(remove_audit_facts(self.audit, context, (), ResponseStatus.FAILURE))
            raise
        facts = remove_audit_facts(self.audit, context, outcome.documents, outcome.status)
        return SoapReply(outcome.response, Action.REMOVE_DOCUMENTS_RESPONSE.value, after_send=self._recorder(facts))

    def denied(self, requests: Sequence[DocumentRequest], context: RequestContext) -> dict[str, Violation]:
        """DMP TD3.2: the requested documents the registry does not let this caller retrieve, with why."""
        ours = [r.document_unique_id for r in requests if r.repository_unique_id == self.settings.repository_unique_id]
        if not ours:
            return {}
        if context.principal is None:
            return {uid: Violation(ErrorCode.XDSRegistryError, ANONYMOUS, uid) for uid in ours}
        try:
            visible, refusal = self.registry.visible_unique_ids(
                ours, self.settings.repository_unique_id, forward.write(context.principal, Operation.RETRIEVE))
        except RegistryUnavailable as exc:
            reason = f"the Document Registry could not decide the DMP access rules: {exc}"
            return {uid: Violation(ErrorCode.XDSRegistryNotAvailable, reason, uid) for uid in ours}
        if refusal:
            return {uid: Violation(refusal[0].code, refusal[0].context, uid) for uid in ours}
        return {uid: Violation(ErrorCode.XDSDocumentUniqueIdError, f"document {uid} is not available", uid)
                for uid in ours if uid not in visible}


def caller_security(decoded: DecodedRequest, context: RequestContext) -> etree._Element | None:
    """What the ITI-42 carries for the caller: its wsse:Security header when the hook verified an assertion
    in it, else None (in `off` mode, or for an anonymous call in `optional` mode, the registry sees no header
    from us, as if the document source had called it directly without one).

    An unsigned DMP DIRECTE VIHF was authenticated by the card on the caller's own connection; on ours it
    would prove nothing, so the card goes with it as an X.509 token (xdscore.forwarded), for a registry
    that trusts this repository as a forwarder (docs/dmp.md)."""
    if context.principal is None:
        return None
    security = wssec.find_security_header(decoded.request.header)
    if security is None or context.principal.authenticated_by is not AuthenticatedBy.TLS_CLIENT_CERTIFICATE:
        return security
    card = client_certificate(context)
    return forwarded.with_card(security, card) if card is not None else None


def _wsdl_document(endpoint: str, actions: frozenset[str]) -> bytes:
    from xdsservice.wsdl import wsdl_document

    return wsdl_document("repository", endpoint, actions)


def _schema_document(name: str, endpoint: str) -> bytes:
    """Imports as absolute URLs of this endpoint: RFC 2396 clients (wsdl4j, xjc) misresolve `?xsd=` ones."""
    from xdsservice.wsdl import UnknownDocument, schema_document

    try:
        return schema_document(name, endpoint)
    except UnknownDocument as exc:
        raise KeyError(name) from exc
