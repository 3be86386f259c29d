"""Document source / consumer side of the wire for repository tests and the benchmark.

Builds ITI-41 requests (MTOM with xop:Include, or inline base64) around the SubmitObjectsRequest of
`harness.builders`, ITI-43 requests, and sends them with httpx, streaming large documents from
generators so that a 200 MB test document is never held in memory by the client either.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx
from lxml import etree

from harness.builders import SubmissionBuilder, new_patient_id
from xdscore import mtom, soap
from xdscore.vocabulary import NS, Action
from xuatool.header import add_security

XDSB = f"{{{NS.XDSB}}}"
RS = f"{{{NS.RS}}}"


@dataclass
class Content:
    """A document's bytes, produced on demand (so it may be larger than memory) with known size and hash."""

    size: int
    sha1: str
    chunks: Callable[[], Iterable[bytes]]

    @classmethod
    def of(cls, data: bytes) -> Content:
        return cls(len(data), hashlib.sha1(data).hexdigest(), lambda: [data])

    @classmethod
    def generated(cls, size: int, seed: int = 0, block: int = 1024 * 1024) -> Content:
        """Deterministic pseudo-random bytes: a 1 MiB pattern that changes every block."""
        base = hashlib.sha256(str(seed).encode()).digest() * (block // 32)

        def produce() -> Iterator[bytes]:
            left, n = size, 0
            while left > 0:
                piece = n.to_bytes(8, "big") + base[8:]
                yield piece[: min(block, left)]
                left -= min(block, left)
                n += 1

        sha = hashlib.sha1()
        for piece in produce():
            sha.update(piece)
        return cls(size, sha.hexdigest(), produce)

    def read(self) -> bytes:
        return b"".join(self.chunks())


def pnr_element(builder: SubmissionBuilder, documents: dict[str, Content], inline: bool = False) -> tuple[etree._Element, list[mtom.AnyPart]]:
    """ProvideAndRegisterDocumentSetRequest: the builder's metadata and one Document per entry id."""
    request = etree.Element(f"{XDSB}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": NS.XDSB})
    request.append(builder.xml())
    parts: list[mtom.AnyPart] = []
    for entry_id, content in documents.items():
        doc = etree.SubElement(request, f"{XDSB}Document", id=entry_id)
        if inline:
            doc.text = base64.b64encode(content.read()).decode()
        else:
            cid = f"{entry_id}.{mtom.new_content_id()}"
            mtom.xop_include(doc, cid)
            parts.append(mtom.StreamingPart(cid, "application/octet-stream", content.size, content.chunks))
    return request, parts


def envelope(
    body: etree._Element, action: Action, to: str = "http://localhost/xds/repository", security: etree._Element | None = None
) -> bytes:
    """The request envelope; `security` (a wsse:Security element, e.g. from `xuatool.variants.make`) goes in its header."""
    env = soap.request_envelope(body, action.value, to)
    if security is not None:
        add_security(env, security)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def mtom_request(
    body: etree._Element, parts: list[mtom.AnyPart], action: Action, security: etree._Element | None = None
) -> mtom.EncodedMessage:
    return mtom.encode_stream(envelope(body, action, security=security), parts, action.value)


def simple_request(body: etree._Element, action: Action, security: etree._Element | None = None) -> tuple[str, bytes]:
    return f'application/soap+xml; charset=UTF-8; action="{action.value}"', envelope(body, action, security=security)


def retrieve_element(*requests: tuple[str, str] | tuple[str, str, str]) -> etree._Element:
    """RetrieveDocumentSetRequest from (repositoryUniqueId, documentUniqueId[, homeCommunityId]) tuples."""
    request = etree.Element(f"{XDSB}RetrieveDocumentSetRequest", nsmap={"xdsb": NS.XDSB})
    for r in requests:
        dr = etree.SubElement(request, f"{XDSB}DocumentRequest")
        if len(r) == 3:
            etree.SubElement(dr, f"{XDSB}HomeCommunityId").text = r[2]
        etree.SubElement(dr, f"{XDSB}RepositoryUniqueId").text = r[0]
        etree.SubElement(dr, f"{XDSB}DocumentUniqueId").text = r[1]
    return request


