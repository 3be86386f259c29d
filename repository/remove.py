"""ITI-86 Remove Documents, Document Repository side (IHE Remove Metadata and Documents supplement,
ITI TF-2b 3.86.4.1.3).

`rmd:RemoveDocumentsRequest` names documents as ITI-43 does (RepositoryUniqueId, DocumentUniqueId,
optional HomeCommunityId). The documents this repository holds are removed from its index in one
transaction, so from that moment ITI-43 no longer serves any of them; bytes the store keeps for small
documents go in that transaction, blob files are deleted next, each only when no other uniqueId stores the
same bytes (content addressing). A crash between the two leaves
an unreferenced blob, which `repository.cleanup` removes; never an index row without its blob.

Per document that cannot be removed, one RegistryError whose location is the DocumentUniqueId:
XDSUnknownRepositoryId for another repository's id, XDSDocumentUniqueIdError for a document not held
here, XDSRemoveDocumentsError when the index could not be changed (nothing is removed then).
Status: Success when all were removed, PartialSuccess when some were, Failure when none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lxml import etree
from sqlalchemy.exc import SQLAlchemyError

from repository.blobs import BlobStore
from repository.responses import registry_response, response_status
from repository.retrieve import DocumentRequest, DocumentResult
from repository.store import DocumentStore
from xdscore.errors import FaultCode, SoapFault, Violation
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import NS, ErrorCode, ResponseStatus

log = logging.getLogger("xds.repository.remove")

RMD_NS = "urn:ihe:iti:rmd:2017"
REMOVE_REQUEST = f"{{{RMD_NS}}}RemoveDocumentsRequest"
XDSB = f"{{{NS.XDSB}}}"


@dataclass
class RemoveOutcome:
    response: etree._Element  # rs:RegistryResponse
    documents: tuple[DocumentResult, ...]  # one per DocumentRequest; `served` means removed

    @property
    def status(self) -> ResponseStatus:
        return response_status(self.response)


def _text(parent: etree._Element, local: str) -> str | None:
    el = parent.find(f"{XDSB}{local}")
    return None if el is None else (el.text or "").strip()


def parse_request(body: etree._Element) -> list[DocumentRequest]:
    if body.tag != REMOVE_REQUEST:
        raise SoapFault(FaultCode.SENDER, f"the SOAP Body holds {body.tag}, not rmd:RemoveDocumentsRequest")
    requests = []
    for i, el in enumerate(body.iterchildren(f"{XDSB}DocumentRequest"), start=1):
        repo, doc = _text(el, "RepositoryUniqueId"), _text(el, "DocumentUniqueId")
        if not repo or not doc:
            raise SoapFault(FaultCode.SENDER, f"DocumentRequest {i} lacks its RepositoryUniqueId or DocumentUniqueId")
        requests.append(DocumentRequest(repo, doc, _text(el, "HomeCommunityId") or None))
    if not requests:
        raise SoapFault(FaultCode.SENDER, "RemoveDocumentsRequest holds no DocumentRequest")
    return requests


@RULES.rule("RD-documents", ErrorCode.XDSDocumentUniqueIdError, ErrorCode.XDSUnknownRepositoryId,
            ErrorCode.XDSRemoveDocumentsError, ref="ITI TF-2b 3.86.4.1.3", family="ITI-86 repository")
def remove_documents(
    requests: list[DocumentRequest], repository_unique_id: str, store: DocumentStore, blobs: BlobStore
) -> RemoveOutcome:
    ours = [r.document_unique_id for r in requests if r.repository_unique_id == repository_unique_id]
    violations: list[Violation] = []
    try:
        removed = store.remove_stored(ours)
    except SQLAlchemyError:
        log.exception("ITI-86: the document index could not be changed")
        violations = [Violation(ErrorCode.XDSRemoveDocumentsError, f"document {r.document_unique_id} could not be "
                                "removed: the repository's index is unavailable; retry later", r.document_unique_id)
                      for r in requests]
        return RemoveOutcome(registry_response(violations), tuple(DocumentResult(r, "", ErrorCode.XDSRemoveDocumentsError)
                                                                  for r in requests))
    results: list[DocumentResult] = []
    for req in requests:
        uid = req.document_unique_id
        if req.repository_unique_id != repository_unique_id:
            violations.append(Violation(ErrorCode.XDSUnknownRepositoryId, f"repositoryUniqueId "
                                        f"{req.repository_unique_id} is not this repository ({repository_unique_id})", uid))
            results.append(DocumentResult(req, "", ErrorCode.XDSUnknownRepositoryId))
        elif uid not in removed:
            violations.append(Violation(ErrorCode.XDSDocumentUniqueIdError, f"document {uid} is not held by this "
                                        "repository", uid))
            results.append(DocumentResult(req, "", ErrorCode.XDSDocumentUniqueIdError))
        else:
            results.append(DocumentResult(req, removed[uid].patient_id))
    for doc in removed.values():
        if doc.content is None:  # a blob file (kept bytes went with the rows)
            blobs.remove_if_unreferenced(doc.sha1, store.is_referenced)
    return RemoveOutcome(registry_response(violations, partial=bool(removed)), tuple(results))
