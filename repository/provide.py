"""ITI-41 Provide and Register Document Set-b, Document Repository side (ITI TF-2b 3.41.4.1.3).

1. Match every Document to its DocumentEntry by id (IHEXDSB.xsd: Document/@id = ExtrinsicObject/@id):
   a document without metadata is XDSMissingDocumentMetadata, metadata without a document is
   XDSMissingDocument (NIST test 11983).
2. Take SHA-1 and size of the exact received bytes (computed while the MIME part arrived); a hash or
   size the source supplied must agree, else XDSRepositoryMetadataError (NIST 11981, 12369); a hash
   differing only in letter case agrees (NIST 11981 submit_uppercase_hash).
3. Overwrite the hash, size and repositoryUniqueId slots (TF-2b 3.41.4.1.3.2); mimeType is kept.
4. Reserve the uniqueIds in the repository store, then file the blobs (fsync + rename,
   content-addressed), then send ITI-42 to the registry and return its RegistryResponse, errors
   included (NIST 11986). A document of at most `inline_max_bytes` received in memory is not filed: its
   bytes go into the store in the reserving transaction, whose durable commit comes before the ITI-42
   all the same (docs/repository.md "Small documents in the store").
5. Registry success: the rows become `stored`. Registry refusal or registry unreachable: the rows and
   the blobs this submission created are removed. No answer at all (timeout after sending): the rows
   stay `pending` for `repository.cleanup` to settle with the registry.

Each row keeps its DocumentEntry's patientId, so that ITI-43 can name the patient in its audit message;
every outcome, refusals included, carries the submission's patient and submission set uniqueId for the
ITI-41 audit message (TF-2b 3.41.5.1.2), which `repository.app` builds and records.

`prepare` is pure (XML and attachments in, violations or a prepared submission out); `provide_and_register`
drives the store, the blob store and the registry through the objects it is given.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from lxml import etree

from repository.blobs import BlobStore, SpoolFile
from repository.registry_client import RegistryAnswer
from repository.responses import registry_response, response_status
from repository.store import DocumentStore, StoredDocument
from xdscore import mtom
from xdscore.ebrim import limits as submission_limits
from xdscore.ebrim import provide_and_register as pnr
from xdscore.ebrim import rim
from xdscore.ebrim.limits import SubmissionLimits
from xdscore.errors import SoapFault, Violation
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import ErrorCode, ResponseStatus, Slot
from xdsservice import schema_validation

log = logging.getLogger("xds.repository.provide")
DEFAULT_LIMITS = SubmissionLimits()
INLINE_MAX_BYTES = 64 * 1024  # documents kept in the store, not as blob files (RepositorySettings.inline_max_bytes)


@dataclass(frozen=True)
class Document:
    """A document matched to its DocumentEntry."""

    entry_id: str
    unique_id: str
    mime_type: str
    content: mtom.Attachment  # `sha1` and `size` are set
    patient_id: str = ""  # XDSDocumentEntry.patientId, else the submission set's

    @property
    def sha1(self) -> str:
        assert self.content.sha1 is not None
        return self.content.sha1


@dataclass(frozen=True)
class Prepared:
    submit_objects_request: etree._Element  # patched, ready to forward as ITI-42
    documents: tuple[Document, ...]


class RegistryPort(Protocol):
    async def register(self, submit_objects_request: etree._Element) -> RegistryAnswer: ...


T = TypeVar("T")
IoRunner = Callable[[Callable[[], T]], Awaitable[T]]  # runs blocking file work off the event loop
TreeRunner = Callable[[Callable[[], T]], Awaitable[T]]  # runs work on the request's tree where it was parsed


@dataclass(frozen=True)
class SubmissionFacts:
    """What a Provide and Register is about, as far as its metadata can be read (for the audit message)."""

    patient_id: str = ""  # XDSSubmissionSet.patientId, else the first DocumentEntry's patientId
    submission_set_unique_id: str = ""


@dataclass(frozen=True)
class ProvideOutcome:
    response: etree._Element  # rs:RegistryResponse for the document source
    stored: tuple[str, ...] = ()  # uniqueIds now served by ITI-43
    submission: SubmissionFacts = SubmissionFacts()

    @property
    def status(self) -> ResponseStatus:
        return response_status(self.response)


def submission_facts(body: etree._Element) -> SubmissionFacts:
    """The patient and submission set uniqueId of a request, whatever else is wrong with it (never raises)."""
    try:
        request = pnr.outline(body)
    except SoapFault:
        return SubmissionFacts()
    return _facts(request)


def _facts(request: pnr.ProvideOutline) -> SubmissionFacts:
    patient = request.submission_set_patient_id or next((e.patient_id for e in request.entries if e.patient_id), None)
    return SubmissionFacts(patient or "", request.submission_set_unique_id or "")


# ------------------------------------------------------------------------------------------------
# Rules: each yields Violations with its code; none raises.


@RULES.rule("REP-document-id", ErrorCode.XDSRepositoryMetadataError, ref="ITI TF-2b 3.41.4.1.2", family="ITI-41 repository")
def _documents_by_id(documents: list[etree._Element], attachments: dict[str, mtom.Attachment]) -> tuple[dict[str, mtom.Attachment], list[Violation]]:
    """Document/@id is required and unique (IHEXDSB.xsd); each MIME part is the content of one Document
    only (XOP: one attachment per DocumentEntry; the href matched exactly, `mtom.href_content_id`)
    → XDSRepositoryMetadataError."""
    contents: dict[str, mtom.Attachment] = {}
    part_owner: dict[str, str] = {}
    violations = []
    for el in documents:
        doc_id = (el.get("id") or "").strip()
        if not doc_id:
            violations.append(Violation(ErrorCode.XDSRepositoryMetadataError, "a Document element has no id attribute"))
            continue
        if doc_id in contents:
            violations.append(Violation(ErrorCode.XDSRepositoryMetadataError, f"two Document elements have the id {doc_id}", doc_id))
            continue
        cid = mtom.include_href(el)
        if cid is not None and cid in part_owner:
            violations.append(Violation(
                ErrorCode.XDSRepositoryMetadataError,
                f"Documents {part_owner[cid]} and {doc_id} refer to the same MIME part cid:{cid}; each document "
                "is its own part", doc_id))
            continue
        if cid is not None:
            part_owner[cid] = doc_id
        contents[doc_id] = mtom.element_content(el, attachments)
    return contents, violations


@RULES.rule("REP-document-metadata", ErrorCode.XDSMissingDocumentMetadata, ref="ITI TF-2b 3.41.4.1.3", family="ITI-41 repository")
def documents_have_metadata(contents: dict[str, mtom.Attachment], entry_ids: set[str]) -> Iterator[Violation]:
    """TF-2b 3.41.4.1.3: a Document with no DocumentEntry → XDSMissingDocumentMetadata."""
    for doc_id in contents:
        if doc_id not in entry_ids:
            yield Violation(
                ErrorCode.XDSMissingDocumentMetadata,
                f"Document {doc_id} has no DocumentEntry (rim:ExtrinsicObject with id {doc_id})",
                doc_id,
            )


@RULES.rule("REP-entry-document", ErrorCode.XDSMissingDocument, ref="ITI TF-2b 3.41.4.1.3", family="ITI-41 repository")
def entry_has_document(entry_id: str, contents: dict[str, mtom.Attachment]) -> Iterator[Violation]:
    """TF-2b 3.41.4.1.3: a DocumentEntry with no Document → XDSMissingDocument."""
    if entry_id not in contents:
        yield Violation(ErrorCode.XDSMissingDocument, f"DocumentEntry {entry_id} has no Document", entry_id)


@RULES.rule("REP-entry", ErrorCode.XDSRepositoryMetadataError, ErrorCode.XDSRepositoryDuplicateUniqueIdInMessage, ref="ITI TF-3 4.3.1", family="ITI-41 repository")
def entry_is_storable(entry: pnr.EntryOutline, entry_id: str, seen: dict[str, str]) -> Iterator[Violation]:
    """uniqueId present and unique in the message (XDSRepositoryDuplicateUniqueIdInMessage); mimeType present
    (TF-3 Table 4.3.1-3, R for the Document Source) → XDSRepositoryMetadataError."""
    uid = entry.unique_id
    if not uid:
        yield Violation(ErrorCode.XDSRepositoryMetadataError, f"DocumentEntry {entry_id} has no XDSDocumentEntry.uniqueId", entry_id)
    elif uid in seen:
        yield Violation(
            ErrorCode.XDSRepositoryDuplicateUniqueIdInMessage,
            f"DocumentEntries {seen[uid]} and {entry_id} have the same uniqueId {uid}",
            uid,
        )
    else:
        seen[uid] = entry_id
    if not (entry.mime_type or "").strip():
        yield Violation(ErrorCode.XDSRepositoryMetadataError, f"DocumentEntry {entry_id} has no mimeType", entry_id)


@RULES.rule("REP-hash-size", ErrorCode.XDSRepositoryMetadataError, ref="ITI TF-2b 3.41.4.1.3.2", family="ITI-41 repository")
def hash_and_size_agree(entry: pnr.EntryOutline, entry_id: str, content: mtom.Attachment) -> Iterator[Violation]:
    """TF-2b 3.41.4.1.3.2 / NIST 11981, 12369: a supplied hash or size must match the received bytes
    → XDSRepositoryMetadataError (a slot sent empty counts). Hashes compare without regard to letter case."""
    given_hash = entry.hash
    if given_hash is not None and (len(given_hash) != 1 or given_hash[0].lower() != (content.sha1 or "")):
        yield Violation(
            ErrorCode.XDSRepositoryMetadataError,
            f"DocumentEntry {entry_id}: hash {'/'.join(given_hash) or '(empty)'} does not match the document, whose SHA-1 is {content.sha1}",
            entry_id,
        )
    given_size = entry.size
    if given_size is not None and (len(given_size) != 1 or given_size[0] != str(content.size)):
        yield Violation(
            ErrorCode.XDSRepositoryMetadataError,
            f"DocumentEntry {entry_id}: size {'/'.join(given_size) or '(empty)'} does not match the document, whose size is {content.size}",
            entry_id,
        )


def prepare(
    body: etree._Element,
    attachments: dict[str, mtom.Attachment],
    repository_unique_id: str,
    limits: SubmissionLimits = DEFAULT_LIMITS,
) -> Prepared | list[Violation]:
    """Check a ProvideAndRegisterDocumentSetRequest and patch its metadata; SoapFault for a malformed one."""
    invalid = metadata_invalid(body, limits)
    return invalid or prepare_request(pnr.outline(body), attachments, repository_unique_id)


def metadata_invalid(body: etree._Element, limits: SubmissionLimits = DEFAULT_LIMITS) -> list[Violation]:
    """Its size (xdscore.ebrim.limits), then the ebRS 3.0 schema (element order, object kinds): nothing is
    read or stored for oversized or malformed metadata."""
    metadata = pnr.submit_objects_element(body)
    return submission_limits.violations(metadata, limits) or schema_validation.violations(
        metadata, ErrorCode.XDSRegistryMetadataError)


def prepare_request(request: pnr.ProvideOutline, attachments: dict[str, mtom.Attachment],
                    repository_unique_id: str) -> Prepared | list[Violation]:
    """`prepare` of a request whose metadata passed `metadata_invalid` and was read."""
    contents, violations = _documents_by_id(request.documents, attachments)
    entries = request.entries
    violations += documents_have_metadata(contents, {e.entry_id for e in entries})
    seen: dict[str, str] = {}
    matched: list[tuple[pnr.EntryOutline, str]] = []
    for entry in entries:
        entry_id = entry.entry_id
        missing = list(entry_has_document(entry_id, contents))
        violations += missing
        violations += entry_is_storable(entry, entry_id, seen)
        if not missing:
            violations += hash_and_size_agree(entry, entry_id, contents[entry_id])
            matched.append((entry, entry_id))
    if violations:
        return violations
    documents = []
    submission_patient = request.submission_set_patient_id or ""
    elements: dict[str, etree._Element] = {}
    for entry in entries:  # a repeated id: the first of its elements is patched (twice)
        elements.setdefault(entry.entry_id, entry.element)
    for entry, entry_id in matched:
        content = contents[entry_id]
        element = elements[entry_id]
        rim.set_slot(element, Slot.HASH, [content.sha1 or ""])
        rim.set_slot(element, Slot.SIZE, [str(content.size)])
        rim.set_slot(element, Slot.REPOSITORY_UNIQUE_ID, [repository_unique_id])
        assert entry.unique_id
        patient = entry.patient_id or submission_patient
        documents.append(Document(entry_id, entry.unique_id, (entry.mime_type or "").strip(), content, patient))
    return Prepared(request.submit_objects, tuple(documents))


# ------------------------------------------------------------------------------------------------
# The transaction


def _file_blobs(documents: tuple[Document, ...], blobs: BlobStore) -> None:
    for doc in documents:
        spooled = doc.content.spilled
        if isinstance(spooled, SpoolFile) and spooled.path.exists():
            blobs.place_file(spooled.path, doc.sha1)
        elif doc.content.data is not None:
            blobs.place_bytes(doc.content.data, doc.sha1)
        elif not blobs.exists(doc.sha1):  # same bytes twice in one submission: the first filed them
            raise FileNotFoundError(f"content of document {doc.unique_id} vanished before it was filed")


async def _undo(inserted: tuple[str, ...], store: DocumentStore, blobs: BlobStore, io: IoRunner) -> None:
    for sha1 in await store.release_async(inserted):
        await io(lambda sha1=sha1: blobs.remove_if_unreferenced(sha1, store.is_referenced))  # type: ignore[misc]


async def provide_and_register(
    body: etree._Element,
    attachments: dict[str, mtom.Attachment],
    repository_unique_id: str,
    store: DocumentStore,
    blobs: BlobStore,
    registry: RegistryPort,
    limits: SubmissionLimits = DEFAULT_LIMITS,
    io: IoRunner | None = None,
    tree: TreeRunner | None = None,
    inline_max_bytes: int = INLINE_MAX_BYTES,
) -> ProvideOutcome:
    """The whole ITI-41; its outcome carries the submission's facts for the audit, success or not.

    A coroutine: the store's writes wait for their group commit and the ITI-42 for the registry without
    holding a thread; `io` runs the blob filing (fsync) in a thread (default: asyncio's pool). `tree` runs
    the patching of `body` (hash, size, repositoryUniqueId) in the thread that parsed it
    (`DecodedRequest.in_tree_thread`; default: at once, for a tree this thread parsed). Documents of at most
    `inline_max_bytes` received in memory are kept in the store (0: every document is a blob file)."""
    invalid = metadata_invalid(body, limits)
    if invalid:
        return ProvideOutcome(registry_response(invalid), submission=submission_facts(body))
    # Read once, only what the repository checks (the registry reads the rest): facts, checks, forwarded tree.
    request = pnr.outline(body)
    outcome = await _provide_and_register(request, attachments, repository_unique_id, store, blobs, registry,
                                          io or _to_thread, tree or _at_once, inline_max_bytes)
    return replace(outcome, submission=_facts(request))


async def _to_thread(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


async def _at_once(work: Callable[[], T]) -> T:
    return work()


@RULES.rule("REP-storage", ErrorCode.XDSRepositoryError, ErrorCode.XDSRepositoryOutOfResources, ref="ITI TF-2b 3.41.4.1.3", family="ITI-41 repository")
async def _provide_and_register(
    request: pnr.ProvideOutline,
    attachments: dict[str, mtom.Attachment],
    repository_unique_id: str,
    store: DocumentStore,
    blobs: BlobStore,
    registry: RegistryPort,
    io: IoRunner,
    tree: TreeRunner,
    inline_max_bytes: int,
) -> ProvideOutcome:
    # It adds Slots to the request's tree: in the thread whose libxml2 dictionary holds the tree's names.
    prepared = await tree(lambda: prepare_request(request, attachments, repository_unique_id))
    if isinstance(prepared, list):
        return ProvideOutcome(registry_response(prepared))
    documents = prepared.documents
    # A small document received in memory is kept in the store, with its row: one durable commit, no file.
    inline = [d.content.data if d.content.data is not None and d.content.size <= inline_max_bytes else None
              for d in documents]
    reservation = await store.reserve_async(
        StoredDocument(d.unique_id, d.sha1, d.content.size, d.mime_type, patient_id=d.patient_id, content=data)
        for d, data in zip(documents, inline, strict=True)
    )
    if reservation.conflicts:
        return ProvideOutcome(registry_response(Violation(c.code, c.context, c.unique_id) for c in reservation.conflicts))
    filed = tuple(d for d, data in zip(documents, inline, strict=True) if data is None)
    try:
        if filed:
            await io(lambda: _file_blobs(filed, blobs))
    except OSError as exc:
        log.exception("filing documents failed")
        await _undo(reservation.inserted, store, blobs, io)
        code = ErrorCode.XDSRepositoryOutOfResources if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ErrorCode.XDSRepositoryError
        return ProvideOutcome(registry_response([Violation(code, f"the repository could not store the documents: {exc.strerror or exc}")]))

    answer = await registry.register(prepared.submit_objects_request)
    if answer.response is not None and answer.status == ResponseStatus.SUCCESS.value:
        await store.commit_async(d.unique_id for d in documents)
        return ProvideOutcome(answer.response, tuple(d.unique_id for d in documents))
    if answer.outcome_unknown:
        log.warning("no answer from the registry; %d document(s) stay pending for the cleanup command", len(reservation.inserted))
    else:
        await _undo(reservation.inserted, store, blobs, io)
    if answer.response is not None:
        return ProvideOutcome(answer.response)  # the registry's own errors (e.g. XDSUnknownPatientId)
    assert answer.failure is not None
    return ProvideOutcome(registry_response([answer.failure]))
