"""The repository's audit policy (ATNA, ITI TF-2b 3.41.5.1.2 and 3.43.6.1.2; docs/audit.md): which events a
transaction's outcome gives (ITI-86 too: RMD, TF-2b 3.86.5.1.2). Pure: the outcome and the request
context in, `AuditFacts` out.

Every ITI-41 gives an Import event (patient, submission set uniqueId) and every ITI-43 Export events
(documents returned, outcome 0; documents not returned, outcome 8; one pair per patient), with the human
requestor from `context.principal`.
"""

from __future__ import annotations

from collections.abc import Sequence

from repository.provide import SubmissionFacts
from repository.retrieve import DocumentResult
from xdscore.vocabulary import ResponseStatus
from xdsservice.auditing import AuditTrail, ae
from xdsservice.soapapp import RequestContext


def provide_audit_facts(
    trail: AuditTrail, context: RequestContext, submission: SubmissionFacts, status: ResponseStatus
) -> ae.AuditFacts:
    """ITI-41, repository side (TF-2b 3.41.5.1.2): Import, the submission's patient and submission set."""
    return trail.soap_facts(
        ae.Transaction.ITI_41, context, status,
        patient_ids=(submission.patient_id,) if submission.patient_id else (),
        submission_set_unique_id=submission.submission_set_unique_id,
    )


def requested_patient(principal: object, documents: Sequence[DocumentResult]) -> str:
    """The patient a Retrieve is about when a document does not say (one this repository does not hold).

    The caller's assertion names it (XUA resource-id, the DMP patient's INS) when there is one; else the
    request's documents found here belong to exactly one patient, and the caller asked for the others in
    the same breath, so the failed read goes into that patient's trace too; else nobody ("")."""
    resource_id = getattr(principal, "resource_id", "") or ""
    if resource_id:
        return str(resource_id)
    known = {d.patient_id for d in documents if d.patient_id}
    return known.pop() if len(known) == 1 else ""


def retrieve_audit_facts(
    trail: AuditTrail, context: RequestContext, documents: Sequence[DocumentResult], status: ResponseStatus
) -> list[ae.AuditFacts]:
    """ITI-43, repository side (TF-2b 3.43.6.1.2): Export (see `documents_audit_facts`)."""
    return documents_audit_facts(trail, context, ae.Transaction.ITI_43, documents, status)


def remove_audit_facts(
    trail: AuditTrail, context: RequestContext, documents: Sequence[DocumentResult], status: ResponseStatus
) -> list[ae.AuditFacts]:
    """ITI-86, repository side (RMD, TF-2b 3.86.5.1.2): a Patient Record delete per patient, the documents
    removed (0) and those not (8), as for ITI-43."""
    return documents_audit_facts(trail, context, ae.Transaction.ITI_86, documents, status)


def documents_audit_facts(
    trail: AuditTrail, context: RequestContext, transaction: ae.Transaction, documents: Sequence[DocumentResult],
    status: ResponseStatus,
) -> list[ae.AuditFacts]:
    """The events of a transaction on documents (ITI-43, ITI-86). The builder takes one patient per event, so
    the documents are grouped by their patient: one AuditFacts per patient, each giving a message for
    the documents returned (0) and one for those not (8). Documents unknown here go to the patient of
    `requested_patient`."""
    fallback = requested_patient(context.principal, documents)
    groups: dict[str, list[ae.DocumentRef]] = {}
    for d in documents:
        groups.setdefault(d.patient_id or fallback, []).append(ae.DocumentRef(
            d.request.document_unique_id, d.request.repository_unique_id, d.request.home_community_id or "",
            retrieved=d.served,
        ))
    if not groups:  # a request refused before any document was looked at
        groups[fallback] = []
    return [
        trail.soap_facts(
            transaction, context, status,
            patient_ids=(patient,) if patient else (), documents=tuple(refs),
        )
        for patient, refs in groups.items()
    ]
