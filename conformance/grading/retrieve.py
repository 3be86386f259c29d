"""ITI-43 Retrieve Document Set: the returned documents against the request, the reference query's
metadata (hash, size, mimeType) and the reference files (ITI TF-2b 3.43.4.2; toolkit RetrieveB).

Namespace-strict: DocumentResponse and its children are read in the xds-b namespace only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lxml import etree

from conformance.metadata import Metadata
from xdscore import mtom
from xdscore.errors import SoapFault
from xdscore.vocabulary import NS


@dataclass
class RetrievedDocument:
    unique_id: str
    repository_id: str
    mime_type: str | None
    data: bytes | None

    @property
    def sha1(self) -> str | None:
        return hashlib.sha1(self.data).hexdigest() if self.data is not None else None


def retrieved_documents(body: etree._Element, attachments: dict[str, mtom.Attachment]) -> tuple[list[RetrievedDocument], list[str]]:
    docs, problems = [], []
    for dr in body.iterfind(f"{{{NS.XDSB}}}DocumentResponse"):
        uid = (dr.findtext(f"{{{NS.XDSB}}}DocumentUniqueId") or "").strip()
        rep = (dr.findtext(f"{{{NS.XDSB}}}RepositoryUniqueId") or "").strip()
        mime = dr.findtext(f"{{{NS.XDSB}}}mimeType")
        doc_el = dr.find(f"{{{NS.XDSB}}}Document")
        data = None
        if doc_el is not None:
            try:
                data = mtom.element_content(doc_el, attachments).read()
            except SoapFault as exc:
                problems.append(f"document {uid}: {exc.reason}")
        docs.append(RetrievedDocument(uid, rep, mime.strip() if mime else None, data))
    return docs, problems


def grade_retrieve(
    request: etree._Element, body: etree._Element, attachments: dict[str, mtom.Attachment],
    reference: Metadata | None, expected_mime: str | None, reference_docs: dict[str, bytes], expect_all: bool,
) -> list[str]:
    """Returned documents against the request, the reference query metadata and the reference files."""
    if body.tag != f"{{{NS.XDSB}}}RetrieveDocumentSetResponse":
        return [f"response is {body.tag}, not xdsb:RetrieveDocumentSetResponse"]
    docs, failures = retrieved_documents(body, attachments)
    by_uid = {d.unique_id: d for d in docs}
    requests = list(request.iter(f"{{{NS.XDSB}}}DocumentRequest"))
    if expect_all and len(requests) != len(docs):
        failures.append(f"requested {len(requests)} documents, got {len(docs)}")
    for dr in requests:
        uid = (dr.findtext(f"{{{NS.XDSB}}}DocumentUniqueId") or "").strip()
        rep = (dr.findtext(f"{{{NS.XDSB}}}RepositoryUniqueId") or "").strip()
        got = by_uid.get(uid)
        if got is None:
            if expect_all:
                failures.append(f"no DocumentResponse for {uid}")
            continue
        if got.repository_id != rep:
            failures.append(f"RepositoryUniqueId {got.repository_id} in the response, {rep} requested")
        if got.data is None:
            failures.append(f"document {uid}: no document data")
            continue
        q_mime = q_hash = q_size = None
        if reference is not None:
            eo = reference.document_by_unique_id(uid)
            if eo is None:
                failures.append(f"document {uid} is not in the reference query output")
            else:
                q_mime, q_hash, q_size = eo.get("mimeType"), Metadata.slot_value(eo, "hash"), Metadata.slot_value(eo, "size")
        wanted_mime = q_mime or expected_mime
        if wanted_mime is not None and wanted_mime != got.mime_type:
            failures.append(f"document {uid}: mimeType {got.mime_type}, expected {wanted_mime}")
        if q_hash is not None and q_hash != got.sha1:
            failures.append(f"document {uid}: hash {got.sha1} of the returned bytes, query metadata says {q_hash}")
        if q_size is not None and q_size != str(len(got.data)):
            failures.append(f"document {uid}: {len(got.data)} bytes returned, query metadata says size {q_size}")
        ref = reference_docs.get(uid)
        if ref is not None and ref != got.data:
            failures.append(
                f"document {uid}: returned bytes (sha1 {got.sha1}) differ from the submitted document "
                f"(sha1 {hashlib.sha1(ref).hexdigest()})"
            )
    return failures
