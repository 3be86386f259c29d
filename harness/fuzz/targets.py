"""What the fuzzer feeds, and what counts as a correct answer: every parser that takes network input, each
reached the way the network reaches it.

| target | fed to | a correct answer |
|---|---|---|
| `soap` | the registry's SOAP endpoint (in-process ASGI), envelope bytes | a RegistryResponse / AdhocQueryResponse or a SOAP fault |
| `mtom` | the repository's endpoint, multipart/related bytes in random pieces | the same |
| `ebrim` | the registry, ITI-42 SubmitObjectsRequest trees edited | a RegistryResponse (or a fault) |
| `query` | the registry, ITI-18 AdhocQueryRequest trees edited | an AdhocQueryResponse (or a fault) |
| `wssec` | the WS-Security verifier, signed headers edited before or after signing | a Principal or a SecurityFault |
| `hl7` | the ITI-8 listener's framing and handler, bytes in random pieces | an ACK AA / AE / AR per frame |
| `syslog` | the audit sink's framing, reader and store | a stored or a rejected record |

A wrong answer is anything else: an exception out of the code under test, an "unhandled error" logged by
the SOAP layer (the service's 500), a reply that is not XML, an ACK without MSA. `Target.run` raises
`Bug` for those and returns an outcome label otherwise (counted in the report).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xmlsec
from hypothesis import reject
from hypothesis import strategies as st
from lxml import etree

from harness.builders import SubmissionBuilder, single_document
from harness.fuzz.mutate import byte_mutant, chunked, tree_mutant
from harness.wire import Content, builder_without_repository_slots, mtom_request, pnr_element, retrieve_element
from xdscore import mllp, mtom, soap, syslog, wssec, xmlsafe
from xdscore.errors import SoapFault
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, Action, Status
from xdscore.vocabulary import StoredQueryId as Q
from xdscore.wsse_faults import SecurityFault

PATIENT = "FUZZ1^^^&1.3.6.1.4.1.21367.2005.3.7&ISO"
SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"


class Bug(AssertionError):
    """The code under test answered something it must never answer."""


class _Errors(logging.Handler):
    """Counts the SOAP layer's "unhandled error" records: each is a 500 a client would have seen."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "xds.soap":
            self.records.append(record)


@dataclass
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any], str]
    close: Callable[[], None] = lambda: None


# --------------------------------------------------------------------------------------------------
# In-process services and a minimal ASGI client


def _env(folder: Path) -> dict[str, str]:
    return {**os.environ, "XDS_DATA_DIR": str(folder), "XDS_AUDIT_SENDER_TRANSPORT": "off", "XDS_CONFIG": os.devnull}


