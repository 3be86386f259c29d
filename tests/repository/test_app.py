"""The repository endpoint in-process (ASGI client), forwarding to the real registry process: ITI-41 and ITI-43
end to end, the streaming decoder's faults and clean-up, the WSDL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from lxml import etree

from harness.builders import new_patient_id
from harness.services import Service
from harness.wire import (
    Content,
    Reply,
    builder_without_repository_slots,
    mtom_request,
    parse_reply,
    pnr_element,
    retrieve_element,
    simple_request,
)
from repository.app import Repository
from tests.repository.conftest import REPO_ID, repository_settings
from xdscore import mtom
from xdscore.vocabulary import NS, Action

PATH = "/xds/repository"


async def post(client: httpx.AsyncClient, content_type: str, body: bytes) -> Reply:
    response = await client.post(PATH, content=body, headers={"content-type": content_type})
    return parse_reply(response.status_code, response.headers.get("content-type", ""), response.content)


async def provide(client: httpx.AsyncClient, patient: str, documents: dict[str, bytes] | None = None, inline: bool = False, mtom_wrap: bool = True) -> tuple[Reply, list[str]]:
    builder = builder_without_repository_slots(patient, documents=len(documents or {"x": b""}))
    entry_ids = [o.id for o in builder.objects if o.tag == "ExtrinsicObject"]
    contents = {eid: Content.of(data) for eid, data in zip(entry_ids, (documents or {"x": b"hello repository"}).values(), strict=False)}
    body, parts = pnr_element(builder, contents, inline=inline)
    uids = [next(e.value for e in o.external_identifiers if e.scheme.endswith("2e82c1f6-a085-4c72-9da3-8640a32e42ab")) for o in builder.objects if o.tag == "ExtrinsicObject"]
    if mtom_wrap:
        encoded = mtom_request(body, parts, Action.PROVIDE_AND_REGISTER)
        return await post(client, encoded.content_type, b"".join(encoded.chunks)), uids
    content_type, data = simple_request(body, Action.PROVIDE_AND_REGISTER)
    return await post(client, content_type, data), uids


async def retrieve(client: httpx.AsyncClient, *uids: str, repo: str = REPO_ID) -> Reply:
    content_type, data = simple_request(retrieve_element(*((repo, u) for u in uids)), Action.RETRIEVE)
    return await post(client, content_type, data)


def spool_files(repository: Repository) -> list[Path]:
    return list(repository.blobs.tmp_dir.iterdir())


async def test_provide_then_retrieve_byte_identical(client: httpx.AsyncClient, repository: Repository, patient: str) -> None:
    data = b"\r\nbinary\x00\xff document, starting and ending with line breaks\r\n"
    reply, (uid,) = await provide(client, patient, {"d": data})
    assert (reply.status_code, reply.status, reply.error_codes) == (200, "Success", [])
    assert reply.content_type.startswith("multipart/related")  # MTOM request, MTOM answer
    assert reply.envelope.findtext(f".//{{{NS.WSA}}}Action") == Action.PROVIDE_AND_REGISTER_RESPONSE.value
    stored = repository.store.get(uid)
    assert stored is not None and (stored.sha1, stored.size, stored.mime_type) == (hashlib.sha1(data).hexdigest(), len(data), "text/plain")
    assert stored.content == data and not repository.blobs.exists(stored.sha1)  # small: kept in the store
    assert spool_files(repository) == []

    got = await retrieve(client, uid)
    assert got.content_type.startswith("multipart/related")
    assert (got.status, got.documents()) == ("Success", {uid: ("text/plain", data)})


async def test_large_document_spills_and_is_cleaned_up(client: httpx.AsyncClient, repository: Repository, patient: str) -> None:
    data = Content.generated(3 * 1024 * 1024 + 17, seed=3).read()  # above the 1 MiB spill threshold
    reply, (uid,) = await provide(client, patient, {"d": data})
    assert reply.status == "Success", reply.error_codes
    assert spool_files(repository) == []
    assert (await retrieve(client, uid)).documents()[uid][1] == data


async def test_registry_error_comes_back_and_nothing_is_kept(client: httpx.AsyncClient, repository: Repository) -> None:
    """NIST 11986: the registry's error reaches the document source through the repository."""
    reply, (uid,) = await provide(client, new_patient_id(), {"d": b"for nobody"})  # never fed
    assert (reply.status, reply.error_codes) == ("Failure", ["XDSUnknownPatientId"])
    assert repository.store.all() == [] and list(repository.blobs.hashes()) == [] and spool_files(repository) == []
    assert (await retrieve(client, uid)).error_codes == ["XDSDocumentUniqueIdError"]


async def test_inline_base64_in_multipart_nist_noxop(client: httpx.AsyncClient, repository: Repository, patient: str) -> None:
    reply, (uid,) = await provide(client, patient, {"d": b"inline document"}, inline=True)
    assert reply.status == "Success", reply.error_codes
    assert (await retrieve(client, uid)).documents() == {uid: ("text/plain", b"inline document")}


