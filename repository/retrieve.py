"""ITI-43 Retrieve Document Set, Document Repository side (ITI TF-2b 3.43.4.2.3; IHEXDSB.xsd).

One DocumentResponse per DocumentRequest found here, carrying HomeCommunityId (when asked with one),
RepositoryUniqueId, DocumentUniqueId, the mimeType stored at ITI-41 time, and the Document as an
xop:Include to a MIME part that is streamed from the blob store, or from the bytes the store keeps for
a small document (read with its row).

Per request that cannot be served, one RegistryError whose location is the DocumentUniqueId:
- a RepositoryUniqueId that is not ours → XDSUnknownRepositoryId;
- a document this repository does not hold → XDSDocumentUniqueIdError (TF-3 Table 4.2.4.1-2, IPF
  DOCUMENT_NOT_FOUND_ERROR, NIST repository simulator issue 70; docs/repository.md explains why not
  XDSMissingDocument, which is ITI-41's code);
- a stored row whose blob is gone → XDSRepositoryError.
Status: Success when all were served, PartialSuccess when some were (NIST 15816 retrieve_partial_uid),
Failure when none (NIST 15816 retrieve_bad_doc_uid). A request with more DocumentRequests than the
repository's `max_retrieve_documents` is a Failure with one XDSRepositoryError naming the limit.

The outcome lists every requested document, served or not, with the patient this repository stored it
for (ITI-41 time), so that `repository.app` can build the ITI-43 audit messages (TF-2b 3.43.6.1.2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from lxml import etree

from repository.blobs import BlobStore, read_chunks
from repository.responses import REGISTRY_RESPONSE, registry_response, response_status
from repository.store import DocumentStore, StoredDocument
from xdscore import mtom
from xdscore.errors import FaultCode, SoapFault, Violation
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import NS, ErrorCode, ResponseStatus
from xdsservice import schema_validation

XDSB = f"{{{NS.XDSB}}}"
Settle = Callable[[list[str]], Mapping[str, StoredDocument]]
RETRIEVE_REQUEST = f"{XDSB}RetrieveDocumentSetRequest"
RETRIEVE_RESPONSE = f"{XDSB}RetrieveDocumentSetResponse"
PART_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class DocumentRequest:
    repository_unique_id: str
    document_unique_id: str
    home_community_id: str | None = None


@dataclass(frozen=True)
class DocumentResult:
    """One DocumentRequest and what became of it."""

    request: DocumentRequest
    patient_id: str = ""  # the DocumentEntry's patientId stored at ITI-41 time; "" when unknown here
    error: ErrorCode | None = None  # None: the document was returned

    @property
    def served(self) -> bool:
        return self.error is None


@dataclass
class RetrieveOutcome:
    response: etree._Element  # xdsb:RetrieveDocumentSetResponse
    parts: list[mtom.AnyPart]
    documents: tuple[DocumentResult, ...]  # one per DocumentRequest, in request order

    @property
    def served(self) -> tuple[str, ...]:
        """DocumentUniqueIds returned."""
        return tuple(d.request.document_unique_id for d in self.documents if d.served)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(d.request.document_unique_id for d in self.documents if not d.served)

    @property
    def status(self) -> ResponseStatus:
        found = self.response.find(REGISTRY_RESPONSE)
        return response_status(found) if found is not None else ResponseStatus.FAILURE


def _one(content: bytes) -> tuple[bytes]:
    return (content,)


def _text(parent: etree._Element, local: str) -> str | None:
    el = parent.find(f"{XDSB}{local}")
    if el is None:
        return None
    return (el.text or "").strip()


@RULES.rule("RET-request", ErrorCode.XDSRepositoryError, ref="ITI TF-2b 3.43.4.1.2", family="ITI-43 repository")
def parse_request(body: etree._Element) -> list[DocumentRequest]:
    """The DocumentRequests of a RetrieveDocumentSetRequest; SoapFault for another body or a missing field."""
    if body.tag != RETRIEVE_REQUEST:
        raise SoapFault(FaultCode.SENDER, f"the SOAP Body holds {body.tag}, not xdsb:RetrieveDocumentSetRequest")
    requests = []
    for i, el in enumerate(body.iterchildren(f"{XDSB}DocumentRequest"), start=1):
        repo = _text(el, "RepositoryUniqueId")
        doc = _text(el, "DocumentUniqueId")
        if not repo or not doc:
            raise SoapFault(FaultCode.SENDER, f"DocumentRequest {i} lacks its RepositoryUniqueId or DocumentUniqueId")
        requests.append(DocumentRequest(repo, doc, _text(el, "HomeCommunityId") or None))
    if not requests:
        raise SoapFault(FaultCode.SENDER, "RetrieveDocumentSetRequest holds no DocumentRequest")
    # What the checks above do not name (an unknown child, the order of the fields): the IHE schema's word.
    invalid = schema_validation.violations(body, ErrorCode.XDSRepositoryError)
    if invalid:
        raise SoapFault(FaultCode.SENDER, "; ".join(v.context for v in invalid))
    return requests


@RULES.rule("RET-documents", ErrorCode.XDSUnknownRepositoryId, ErrorCode.XDSDocumentUniqueIdError, ErrorCode.XDSRepositoryError, ref="ITI TF-2b 3.43.4.2.3", family="ITI-43 repository")
def retrieve(requests: list[DocumentRequest], repository_unique_id: str, store: DocumentStore, blobs: BlobStore,
             max_documents: int | None = None, denied: Mapping[str, Violation] | None = None,
             settle: Settle | None = None) -> RetrieveOutcome:
    """Look every request up and open the blobs now, so a missing file is an error, not a cut stream.

    `settle`: asked about the requested documents not stored here, returns those it could make stored (a
    document left pending by a crash that the registry lists: `repository.reconcile.settle_requested`).

    More than `max_documents` DocumentRequests are refused as a whole, before anything is looked up: a
    Failure with one XDSRepositoryError naming the limit (the TF has no code of its own for it; a
    request of a few hundred KB could otherwise stream gigabytes back).
    `denied`: documents the access rules refuse (DMP TD3.2), by DocumentUniqueId, with the answer to give."""
    if max_documents is not None and len(requests) > max_documents:
        context = (f"the request holds {len(requests)} DocumentRequests; this repository serves at most "
                   f"{max_documents} in one request: split it")
        response = etree.Element(RETRIEVE_RESPONSE, nsmap={"xdsb": NS.XDSB})
        response.append(registry_response([Violation(ErrorCode.XDSRepositoryError, context)]))
        return RetrieveOutcome(response, [], tuple(DocumentResult(r, "", ErrorCode.XDSRepositoryError) for r in requests))
    stored = store.get_many(r.document_unique_id for r in requests if r.repository_unique_id == repository_unique_id)
    missing = [r.document_unique_id for r in requests
               if r.repository_unique_id == repository_unique_id and r.document_unique_id not in stored]
    if missing and settle is not None:
        stored.update(settle(missing))
    violations: list[Violation] = []
    results: list[DocumentResult] = []
    served: list[tuple[DocumentRequest, str, mtom.StreamingPart]] = []

    def refuse(req: DocumentRequest, code: ErrorCode, context: str, patient_id: str = "") -> None:
        violations.append(Violation(code, context, req.document_unique_id))
        results.append(DocumentResult(req, patient_id, code))

    for req in requests:
        uid = req.document_unique_id
        if req.repository_unique_id != repository_unique_id:
            refuse(req, ErrorCode.XDSUnknownRepositoryId,
                   f"repositoryUniqueId {req.repository_unique_id} is not this repository ({repository_unique_id})")
            continue
        doc = stored.get(uid)
        if denied and uid in denied:
            refuse(req, denied[uid].code, denied[uid].context, doc.patient_id if doc else "")
            continue
        if doc is None:
            refuse(req, ErrorCode.XDSDocumentUniqueIdError, f"document {uid} is not held by this repository")
            continue
        if doc.content is not None:  # kept in the store
            part = mtom.StreamingPart(mtom.new_content_id(), PART_CONTENT_TYPE, len(doc.content), partial(_one, doc.content))
        else:
            try:
                handle = blobs.open(doc.sha1)
            except FileNotFoundError:
                refuse(req, ErrorCode.XDSRepositoryError, f"the content of document {uid} is missing from the blob store",
                       doc.patient_id)
                continue
            part = mtom.StreamingPart(mtom.new_content_id(), PART_CONTENT_TYPE, doc.size, partial(read_chunks, handle))
        served.append((req, doc.mime_type, part))
        results.append(DocumentResult(req, doc.patient_id))

    response = etree.Element(RETRIEVE_RESPONSE, nsmap={"xdsb": NS.XDSB})
    response.append(registry_response(violations, partial=bool(served)))
    for req, mime_type, part in served:
        dr = etree.SubElement(response, f"{XDSB}DocumentResponse")
        if req.home_community_id:
            etree.SubElement(dr, f"{XDSB}HomeCommunityId").text = req.home_community_id
        etree.SubElement(dr, f"{XDSB}RepositoryUniqueId").text = req.repository_unique_id
        etree.SubElement(dr, f"{XDSB}DocumentUniqueId").text = req.document_unique_id
        etree.SubElement(dr, f"{XDSB}mimeType").text = mime_type
        mtom.xop_include(etree.SubElement(dr, f"{XDSB}Document"), part.content_id)
    return RetrieveOutcome(response, [p for _, _, p in served], tuple(results))