class Endpoint:
    """An ASGI app called in-process on its own event loop; SOAP-layer errors are watched."""

    def __init__(self, app: Any, path: str) -> None:
        self.app, self.path = app, path
        self.loop = asyncio.new_event_loop()
        self.errors = _Errors()
        soap = logging.getLogger("xds.soap")
        self._soap_level = soap.level  # put back by close()
        soap.addHandler(self.errors)
        soap.setLevel(logging.ERROR)  # the rest of "xds" is quiet (harness.fuzz.fuzz)
        self.loop.run_until_complete(self._lifespan("startup"))

    async def _lifespan(self, phase: str) -> None:
        messages = [{"type": f"lifespan.{phase}"}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else await asyncio.Event().wait()  # type: ignore[func-returns-value]

        async def send(message: dict[str, Any]) -> None:
            pass

        task = asyncio.ensure_future(self.app({"type": "lifespan"}, receive, send))
        await asyncio.sleep(0.05)
        task.cancel()

    def post(self, pieces: list[bytes], content_type: str) -> tuple[int, str, bytes]:
        return self.loop.run_until_complete(self._post(pieces, content_type))

    async def _post(self, pieces: list[bytes], content_type: str) -> tuple[int, str, bytes]:
        body = [p for p in pieces if p] or [b""]
        messages = [{"type": "http.request", "body": p, "more_body": i < len(body) - 1} for i, p in enumerate(body)]
        status, reply_type, out = 0, "", []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, reply_type
            if message["type"] == "http.response.start":
                status = message["status"]
                reply_type = dict(message.get("headers", [])).get(b"content-type", b"").decode("latin-1")
            else:
                out.append(message.get("body", b""))

        scope = {"type": "http", "method": "POST", "path": self.path, "query_string": b"", "client": ("127.0.0.1", 9),
                 "headers": [(b"content-type", content_type.encode("latin-1", "replace"))]}
        await self.app(scope, receive, send)
        return status, reply_type, b"".join(out)

    def answer(self, status: int, content_type: str, data: bytes) -> str:
        """The outcome label of a reply; Bug when the reply shows an unhandled error or is not SOAP."""
        if self.errors.records:
            record = self.errors.records.pop()
            self.errors.records.clear()
            raise Bug(f"the SOAP layer logged: {record.getMessage()} {record.exc_text or ''}"[:3000])
        try:
            if content_type.startswith("multipart/related"):  # an MTOM reply: its root part is the envelope
                data = mtom.decode_message(data, mtom.ContentType.parse(content_type)).root
        except SoapFault as fault:
            raise Bug(f"HTTP {status}: the MTOM reply cannot be read: {fault.reason}") from None
        try:
            root = etree.fromstring(data, etree.XMLParser(huge_tree=True, resolve_entities=False))
        except etree.XMLSyntaxError as exc:
            raise Bug(f"HTTP {status}: the reply is not XML ({exc}): {data[:300]!r}") from None
        fault = soap.read_fault(root)
        if fault is not None:
            # SOAP 1.2 Part 2 §7.5.2.2: VersionMismatch and MustUnderstand are HTTP 500 by right; a Receiver
            # fault is what the service answers an unexpected error with.
            if status == 500 and fault.code not in ("soap:VersionMismatch", "soap:MustUnderstand"):
                raise Bug(f"HTTP 500 {fault.code}: {fault.reason}")
            return f"fault {fault.code}"
        body = root.find(f"{{{NS.SOAP12}}}Body")
        if body is None or len(body) != 1:
            raise Bug(f"HTTP {status}: a reply with no body element")
        status_attr = body[0].get("status") or (body[0][0].get("status", "") if len(body[0]) else "")
        return f"{etree.QName(body[0]).localname} {status_attr.rsplit(':', 1)[-1]}"

    def close(self) -> None:
        self.loop.run_until_complete(self._lifespan("shutdown"))
        logging.getLogger("xds.soap").removeHandler(self.errors)
        logging.getLogger("xds.soap").setLevel(self._soap_level)
        self.loop.close()


def registry_endpoint(folder: Path) -> tuple[Endpoint, Any]:
    from registry.app import Registry
    from registry.config import RegistrySettings

    registry = Registry(RegistrySettings.load(_env(folder), feed_port=0))
    ack = registry.feed.handle(mllp_adt(PATIENT, "F1"))
    assert b"MSA|AA" in ack, ack
    return Endpoint(registry.asgi, registry.settings.path), registry


def mllp_adt(patient: str, control: str) -> bytes:
    return (f"MSH|^~\\&|HIS|H|XDS|X|20260101||ADT^A01^ADT_A01|{control}|P|2.5\rEVN|A01|20260101\r"
            f"PID|||{patient}||Doe^Jane||19700101|F\r").encode()


def _envelope(body: etree._Element, action: str) -> bytes:
    return etree.tostring(soap.request_envelope(body, action), xml_declaration=True, encoding="UTF-8")


def registry_seeds() -> dict[str, etree._Element]:
    one = single_document(PATIENT)
    folder = single_document(PATIENT)
    folder.add_folder()
    folder.link("Folder01", "Document01", None)
    two = SubmissionBuilder(PATIENT).with_submission_set()
    two.add_document()
    two.add_document()
    queries = {
        f"query {q.name}": encode_request(q, params, ReturnType.LEAF_CLASS)
        for q, params in (
            (Q.FindDocuments, {"$XDSDocumentEntryPatientId": PATIENT, "$XDSDocumentEntryStatus": [Status.APPROVED.value],
                               "$XDSDocumentEntryAuthorPerson": ["%Smitty%", "_a\\%"],
                               "$XDSDocumentEntryClassCode": ["REPORTS^^1.3.6.1.4.1.19376.1.2.6.1"],
                               "$XDSDocumentEntryCreationTimeFrom": "2020"}),
            (Q.FindSubmissionSets, {"$XDSSubmissionSetPatientId": PATIENT, "$XDSSubmissionSetStatus": [Status.APPROVED.value]}),
            (Q.FindFolders, {"$XDSFolderPatientId": PATIENT, "$XDSFolderStatus": [Status.APPROVED.value]}),
            (Q.GetAll, {"$patientId": PATIENT, "$XDSDocumentEntryStatus": [Status.APPROVED.value],
                        "$XDSSubmissionSetStatus": [Status.APPROVED.value], "$XDSFolderStatus": [Status.APPROVED.value]}),
            (Q.GetDocuments, {"$XDSDocumentEntryUniqueId": ["1.2.3", "1.2.4"]}),
            (Q.GetRelatedDocuments, {"$XDSDocumentEntryUniqueId": "1.2.3", "$AssociationTypes": [
                "urn:ihe:iti:2007:AssociationType:RPLC"]}),
        )
    }
    return {"ITI-42 one document": one.xml(), "ITI-42 folder": folder.xml(), "ITI-42 two documents": two.xml(),
            **queries}


# --------------------------------------------------------------------------------------------------
# Targets


def soap_target(folder: Path) -> Target:
    endpoint, _ = registry_endpoint(folder)
    seeds = [(_envelope(body, Action.STORED_QUERY.value if name.startswith("query") else Action.REGISTER.value))
             for name, body in registry_seeds().items()]
    seeds.append(b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>')
    strategy = st.tuples(byte_mutant(tuple(seeds)), st.sampled_from(
        (SOAP_CONTENT_TYPE, SOAP_CONTENT_TYPE, "text/xml", "application/xop+xml", "", "x/y", "multipart/related")))

    def run(case: tuple[bytes, str]) -> str:
        return endpoint.answer(*endpoint.post([case[0]], case[1]))

    return Target("soap", strategy, run, endpoint.close)


def _tree_target(name: str, folder: Path, query: bool) -> Target:
    endpoint, _ = registry_endpoint(folder)
    seeds = tuple(body for n, body in registry_seeds().items() if n.startswith("query") == query)
    action = Action.STORED_QUERY.value if query else Action.REGISTER.value

    def run(tree: etree._Element) -> str:
        return endpoint.answer(*endpoint.post([_envelope(tree, action)], SOAP_CONTENT_TYPE))

    return Target(name, tree_mutant(seeds), run, endpoint.close)


def ebrim_target(folder: Path) -> Target:
    return _tree_target("ebrim", folder, query=False)


def query_target(folder: Path) -> Target:
    return _tree_target("query", folder, query=True)


def mtom_target(folder: Path) -> Target:
    from repository.app import Repository
    from repository.config import RepositorySettings

    # The registry is not there: an ITI-41 that passes every check ends XDSRegistryNotAvailable.
    settings = RepositorySettings.load(_env(folder), registry_url="http://127.0.0.1:9/xds/registry", registry_timeout=1.0)
    repository = Repository(settings)
    endpoint = Endpoint(repository.asgi, settings.path)
    seeds = []
    for documents in ({"Document01": b"hello"}, {"Document01": b"\r\n--x\r\n" * 50, "Document02": bytes(range(256))}):
        builder = builder_without_repository_slots(PATIENT, documents=len(documents))
        body, parts = pnr_element(builder, {k: Content.of(v) for k, v in documents.items()})
        encoded = mtom_request(body, parts, Action.PROVIDE_AND_REGISTER)
        seeds.append((encoded.content_type, b"".join(encoded.chunks)))
    retrieve = mtom_request(retrieve_element(("1.19.6.24.109.42.1", "1.2.3")), [], Action.RETRIEVE)
    seeds.append((retrieve.content_type, b"".join(retrieve.chunks)))

    @st.composite
    def cases(draw: st.DrawFn) -> tuple[str, list[bytes]]:
        content_type, _ = draw(st.sampled_from(seeds))
        body = draw(byte_mutant(tuple(s[1] for s in seeds)))
        if draw(st.integers(0, 9)) == 0:  # now and then the header too
            content_type = draw(byte_mutant((content_type.encode(),))).decode("latin-1")
        return content_type, draw(chunked(body))

    def run(case: tuple[str, list[bytes]]) -> str:
        return endpoint.answer(*endpoint.post(case[1], case[0]))

    def close() -> None:
        endpoint.close()

    return Target("mtom", cases(), run, close)


def wssec_target(folder: Path) -> Target:
    from xuatool import variants
    from xuatool.assertion import build_assertion, sign_assertion
    from xuatool.header import request, security_header
    from xuatool.pki import generate

    pki = generate()
    now = dt.datetime.now(dt.UTC)
    ctx = variants.VariantContext(pki=pki, now=now, audience="urn:a")
    policy = wssec.Policy(trust_anchors=pki.trust_anchors, now=now, profile=wssec.Profile.VIHF,
                          audiences=frozenset({"urn:a"}))
    unsigned = build_assertion(ctx.spec(), pki.seal, now)
    window = (now - dt.timedelta(seconds=5), now + dt.timedelta(minutes=5))
    signed_header = security_header(sign_assertion(unsigned, pki.seal), window)

    @st.composite
    def cases(draw: st.DrawFn) -> bytes:
        if draw(st.integers(0, 9)) == 0:  # edited before signing: the edit reaches the assertion's readers
            try:
                signed = sign_assertion(draw(tree_mutant((unsigned,))), pki.seal)
            except xmlsec.Error:  # an edit the signer itself cannot take (its ID gone): not an input
                reject()
            header = security_header(signed, window)
        else:
            header = draw(tree_mutant((signed_header,)))
        data = request(etree.Element("{urn:x}E"), "urn:x:a", header)
        return draw(byte_mutant((data,))) if draw(st.booleans()) else data

    def run(data: bytes) -> str:
        try:
            header = soap.read_envelope(xmlsafe.parse_bytes(data)).header
            principal = wssec.verify(header, policy)
        except SecurityFault as fault:
            return f"SecurityFault {fault.subcode[1] if fault.subcode else ''}"
        except SoapFault as fault:
            return f"SoapFault {fault.code.value}"
        return "Principal" if principal is not None else "anonymous"

    return Target("wssec", cases(), run)


def hl7_target(folder: Path) -> Target:
    from registry.mllp_server import FeedServer
    from registry.sql.store import SqlRegistry

    store = SqlRegistry(f"sqlite:///{folder / 'feed.db'}")
    store.migrate()
    server = FeedServer(store, "127.0.0.1", 0, lambda: "20260101000000", max_message_bytes=64 * 1024)
    seeds = tuple(mllp.frame(m) for m in (
        mllp_adt(PATIENT, "S1"),
        mllp_adt(PATIENT, "S2").replace(b"A01^ADT_A01", b"A40^ADT_A39") + b"MRG|OLD^^^&1.3.6.1.4.1.21367.2005.3.7&ISO\r",
        b"MSH|^~\\&|H|H|X|X|2026||ADT^A08^ADT_A01|S3|P|2.3.1\rPID|||A~B^^^&1.2&ISO||X^Y\rNTE|1||n\r",
        b"MSH#$*\\%#H#H#X#X#2026##ADT$A01#S4#P#2.5\rPID###7$$$%1.2%ISO##Doe$Jane\r",
    ))

    @st.composite
    def cases(draw: st.DrawFn) -> list[bytes]:
        stream = b"".join(draw(st.lists(byte_mutant(seeds), min_size=1, max_size=3)))
        return draw(chunked(stream))

    def run(pieces: list[bytes]) -> str:
        reader = mllp.MllpReader(server.max_message_bytes)
        outcomes = []
        for piece in pieces:
            for event in reader.feed(piece):
                ack = server.refuse_oversized(event) if isinstance(event, mllp.Oversized) else server.handle(event.payload)
                segments = ack.split(b"\r")
                if len(segments) < 2 or not segments[0].startswith(b"MSH|") or segments[1][:7] not in (
                        b"MSA|AA|", b"MSA|AE|", b"MSA|AR|"):
                    raise Bug(f"not an ACK: {ack[:300]!r}")
                outcomes.append(segments[1][4:6].decode())
        return "+".join(sorted(set(outcomes))) or "no frame"

    return Target("hl7", cases(), run, store.dispose)


def syslog_target(folder: Path) -> Target:
    from audit.store import AuditStore, Origin
    from audit.writer import Item, store_batch

    store = AuditStore.open(f"sqlite:///{folder / 'audit.db'}")
    valid = syslog.encode(syslog.atna_message(_audit_xml(), syslog.format_timestamp(datetime.now(UTC)), "host", "app", "1"))
    seeds = (syslog.frame(valid), syslog.frame(valid) * 2, b"12 <13>1 - - - -")
    origin = Origin("tls", "127.0.0.1:9", datetime.now(UTC))

    @st.composite
    def cases(draw: st.DrawFn) -> list[bytes]:
        return draw(chunked(draw(byte_mutant(seeds))))

    def run(pieces: list[bytes]) -> str:
        decoder = syslog.FrameDecoder(max_frame=64 * 1024)
        items = []
        for piece in pieces:
            decoder.feed(piece)
            while True:
                event = decoder.next_event()
                if isinstance(event, syslog.Frame):
                    items.append(Item(event.data, origin))
                elif isinstance(event, syslog.Garbage):
                    items.append(Item(event.data, origin, problem=event.reason))
                else:
                    break
        if not items:
            return "no frame"
        counts = store_batch(store, items, 64 * 1024)
        if counts.stored + counts.duplicates + counts.rejected != len(items):
            raise Bug(f"{len(items)} messages, {counts} accounted for")
        return "stored" if counts.stored or counts.duplicates else "rejected"

    return Target("syslog", cases(), run, store.close)


def _audit_xml() -> bytes:
    """One valid DICOM AuditMessage (an ITI-42 import event), as a registry sends it."""
    from xdscore import audit_events as ae

    facts = ae.AuditFacts(
        transaction=ae.Transaction.ITI_42, event_time=datetime.now(UTC), outcome=ae.EventOutcome.SUCCESS,
        client=ae.Node("http://www.w3.org/2005/08/addressing/anonymous", "192.0.2.10"),
        server=ae.Node("https://xds.example.org/registry", "xds.example.org", "4242"),
        audit_source=ae.AuditSource("pyxds-registry", "1.2.250.1.999"), patient_ids=(PATIENT,),
        submission_set_unique_id="1.2.250.1.999.1.1.42")
    return ae.build(facts)[0]


TARGETS: dict[str, Callable[[Path], Target]] = {
    "soap": soap_target, "mtom": mtom_target, "ebrim": ebrim_target, "query": query_target,
    "wssec": wssec_target, "hl7": hl7_target, "syslog": syslog_target,
}