async def test_simple_soap_provide_gets_simple_soap_answer(client: httpx.AsyncClient, patient: str) -> None:
    reply, _ = await provide(client, patient, {"d": b"no mtom"}, inline=True, mtom_wrap=False)
    assert reply.status == "Success" and reply.content_type.startswith("application/soap+xml")


async def test_two_documents_one_missing_from_retrieve(client: httpx.AsyncClient, patient: str) -> None:
    reply, uids = await provide(client, patient, {"a": b"first", "b": b"second"})
    assert reply.status == "Success"
    got = await retrieve(client, uids[1], "1.2.3.unknown", uids[0])
    assert got.status == "PartialSuccess" and got.error_codes == ["XDSDocumentUniqueIdError"]
    assert got.documents() == {uids[0]: ("text/plain", b"first"), uids[1]: ("text/plain", b"second")}


async def test_retrieve_failure_is_still_mtom(client: httpx.AsyncClient) -> None:
    got = await retrieve(client, "1.2.3.4", repo="9.9.9")
    assert got.content_type.startswith("multipart/related")
    assert (got.status, got.error_codes) == ("Failure", ["XDSUnknownRepositoryId"])


async def test_truncated_multipart_is_a_fault_and_leaves_no_spool(client: httpx.AsyncClient, repository: Repository, patient: str) -> None:
    builder = builder_without_repository_slots(patient)
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    body, parts = pnr_element(builder, {entry_id: Content.generated(2 * 1024 * 1024)})
    encoded = mtom_request(body, parts, Action.PROVIDE_AND_REGISTER)
    data = b"".join(encoded.chunks)
    reply = await post(client, encoded.content_type, data[: len(data) - 100_000])
    fault = reply.body
    assert reply.status_code == 400 and fault.tag == f"{{{NS.SOAP12}}}Fault"
    assert "truncated" in (fault.findtext(f".//{{{NS.SOAP12}}}Text") or "")
    assert spool_files(repository) == [] and repository.store.all() == []


async def test_body_over_the_limit_is_413(tmp_path: Path, registry: Service, patient: str) -> None:
    repo = Repository(repository_settings(tmp_path, registry.url, max_request_bytes=1_000_000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=repo.asgi), base_url="http://r.test") as c:
        builder = builder_without_repository_slots(patient)
        entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
        body, parts = pnr_element(builder, {entry_id: Content.generated(3 * 1024 * 1024)})
        encoded = mtom_request(body, parts, Action.PROVIDE_AND_REGISTER)
        reply = await post(c, encoded.content_type, b"".join(encoded.chunks))
    assert reply.status_code == 413 and "larger than the limit" in (reply.body.findtext(f".//{{{NS.SOAP12}}}Text") or "")
    assert spool_files(repo) == []
    repo.store.close()


async def test_unknown_action_fault_removes_spooled_parts(client: httpx.AsyncClient, repository: Repository, patient: str) -> None:
    builder = builder_without_repository_slots(patient)
    entry_id = next(o.id for o in builder.objects if o.tag == "ExtrinsicObject")
    body, parts = pnr_element(builder, {entry_id: Content.generated(2 * 1024 * 1024)})
    encoded = mtom_request(body, parts, Action.REGISTER)  # an ITI-42 action at the repository
    reply = await post(client, encoded.content_type, b"".join(encoded.chunks))
    assert reply.status_code == 400 and "ActionNotSupported" in (reply.body.findtext(f".//{{{NS.SOAP12}}}Subcode/{{{NS.SOAP12}}}Value") or "")
    assert spool_files(repository) == []


async def test_not_xml_envelope_is_a_fault(client: httpx.AsyncClient, repository: Repository) -> None:
    content_type, data = mtom.encode_message(b"<not-closed>", [mtom.Part("a@b", "x/y", b"x" * 2_000_000)], Action.RETRIEVE.value)
    reply = await post(client, content_type, data)
    # refused as its root element starts (xdscore.envelope_gate), before the attachment is read
    assert reply.status_code == 400 and "not a SOAP 1.2 Envelope" in (reply.body.findtext(f".//{{{NS.SOAP12}}}Text") or "")
    assert spool_files(repository) == []


async def test_wsdl_is_served_with_our_address(client: httpx.AsyncClient, repository: Repository) -> None:
    response = await client.get(PATH + "?wsdl")
    assert response.status_code == 200
    wsdl = etree.fromstring(response.content)
    addresses = [a.get("location") for a in wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap12/}address")]
    assert addresses and set(addresses) == {repository.settings.endpoint}
    schema = await client.get(PATH + "?xsd=IHEXDSB.xsd")
    assert schema.status_code == 200 and b"RetrieveDocumentSetRequest" in schema.content


async def test_retrieve_over_the_document_cap_is_refused(tmp_path: Path, registry: Service) -> None:
    repo = Repository(repository_settings(tmp_path, registry.url, max_retrieve_documents=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=repo.asgi), base_url="http://r.test") as c:
        got = await retrieve(c, "1.1", "1.2", "1.3")
    assert got.status == "Failure" and got.error_codes == ["XDSRepositoryError"] and got.documents() == {}
    repo.store.close()
