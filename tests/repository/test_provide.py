"""ITI-41 on the repository side (repository.provide): document ↔ DocumentEntry matching, hash and size,
slot patching, and the store/blob/registry sequence with its roll-backs. No HTTP towards the caller."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from harness.builders import SubmissionBuilder, new_oid, new_patient_id
from harness.wire import Content, builder_without_repository_slots, pnr_element
from repository.blobs import BlobStore
from repository.provide import (
    Prepared,
    SubmissionFacts,
    prepare,
    provide_and_register,
    submission_facts,
)
from repository.registry_client import RegistryClient
from repository.store import PENDING, STORED, DocumentStore, StoredDocument
from xdscore import mtom
from xdscore.ebrim import provide_and_register as pnr
from xdscore.ebrim import rim
from xdscore.errors import SoapFault, Violation
from xdscore.vocabulary import NS, UUID, ResponseStatus, Slot
from xdsservice import tree_threads

REPO_ID = "1.19.6.24.109.42.1"
NIST_11981 = Path(__file__).resolve().parents[3] / "shared/testkits/nist-xdstools/testkit/tests/11981"


def document_entries(sor: etree._Element) -> list[etree._Element]:
    return list(sor.iterfind(f"{rim.R}RegistryObjectList/{rim.R}ExtrinsicObject"))


def slot_values(entry: etree._Element, name: str) -> list[str]:
    return list(rim.read_object(entry).slot(name))


def _request(documents: dict[str, bytes], builder=None, inline: bool = False, **changes: object) -> tuple[etree._Element, dict[str, mtom.Attachment]]:
    """A decoded ITI-41 body and its attachments, as the decoder hands them over."""
    builder = builder or builder_without_repository_slots(**changes)
    body, parts = pnr_element(builder, {k: Content.of(v) for k, v in documents.items()}, inline=inline)
    attachments = {}
    for p in parts:
        assert isinstance(p, mtom.StreamingPart)
        data = b"".join(p.chunks())
        attachments[p.content_id] = mtom.Attachment(p.content_id, data=data, size=len(data), sha1=hashlib.sha1(data).hexdigest())
    return etree.fromstring(etree.tostring(body)), attachments


def _codes(result: Prepared | list[Violation]) -> list[str]:
    assert isinstance(result, list), "expected violations"
    return [v.code.value for v in result]


def _entry(result: Prepared, entry_id: str = "Document01") -> etree._Element:
    return next(e for e in document_entries(result.submit_objects_request) if e.get("id") == entry_id)


# ------------------------------------------------------------------------------------------------
# prepare: one rule, one code


def test_hash_size_and_repository_id_are_computed_and_set() -> None:
    body, atts = _request({"Document01": b"hello world"})
    result = prepare(body, atts, REPO_ID)
    assert isinstance(result, Prepared)
    entry = _entry(result)
    assert slot_values(entry, Slot.HASH) == [hashlib.sha1(b"hello world").hexdigest()]
    assert slot_values(entry, Slot.SIZE) == ["11"]
    assert slot_values(entry, Slot.REPOSITORY_UNIQUE_ID) == [REPO_ID]
    # ebRIM order kept: the added slots sit among the slots, before rim:Name
    tags = [etree.QName(c).localname for c in entry]
    assert tags.index("Name") > max(i for i, t in enumerate(tags) if t == "Slot")
    doc = result.documents[0]
    assert (doc.entry_id, doc.mime_type, doc.content.size) == ("Document01", "text/plain", 11)


def test_a_repository_unique_id_given_by_the_source_is_overwritten() -> None:
    body, atts = _request({"Document01": b"x"}, repository_unique_id="9.9.9")
    result = prepare(body, atts, REPO_ID)
    assert isinstance(result, Prepared)
    assert slot_values(_entry(result), Slot.REPOSITORY_UNIQUE_ID) == [REPO_ID]


def test_correct_hash_and_size_from_the_source_are_accepted() -> None:
    data = b"some bytes"
    body, atts = _request({"Document01": data}, hash=hashlib.sha1(data).hexdigest(), size=str(len(data)))
    assert isinstance(prepare(body, atts, REPO_ID), Prepared)


def test_uppercase_hash_matches_nist_11981() -> None:
    """NIST 11981 submit_uppercase_hash: my_document.txt with its hash in upper case → Success."""
    data = (NIST_11981 / "submit_uppercase_hash/my_document.txt").read_bytes()
    given = "E543712C0E10501972DE13A5BFCBE826C49FEB75"  # the value in that test's single_doc.xml
    assert given in (NIST_11981 / "submit_uppercase_hash/single_doc.xml").read_text()
    body, atts = _request({"Document01": data}, hash=given, size=str(len(data)))
    result = prepare(body, atts, REPO_ID)
    assert isinstance(result, Prepared)
    assert slot_values(_entry(result), Slot.HASH) == [given.lower()]


@pytest.mark.parametrize(
    "changes",
    [
        {"hash": "0" * 40},  # NIST 11981 submit_bad_hash, 12369 hash
        {"size": "4"},  # NIST 11981 submit_bad_size, 12369 size
        {"size": "eleven"},
    ],
)
def test_wrong_hash_or_size_is_repository_metadata_error(changes: dict[str, str]) -> None:
    body, atts = _request({"Document01": b"hello world"}, **changes)
    assert _codes(prepare(body, atts, REPO_ID)) == ["XDSRepositoryMetadataError"]


def test_entry_without_document_is_missing_document() -> None:
    """NIST 11983 submit_no_doc."""
    builder = builder_without_repository_slots(documents=2)
    first, second = [o.id for o in builder.objects if o.tag == "ExtrinsicObject"]
    body, atts = _request({first: b"one"}, builder=builder)
    result = prepare(body, atts, REPO_ID)
    assert _codes(result) == ["XDSMissingDocument"]
    assert isinstance(result, list) and result[0].location == second


def test_document_without_entry_is_missing_document_metadata() -> None:
    """NIST 11983 submit_no_metadata."""
    body, atts = _request({"Document01": b"one", "Document09": b"stray"})
    result = prepare(body, atts, REPO_ID)
    assert _codes(result) == ["XDSMissingDocumentMetadata"]
    assert isinstance(result, list) and result[0].location == "Document09"


def test_duplicate_unique_id_in_message() -> None:
    builder = builder_without_repository_slots(documents=2, unique_id="1.2.3.4.5")
    first, second = [o.id for o in builder.objects if o.tag == "ExtrinsicObject"]
    body, atts = _request({first: b"a", second: b"b"}, builder=builder)
    assert _codes(prepare(body, atts, REPO_ID)) == ["XDSRepositoryDuplicateUniqueIdInMessage"]


def test_missing_mime_type_is_repository_metadata_error() -> None:
    body, atts = _request({"Document01": b"a"})
    del document_entries(pnr.submit_objects_element(body))[0].attrib["mimeType"]
    assert _codes(prepare(body, atts, REPO_ID)) == ["XDSRepositoryMetadataError"]


def test_ebrim_out_of_schema_order_is_registry_metadata_error_before_anything_else() -> None:
    """NIST soap-pnr-element-order.xml: rim:Name between the Slots; refused by the ebRS 3.0 schema check,
    which runs first (so the missing document is not even looked at)."""
    body, _ = _request({"Document01": b"a"})
    entry = next(pnr.submit_objects_element(body).iter(f"{{{NS.RIM}}}ExtrinsicObject"))
    name = entry.find(f"{{{NS.RIM}}}Name")
    entry.remove(name)
    entry.insert(1, name)
    result = prepare(body, {}, REPO_ID)
    assert _codes(result) == ["XDSRegistryMetadataError"]
    assert isinstance(result, list) and "rim:Slot" in result[0].context and result[0].location == "Document01"


def test_missing_unique_id_is_repository_metadata_error() -> None:
    body, atts = _request({"Document01": b"a"})
    entry = document_entries(pnr.submit_objects_element(body))[0]
    for ext in entry.findall(f"{rim.R}ExternalIdentifier"):
        if ext.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab":
            entry.remove(ext)
    assert _codes(prepare(body, atts, REPO_ID)) == ["XDSRepositoryMetadataError"]


def test_two_documents_with_one_id_is_repository_metadata_error() -> None:
    body, atts = _request({"Document01": b"a"})
    body.append(etree.fromstring(etree.tostring(body.find(pnr.DOCUMENT))))
    assert _codes(prepare(body, atts, REPO_ID)) == ["XDSRepositoryMetadataError"]


def test_inline_base64_document_is_accepted_nist_noxop() -> None:
    body, atts = _request({"Document01": b"inline bytes"}, inline=True)
    assert atts == {}
    result = prepare(body, atts, REPO_ID)
    assert isinstance(result, Prepared)
    assert result.documents[0].content.data == b"inline bytes"
    assert slot_values(_entry(result), Slot.HASH) == [hashlib.sha1(b"inline bytes").hexdigest()]


def test_url_encoded_cid_href_nist_encodedurl() -> None:
    body, atts = _request({"Document01": b"abc"})
    include = body.find(f"{pnr.DOCUMENT}/{mtom.XOP_INCLUDE}")
    assert include is not None
    cid = next(iter(atts))
    atts = {"1.urn:uuid:x@urn:ihe:iti:xds-b:2007": mtom.Attachment("1.urn:uuid:x@urn:ihe:iti:xds-b:2007", data=b"abc", size=3, sha1=atts[cid].sha1)}
    include.set("href", "cid:1.urn%3Auuid%3Ax%40urn%3Aihe%3Aiti%3Axds-b%3A2007")
    assert isinstance(prepare(body, atts, REPO_ID), Prepared)


def test_two_documents_referring_to_one_part_are_refused() -> None:
    """One MIME part per Document: a second Document naming the same cid: is XDSRepositoryMetadataError, even
    when the href is spelled differently (percent-encoded) but names the same Content-ID."""
    body, atts = _request({"Document01": b"same", "Document02": b"same"})
    includes = list(body.iter(mtom.XOP_INCLUDE))
    first = mtom.include_href(includes[0].getparent())
    assert first is not None
    includes[1].set("href", "cid:" + first.replace("@", "%40"))
    assert _codes(prepare(body, atts, REPO_ID)) == ["XDSRepositoryMetadataError"]
    includes[1].set("href", "cid:" + first)
    assert _codes(prepare(body, atts, REPO_ID)) == ["XDSRepositoryMetadataError"]


def test_wrong_body_element_is_a_fault() -> None:
    with pytest.raises(SoapFault, match="not xdsb:ProvideAndRegisterDocumentSetRequest"):
        prepare(etree.fromstring(b"<x/>"), {}, REPO_ID)


def test_include_of_a_missing_part_is_a_fault() -> None:
    body, _ = _request({"Document01": b"abc"})
    with pytest.raises(SoapFault, match="missing MIME part"):
        prepare(body, {}, REPO_ID)


# ------------------------------------------------------------------------------------------------
# provide_and_register: store, blobs and the registry, with a registry that cannot be reached


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[DocumentStore, BlobStore]]:
    store = DocumentStore(f"sqlite:///{tmp_path / 'repo.db'}")
    yield store, BlobStore(tmp_path / "data")
    store.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spooled(blobs: BlobStore, data: bytes) -> tuple[dict[str, bytes], dict[str, mtom.Attachment], etree._Element]:
    body, atts = _request({"Document01": data})
    cid = next(iter(atts))
    spooled = blobs.spool()
    spooled.write(data)
    spooled.close()
    atts[cid] = mtom.Attachment(cid, spilled=spooled, size=len(data), sha1=hashlib.sha1(data).hexdigest())
    return {"cid": cid.encode()}, atts, body


async def test_unreachable_registry_leaves_nothing_behind(stores: tuple[DocumentStore, BlobStore]) -> None:
    store, blobs = stores
    data = b"will be rolled back"
    _, atts, body = _spooled(blobs, data)
    registry = RegistryClient(f"http://127.0.0.1:{_closed_port()}/xds/registry", timeout=2)
    outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, registry)
    errors = outcome.response.findall(".//{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryError")
    assert [e.get("errorCode") for e in errors] == ["XDSRegistryNotAvailable"]
    assert outcome.response.get("status").endswith(":Failure")
    assert store.all() == []
    assert not blobs.exists(hashlib.sha1(data).hexdigest())
    assert list(blobs.tmp_dir.iterdir()) == []


async def test_the_request_is_patched_in_the_thread_that_parsed_it(stores: tuple[DocumentStore, BlobStore]) -> None:
    """A root too large for the event loop is parsed by a thread of `xdsservice.tree_threads.PARSES`; the
    Slots the repository adds (hash, size, repositoryUniqueId) put their names in that thread's libxml2
    dictionary, which no other thread may write, so they are added on that thread, never on the loop."""
    store, blobs = stores
    data = b"patched where it was parsed"
    _, atts, parsed_here = _spooled(blobs, data)
    owner = tree_threads.PARSES.pick()
    body = await owner.run(lambda: etree.fromstring(etree.tostring(parsed_here)))
    entry = document_entries(pnr.submit_objects_element(body))[0]
    seen: list[tuple[str, list[str], list[str]]] = []  # (thread, hash before, hash after)

    async def tree(work):  # the runner of DecodedRequest.in_tree_thread, watching the patch happen
        def there():
            before = slot_values(entry, Slot.HASH)
            result = work()
            seen.append((threading.current_thread().name, before, slot_values(entry, Slot.HASH)))
            return result
        return await owner.run(there)

    registry = RegistryClient(f"http://127.0.0.1:{_closed_port()}/xds/registry", timeout=2)
    outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, registry, tree=tree)
    assert outcome.status is ResponseStatus.FAILURE  # no registry: only where the patch ran matters
    assert seen == [(seen[0][0], [], [hashlib.sha1(data).hexdigest()])] and seen[0][0].startswith("envelope-parse")
    assert slot_values(entry, Slot.SIZE) == [str(len(data))]


async def test_registry_that_never_answers_keeps_documents_pending(stores: tuple[DocumentStore, BlobStore]) -> None:
    """The request went out, no answer came: the registry may have registered it, so nothing is removed."""
    store, blobs = stores
    data = b"outcome unknown"
    _, atts, body = _spooled(blobs, data)
    with socket.socket() as black_hole:  # accepts connections (backlog), never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(8)
        registry = RegistryClient(f"http://127.0.0.1:{black_hole.getsockname()[1]}/xds/registry", timeout=0.5)
        outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, registry)
    codes = [e.get("errorCode") for e in outcome.response.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryError")]
    assert codes == ["XDSRegistryNotAvailable"]
    rows = store.all()
    assert [(r.state, r.sha1) for r in rows] == [(PENDING, hashlib.sha1(data).hexdigest())]
    assert blobs.exists(rows[0].sha1)
    assert store.get(rows[0].unique_id) is None  # pending documents are not served


async def test_registry_url_without_soap_is_not_available(stores: tuple[DocumentStore, BlobStore]) -> None:
    """An HTTP server that is not a registry (here: one answering 404 in plain text)."""
    import http.server

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(404)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", "9")
            self.end_headers()
            self.wfile.write(b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store, blobs = stores
        _, atts, body = _spooled(blobs, b"abc")
        registry = RegistryClient(f"http://127.0.0.1:{server.server_address[1]}/nothing", timeout=5)
        outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, registry)
    finally:
        server.shutdown()
    assert [e.get("errorCode") for e in outcome.response.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryError")] == ["XDSRegistryNotAvailable"]
    assert store.all() == [] and not blobs.exists(hashlib.sha1(b"abc").hexdigest())


async def test_checks_fail_before_anything_is_stored_or_sent(stores: tuple[DocumentStore, BlobStore]) -> None:
    store, blobs = stores
    body, atts = _request({"Document01": b"abc"}, hash="0" * 40)
    registry = RegistryClient("http://127.0.0.1:9/never-called", timeout=1)
    outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, registry)
    assert [e.get("errorCode") for e in outcome.response.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryError")] == ["XDSRepositoryMetadataError"]
    assert store.all() == []


async def test_unique_id_stored_with_other_content_is_non_identical_hash(stores: tuple[DocumentStore, BlobStore]) -> None:
    store, blobs = stores
    uid = new_oid()
    store.reserve([StoredDocument(uid, "1" * 40, 3, "text/plain")])
    store.commit([uid])
    body, atts = _request({"Document01": b"abc"}, unique_id=uid)
    outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, RegistryClient("http://127.0.0.1:9/x", timeout=1))
    assert [e.get("errorCode") for e in outcome.response.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryError")] == ["XDSNonIdenticalHash"]
    assert [(r.unique_id, r.sha1, r.state) for r in store.all()] == [(uid, "1" * 40, STORED)]


# ------------------------------------------------------------------------------------------------
# The facts the audit needs: the patient of each document, the submission's patient and uniqueId


def _ss_unique_id(builder: SubmissionBuilder) -> str:
    return builder.submission().submission_set.unique_id  # type: ignore[union-attr]


def test_each_document_keeps_its_entry_patient() -> None:
    patient, other = new_patient_id(), new_patient_id()
    builder = builder_without_repository_slots(patient)
    builder.add_document(patient_id=other, hash=None, size=None, repository_unique_id=None)  # the registry would refuse it
    entry_ids = [o.id for o in builder.objects if o.tag == "ExtrinsicObject"]
    result = prepare(*_request({e: e.encode() for e in entry_ids}, builder=builder), REPO_ID)
    assert isinstance(result, Prepared)
    assert [d.patient_id for d in result.documents] == [patient, other]


def test_submission_facts() -> None:
    patient = new_patient_id()
    builder = builder_without_repository_slots(patient)
    builder.add_folder()
    builder.objects.insert(0, builder.objects.pop())  # a folder (also a RegistryPackage) before the submission set
    body, _ = _request({"Document01": b"x"}, builder=builder)
    assert submission_facts(body) == SubmissionFacts(patient, _ss_unique_id(builder))
    # no submission set: the patient of the first DocumentEntry, no uniqueId
    no_ss = SubmissionBuilder(patient)
    no_ss.add_document(hash=None, size=None, repository_unique_id=None)
    body, _ = _request({"Document01": b"x"}, builder=no_ss)
    assert submission_facts(body) == SubmissionFacts(patient, "")
    # not a Provide and Register request, or one without metadata: nothing known, nothing raised
    assert submission_facts(etree.Element("other")) == SubmissionFacts()
    assert submission_facts(etree.Element(pnr.PROVIDE_AND_REGISTER_REQUEST)) == SubmissionFacts()


async def test_every_outcome_carries_the_submission_facts(stores: tuple[DocumentStore, BlobStore]) -> None:
    store, blobs = stores
    patient = new_patient_id()
    builder = builder_without_repository_slots(patient, hash="0" * 40)
    body, atts = _request({"Document01": b"abc"}, builder=builder)
    refused = await provide_and_register(body, atts, REPO_ID, store, blobs, RegistryClient("http://127.0.0.1:9/never-called", timeout=1))
    assert refused.status == ResponseStatus.FAILURE and refused.stored == ()
    assert refused.submission == SubmissionFacts(patient, _ss_unique_id(builder))

    builder = builder_without_repository_slots(patient)
    body, atts = _request({"Document01": b"abc"}, builder=builder)
    unreachable = RegistryClient(f"http://127.0.0.1:{_closed_port()}/xds/registry", timeout=2)
    outcome = await provide_and_register(body, atts, REPO_ID, store, blobs, unreachable)
    assert outcome.status == ResponseStatus.FAILURE
    assert outcome.submission == SubmissionFacts(patient, _ss_unique_id(builder))


def test_an_entry_without_patient_takes_the_submission_set_patient() -> None:
    patient = new_patient_id()
    body, atts = _request({"Document01": b"x"}, builder=builder_without_repository_slots(patient))
    for ext in body.iter("{*}ExternalIdentifier"):
        if ext.get("identificationScheme") == UUID.DE_PATIENT_ID:
            ext.getparent().remove(ext)
    result = prepare(body, atts, REPO_ID)
    assert isinstance(result, Prepared) and result.documents[0].patient_id == patient