@dataclass
class Reply:
    status_code: int
    content_type: str
    body: etree._Element  # the SOAP body's child (or the Fault)
    attachments: dict[str, mtom.Attachment]
    envelope: etree._Element

    @property
    def registry_response(self) -> etree._Element:
        found = self.body if self.body.tag == f"{RS}RegistryResponse" else self.body.find(f"{RS}RegistryResponse")
        assert found is not None, etree.tostring(self.body)[:500]
        return found

    @property
    def status(self) -> str:
        return self.registry_response.get("status", "").rsplit(":", 1)[-1]

    @property
    def error_codes(self) -> list[str]:
        return [e.get("errorCode", "") for e in self.registry_response.iter(f"{RS}RegistryError")]

    def documents(self) -> dict[str, tuple[str, bytes]]:
        """DocumentUniqueId → (mimeType, bytes) of an ITI-43 answer."""
        out = {}
        for dr in self.body.iterfind(f"{XDSB}DocumentResponse"):
            uid = dr.findtext(f"{XDSB}DocumentUniqueId", "")
            doc = dr.find(f"{XDSB}Document")
            assert doc is not None
            out[uid] = (dr.findtext(f"{XDSB}mimeType", ""), mtom.element_content(doc, self.attachments).read())
        return out


def parse_reply(status_code: int, content_type: str, data: bytes) -> Reply:
    ctype = mtom.ContentType.parse(content_type)
    attachments: dict[str, mtom.Attachment] = {}
    if ctype.is_multipart:
        message = mtom.decode_message(data, ctype)
        data, attachments = message.root, message.attachments
    root = etree.fromstring(data, etree.XMLParser(huge_tree=True))
    body = root.find(f"{{{NS.SOAP12}}}Body")
    assert body is not None
    return Reply(status_code, content_type, body[0], attachments, root)


def post_mtom(client: httpx.Client, url: str, encoded: mtom.EncodedMessage) -> Reply:
    response = client.post(
        url,
        content=encoded.chunks,
        headers={"content-type": encoded.content_type, "content-length": str(encoded.length)},
    )
    return parse_reply(response.status_code, response.headers.get("content-type", ""), response.content)


def post_simple(client: httpx.Client, url: str, content_type: str, data: bytes) -> Reply:
    response = client.post(url, content=data, headers={"content-type": content_type})
    return parse_reply(response.status_code, response.headers.get("content-type", ""), response.content)


def provide(
    client: httpx.Client,
    url: str,
    builder: SubmissionBuilder,
    documents: dict[str, Content],
    inline: bool = False,
    security: etree._Element | None = None,
) -> Reply:
    body, parts = pnr_element(builder, documents, inline)
    return post_mtom(client, url, mtom_request(body, [] if inline else parts, Action.PROVIDE_AND_REGISTER, security))


def retrieve_streaming(client: httpx.Client, url: str, repository_unique_id: str, unique_id: str) -> tuple[str, int, str]:
    """ITI-43 for one document, reading the answer as a stream: (status, size, sha1) of the document part."""
    content_type, data = simple_request(retrieve_element((repository_unique_id, unique_id)), Action.RETRIEVE)
    with client.stream("POST", url, content=data, headers={"content-type": content_type}) as response:
        # hash only, keep nothing: the client's memory stays flat too
        assembler = mtom.MtomAssembler(mtom.ContentType.parse(response.headers["content-type"]), sink_factory=_HashOnly)
        for chunk in response.iter_raw(1024 * 1024):
            assembler.feed(chunk)
        assembler.feed_eof()
        message = assembler.result()
    root = etree.fromstring(message.root)
    status = root.find(f".//{RS}RegistryResponse")
    assert status is not None
    att = next(iter(message.attachments.values()), None)
    return status.get("status", "").rsplit(":", 1)[-1], att.size if att else -1, (att.sha1 or "") if att else ""


class _HashOnly:
    def __init__(self, cid: str, ctype: str) -> None:
        self._sha = hashlib.sha1()
        self.size = 0
        self.cid, self.ctype = cid, ctype

    def write(self, data: bytes) -> None:
        self._sha.update(data)
        self.size += len(data)

    def finish(self) -> mtom.Attachment:
        return mtom.Attachment(self.cid, self.ctype, size=self.size, sha1=self._sha.hexdigest())

    def discard(self) -> None:
        pass


def builder_without_repository_slots(patient_id: str | None = None, documents: int = 1, **changes: object) -> SubmissionBuilder:
    """A valid submission whose DocumentEntries carry no hash, size or repositoryUniqueId (the repository adds them)."""
    b = SubmissionBuilder(patient_id or new_patient_id()).with_submission_set()
    for _ in range(documents):
        b.add_document(**{"hash": None, "size": None, "repository_unique_id": None, **changes})
    return b
