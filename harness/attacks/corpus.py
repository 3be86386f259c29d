"""The attack corpus of issue 16 (what each attack is and the answer it must get; `harness.attacks` plays
them): XML entities and XInclude, billion laughs and quadratic blowup, deep nesting, huge attributes and
texts, invalid UTF-8 (ITI TF-2x V.3 and SOAP 1.2 Part 1 §5: the envelope is XML 1.0 without DTD);
Content-Type and envelope structure (SOAP 1.2 Part 2 §7.1.4); MTOM multipart oversized, truncated, and
`cid:` references matched exactly (RFC 2392, ITI TF-2b 3.41.4.1.3: one attachment per DocumentEntry);
ebRIM references to unknown objects (ITI TF-3 4.1.12, UnresolvedReferenceException); slow-loris HTTP and
MLLP connections; hostile HL7 v2 frames (ITI TF-2a 3.8, ACK AR); hostile syslog audit records (RFC 5424 /
ITI-20, a rejected record).
"""

from __future__ import annotations

import base64
import socket
import time
import uuid
from collections.abc import Callable

import httpx
from lxml import etree

from harness.attacks import (
    SOAP_TYPE,
    Answer,
    Attack,
    Expect,
    Targets,
    attack,
    either,
    post,
    read_soap,
    refused,
    sender_fault,
)
from harness.builders import SubmissionBuilder
from xdscore import mllp, mtom, soap, syslog
from xdscore.vocabulary import NS, Action

ENV_OPEN = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
XI = "http://www.w3.org/2001/XInclude"


def _register(patient: str, documents: int = 1) -> SubmissionBuilder:
    b = SubmissionBuilder(patient).with_submission_set()
    for _ in range(documents):
        b.add_document()
    return b


def _envelope(body: etree._Element, action: Action) -> bytes:
    return bytes(etree.tostring(soap.request_envelope(body, action.value), xml_declaration=True, encoding="UTF-8"))


def _iti42(t: Targets, change: Callable[[etree._Element], None] | None = None) -> bytes:
    """A valid ITI-42 for the attack patient, with `change` applied to its SubmitObjectsRequest."""
    body = _register(t.patient).xml()
    if change is not None:
        change(body)
    return _envelope(body, Action.REGISTER)


def _with_doctype(doctype: str, inner: bytes = b"&e;") -> bytes:
    return (b'<?xml version="1.0"?>\n<!DOCTYPE s:Envelope [' + doctype.encode() + b"]>\n" + ENV_OPEN
            + b"<s:Body>" + inner + b"</s:Body></s:Envelope>")


def _to_registry(payload: Callable[[Targets], bytes]) -> Callable[[Targets], Answer]:
    return lambda t: post(t, t.registry_url, payload(t))


def _to_repository(payload: Callable[[Targets], bytes]) -> Callable[[Targets], Answer]:
    return lambda t: post(t, t.repository_url, payload(t))


def _slot_value(text: str) -> Callable[[etree._Element], None]:
    """Put `text` as the value of a new Slot of the DocumentEntry."""
    def change(body: etree._Element) -> None:
        entry = body.find(f".//{{{NS.RIM}}}ExtrinsicObject")
        assert entry is not None
        slot = etree.Element(f"{{{NS.RIM}}}Slot", name="urn:x:attack")
        etree.SubElement(etree.SubElement(slot, f"{{{NS.RIM}}}ValueList"), f"{{{NS.RIM}}}Value").text = text
        entry.insert(0, slot)
    return change


def _xinclude(href: str, parse: str) -> Callable[[etree._Element], None]:
    def change(body: etree._Element) -> None:
        _slot_value("x")(body)
        value = body.find(f".//{{{NS.RIM}}}Value")
        assert value is not None
        value.text = None
        etree.SubElement(value, f"{{{XI}}}include", href=href, parse=parse, nsmap={"xi": XI})
    return change


def _invalid_utf8(t: Targets, bad: bytes) -> bytes:
    marker = "INVALID-UTF8-HERE"
    return _iti42(t, _slot_value(marker)).replace(marker.encode(), b"ab" + bad + b"cd")


def _loose(what: str, attribute: str) -> Callable[[etree._Element], None]:
    """A top-level Classification / ExternalIdentifier naming an object that is not in the submission."""
    def change(body: etree._Element) -> None:
        rol = body.find(f"{{{NS.RIM}}}RegistryObjectList")
        assert rol is not None
        loose = etree.SubElement(rol, f"{{{NS.RIM}}}{what}", id=f"urn:uuid:{uuid.uuid4()}")
        loose.set(attribute, f"urn:uuid:{uuid.uuid4()}")
        if what == "Classification":
            loose.set("classificationNode", "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd")
        else:
            loose.set("identificationScheme", "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8")
            loose.set("value", "1.2.3")
    return change


def _association_to_nowhere(body: etree._Element) -> None:
    rol = body.find(f"{{{NS.RIM}}}RegistryObjectList")
    assert rol is not None
    etree.SubElement(rol, f"{{{NS.RIM}}}Association", id=f"urn:uuid:{uuid.uuid4()}", sourceObject="Document01",
                     targetObject=f"urn:uuid:{uuid.uuid4()}",
                     associationType="urn:ihe:iti:2007:AssociationType:RPLC")


# --- MTOM (ITI-41 at the repository) -------------------------------------------------------------------

def _pnr(t: Targets, hrefs: list[str], parts: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """An ITI-41 whose Documents include `hrefs` (one Document per href) and whose MIME parts are `parts`."""
    b = SubmissionBuilder(t.patient).with_submission_set()
    for _ in hrefs:
        b.add_document(hash=None, size=None, repository_unique_id=None)
    request = etree.Element(f"{{{NS.XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": NS.XDSB})
    request.append(b.xml())
    entries = [o.id for o in b.objects if o.tag == "ExtrinsicObject"]
    for entry_id, href in zip(entries, hrefs, strict=True):
        doc = etree.SubElement(request, f"{{{NS.XDSB}}}Document", id=entry_id)
        mtom.xop_include(doc, "placeholder").set("href", href)
    return mtom.encode_message(_envelope(request, Action.PROVIDE_AND_REGISTER),
                               [mtom.Part(cid, "application/octet-stream", data) for cid, data in parts],
                               Action.PROVIDE_AND_REGISTER.value)


def _mtom(hrefs: list[str], parts: list[tuple[str, bytes]]) -> Callable[[Targets], Answer]:
    def send(t: Targets) -> Answer:
        content_type, body = _pnr(t, hrefs, parts)
        return post(t, t.repository_url, body, content_type)
    return send


def _mtom_edited(edit: Callable[[str, bytes], tuple[str, bytes]]) -> Callable[[Targets], Answer]:
    def send(t: Targets) -> Answer:
        content_type, body = edit(*_pnr(t, ["cid:a@x"], [("a@x", b"document")]))
        return post(t, t.repository_url, body, content_type)
    return send


def _truncated(content_type: str, body: bytes) -> tuple[str, bytes]:
    return content_type, body[: body.rindex(b"\r\n--")]  # no closing boundary


def _no_boundary(content_type: str, body: bytes) -> tuple[str, bytes]:
    return content_type, body.replace(mtom.ContentType.parse(content_type).params["boundary"].encode(), b"elsewhere")


def _many_parts(content_type: str, body: bytes) -> tuple[str, bytes]:
    boundary = mtom.ContentType.parse(content_type).params["boundary"]
    extra = b"".join(b"--" + boundary.encode() + f"\r\nContent-ID: <p{i}@x>\r\n\r\nx\r\n".encode() for i in range(5000))
    end = body.rindex(b"--" + boundary.encode() + b"--")
    return content_type, body[:end] + extra + body[end:]


def _oversized_mtom(t: Targets) -> Answer:
    """An ITI-41 larger than the repository's max_request_bytes (the cluster runs with a 32 MiB limit)."""
    content_type, body = _pnr(t, ["cid:a@x"], [("a@x", b"\x00" * (40 * 1024 * 1024))])
    return post(t, t.repository_url, body, content_type)


def _cut_connection(t: Targets) -> Answer:
    """Half of an ITI-41 body sent, then the connection closed: nothing may be stored or left in the spool."""
    content_type, body = _pnr(t, ["cid:a@x"], [("a@x", b"\x01" * (3 * 1024 * 1024))])
    url = httpx.URL(t.repository_url)
    with socket.create_connection((url.host, url.port or 80), timeout=10) as s:
        s.sendall(f"POST {url.path} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: {content_type}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
        time.sleep(0.2)
    return Answer(note="connection closed by the client")


# --- HTTP connections ----------------------------------------------------------------------------------

def _slow_loris(t: Targets, connections: int = 20, idle: float = 2.0) -> Answer:
    """`connections` sockets trickling a request head a byte every half second: each must be closed by the
    service within its idle timeout (plus slack), and an ITI-18 meanwhile answered in under a second."""
    url = httpx.URL(t.registry_url)
    head = f"POST {url.path} HTTP/1.1\r\nHost: x\r\nContent-Type: {SOAP_TYPE}\r\nContent-Length: 100\r\n".encode()
    sockets = [socket.create_connection((url.host, url.port or 80), timeout=0.1) for _ in range(connections)]
    opened, closed_at = time.monotonic(), [0.0] * connections
    query = _query_ok(t)
    latency = 0.0
    for i in range(2 * int(idle + 4)):
        for n, s in enumerate(sockets):
            if closed_at[n]:
                continue
            try:
                s.send(head[i: i + 1])
                if s.recv(1) == b"":
                    closed_at[n] = time.monotonic() - opened
            except TimeoutError:
                pass
            except OSError:
                closed_at[n] = time.monotonic() - opened
        if i == 2:
            started = time.monotonic()
            ok = query()
            latency = time.monotonic() - started if ok else 99.0
        if all(closed_at):
            break
        time.sleep(0.5)
    for s in sockets:
        s.close()
    still_open = sum(1 for c in closed_at if not c)
    worst = max(closed_at) if all(closed_at) else None
    return Answer(closed_after=worst, note=f"{still_open} still open; ITI-18 meanwhile in {latency:.2f}s",
                  http=200 if latency < 1.0 else None)


def _slow_body(t: Targets) -> Answer:
    """A request head, then a body that pauses longer than the idle timeout: 408, a Sender fault."""
    url = httpx.URL(t.registry_url)
    body = _iti42(t)
    with socket.create_connection((url.host, url.port or 80), timeout=15) as s:
        s.sendall(f"POST {url.path} HTTP/1.1\r\nHost: x\r\nContent-Type: {SOAP_TYPE}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])
        time.sleep(3.5)
        try:
            s.sendall(body[100:])
        except OSError:
            pass
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if b"</env:Envelope>" in data or b"Envelope>" in data[-20:]:
                break
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    content_type = next((line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                         if line.lower().startswith(b"content-type:")), "")
    return read_soap(status, content_type, payload)


def _query_ok(t: Targets) -> Callable[[], bool]:
    from xdscore.queries import ReturnType, encode_request
    from xdscore.vocabulary import Status
    from xdscore.vocabulary import StoredQueryId as Q

    request = _envelope(encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": t.patient,
                                                         "$XDSDocumentEntryStatus": [Status.APPROVED.value]},
                                       ReturnType.LEAF_CLASS), Action.STORED_QUERY)

    def query() -> bool:
        with httpx.Client(timeout=10) as client:
            r = client.post(t.registry_url, content=request, headers={"content-type": SOAP_TYPE})
        return b"ResponseStatusType:Success" in r.content
    return query


# --- MLLP (ITI-8 at the registry's feed) ------------------------------------------------------------

MSH = "MSH|^~\\&|HIS|H|XDS|X|20260101||ADT^A01^ADT_A01|{control}|P|2.5\rEVN|A01|20260101\r"


def _mllp(t: Targets, payload: bytes, timeout: float = 20) -> Answer:
    with socket.create_connection(t.feed, timeout=timeout) as s:
        s.sendall(payload)
        reader = mllp.MllpReader()
        while True:
            data = s.recv(65536)
            if not data:
                return Answer(note="feed closed the connection without an ACK")
            frames = [e for e in reader.feed(data) if isinstance(e, mllp.Frame)]
            if frames:
                ack = frames[0].payload
                msa = next((seg for seg in ack.split(b"\r") if seg.startswith(b"MSA|")), b"")
                return Answer(ack=msa.split(b"|")[1].decode() if msa else "no MSA", raw=ack)


def _ack(*codes: str) -> tuple[Expect, str]:
    return (lambda a: a.ack in codes), f"an HL7 ACK {' or '.join(codes)}"


def _stalled_feed(t: Targets) -> Answer:
    """A connection stalled inside a frame, one that never reads its ACKs, then a third connection's ACK."""
    stalled = socket.create_connection(t.feed)
    stalled.sendall(mllp.START + MSH.format(control="STALL").encode()[:40])
    deaf = socket.create_connection(t.feed)
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.settimeout(5)
    try:
        try:
            message = MSH.format(control="DEAF") + f"PID|||{t.patient}||Doe^Jane\r" + "NTE|1||x\r" * 200
            deaf.sendall(mllp.frame(message.encode()) * 100)
        except TimeoutError:
            pass
        started = time.monotonic()
        answer = _mllp(t, mllp.frame((MSH.format(control="THIRD") + f"PID|||{t.patient}||Doe^Jane\r").encode()), 10)
        answer.closed_after = None
        answer.note = f"ACK in {time.monotonic() - started:.2f}s beside a stalled and a deaf connection"
        if time.monotonic() - started > 2.0:
            answer.ack = "too slow"
        return answer
    finally:
        stalled.close()
        deaf.close()


def _idle_feed(t: Targets) -> Answer:
    with socket.create_connection(t.feed, timeout=15) as s:
        started = time.monotonic()
        s.sendall(mllp.START + b"MSH|^~\\&|")
        got = s.recv(10)
        return Answer(closed_after=time.monotonic() - started, raw=got)


# --- syslog (ITI-20 at the audit sink) --------------------------------------------------------------------

def _syslog(xml: bytes) -> Callable[[Targets], Answer]:
    """One audit record over UDP; the answer is the sink's /rejected entry for it (found by a marker)."""
    def send(t: Targets) -> Answer:
        marker = uuid.uuid4().hex
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        data = syslog.encode(syslog.atna_message(xml.replace(b"MARKER", marker.encode()), stamp, "hostile", marker, "1"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(data, t.audit_udp)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = httpx.get(f"{t.audit_http}/rejected", params={"limit": 1000}, timeout=10).json()["rejected"]
            for row in rows:
                if marker.encode() in base64.b64decode(row["data_base64"]):
                    return Answer(note=f"rejected: {row['reason']}", raw=row["reason"].encode(), status="rejected")
            time.sleep(0.2)
        return Answer(note="not in /rejected (stored, or lost)")
    return send


_rejected: tuple[Expect, str] = ((lambda a: a.status == "rejected"), "a rejected audit record")


def corpus() -> list[Attack]:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return [
        # XML entities, DTDs, XInclude: refused before anything is resolved (the canary sees no connection)
        attack("xxe file entity", _to_registry(lambda t: _with_doctype('<!ENTITY e SYSTEM "file:///etc/passwd">')), sender_fault()),
        attack("xxe network entity", _to_registry(lambda t: _with_doctype(f'<!ENTITY e SYSTEM "{t.canary.url()}">')), sender_fault()),
        attack("xxe parameter entity", _to_registry(lambda t: _with_doctype(f'<!ENTITY % p SYSTEM "{t.canary.url()}"> %p;', b"")), sender_fault()),
        attack("external DTD", _to_registry(lambda t: b'<!DOCTYPE s:Envelope SYSTEM "' + t.canary.url().encode() + b'">' + ENV_OPEN + b"<s:Body/></s:Envelope>"), sender_fault()),
        attack("xxe at the repository", _to_repository(lambda t: _with_doctype('<!ENTITY e SYSTEM "file:///etc/passwd">')), sender_fault()),
        attack("xinclude of a file", _to_registry(lambda t: _iti42(t, _xinclude("file:///etc/passwd", "text"))),
               either(sender_fault(), refused("XDSRegistryMetadataError"))),
        attack("xinclude of a URL", _to_registry(lambda t: _iti42(t, _xinclude(t.canary.url(), "xml"))),
               either(sender_fault(), refused("XDSRegistryMetadataError"))),
        attack("billion laughs", _to_registry(lambda t: _with_doctype('<!ENTITY l0 "lol">' + laughs, b"&l9;")), sender_fault()),
        attack("quadratic blowup", _to_registry(lambda t: _with_doctype(f'<!ENTITY e "{"a" * 100_000}">', b"&e;" * 50_000)), sender_fault()),
        attack("deep nesting", _to_registry(lambda t: ENV_OPEN + b"<s:Body>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</s:Body></s:Envelope>"),
               sender_fault("elements nested more than 64 deep")),
        attack("huge attribute", _to_registry(lambda t: ENV_OPEN + b'<s:Body><a b="' + b"x" * 2_000_000 + b'"/></s:Body></s:Envelope>'),
               sender_fault("an attribute value longer than 65536")),
        attack("huge text", _to_registry(lambda t: _iti42(t, _slot_value("v" * 2_000_000))), sender_fault("text longer than")),
        attack("invalid UTF-8", _to_registry(lambda t: _invalid_utf8(t, b"\xff\xfe")), sender_fault()),
        attack("UTF-8 surrogate", _to_registry(lambda t: _invalid_utf8(t, b"\xed\xa0\x80")), sender_fault()),
        attack("overlong UTF-8 slash", _to_registry(lambda t: _invalid_utf8(t, b"\xc0\xaf")), sender_fault()),
        attack("NUL character reference", _to_registry(lambda t: _iti42(t).replace(b"Discharge summary", b"a&#0;b")), sender_fault()),
        # Content-Type and envelope structure
        attack("no Content-Type", lambda t: post(t, t.registry_url, _iti42(t), None), sender_fault(http=415)),
        attack("empty Content-Type", lambda t: post(t, t.registry_url, _iti42(t), ""), sender_fault(http=415)),
        attack("garbage Content-Type", lambda t: post(t, t.registry_url, _iti42(t), "garbage;;;=\""), sender_fault(http=415)),
        attack("HTML Content-Type", lambda t: post(t, t.registry_url, _iti42(t), "text/html"), sender_fault(http=415)),
        attack("control character in Content-Type", lambda t: post(t, t.registry_url, _iti42(t), "\x01garbage"),
               ((lambda a: a.http == 400), "HTTP 400 (refused by the HTTP layer)")),
        attack("multipart without boundary", lambda t: post(t, t.repository_url, _iti42(t), "multipart/related; type=\"application/xop+xml\""),
               either(sender_fault(), sender_fault(http=415))),
        attack("empty Content-Type at the repository", lambda t: post(t, t.repository_url, _iti42(t), ""), sender_fault(http=415)),
        attack("Body before Header", _to_registry(lambda t: _body_first(_iti42(t))), sender_fault("the Header comes after the Body")),
        attack("two Bodies", _to_registry(lambda t: _iti42(t).replace(b"</soap:Body>", b"</soap:Body><soap:Body/>")),
               sender_fault()),
        attack("oversized registry request", _to_registry(lambda t: _iti42(t, _slot_value("v" * 17_000_000))), sender_fault(http=413)),
        attack("slow body", _slow_body, sender_fault(http=408)),
        attack("slow-loris heads", _slow_loris, ((lambda a: a.http == 200 and a.closed_after is not None and a.closed_after < 6.0),
                                                "every trickling connection closed within 6 s, an ITI-18 answered meanwhile")),
        # ebRIM references to objects that do not exist (ITI TF-3 4.1.12)
        attack("Classification of an unknown object", _to_registry(lambda t: _iti42(t, _loose("Classification", "classifiedObject"))),
               refused("UnresolvedReferenceException")),
        attack("ExternalIdentifier of an unknown object", _to_registry(lambda t: _iti42(t, _loose("ExternalIdentifier", "registryObject"))),
               refused("UnresolvedReferenceException")),
        attack("Association to an unknown object", _to_registry(lambda t: _iti42(t, _association_to_nowhere)),
               refused("UnresolvedReferenceException")),
        # MTOM at the repository: one part per DocumentEntry, cid: matched exactly (RFC 2392)
        attack("two DocumentEntries on one cid", _mtom(["cid:a@x", "cid:a@x"], [("a@x", b"one")]), refused("XDSRepositoryMetadataError")),
        attack("two DocumentEntries on one cid, one percent-encoded", _mtom(["cid:a@x", "cid:a%40x"], [("a@x", b"one")]),
               refused("XDSRepositoryMetadataError")),
        attack("cid differing in case", _mtom(["cid:A@x"], [("a@x", b"one")]), either(sender_fault("missing MIME part"), refused("XDSRepositoryMetadataError"))),
        attack("cid in brackets", _mtom(["cid:<a@x>"], [("a@x", b"one")]), either(sender_fault("missing MIME part"), refused("XDSRepositoryMetadataError"))),
        attack("cid percent-encoded twice", _mtom(["cid:a%2540x"], [("a@x", b"one")]), either(sender_fault("missing MIME part"), refused("XDSRepositoryMetadataError"))),
        attack("cid ..%2F against a Content-ID ..%2F", _mtom(["cid:..%2Fetc%2Fpasswd"], [("..%2Fetc%2Fpasswd", b"one")]),
               either(sender_fault("missing MIME part"), refused("XDSRepositoryMetadataError"))),
        attack("cid that is a path", _mtom(["../../etc/passwd"], [("a@x", b"one")]), either(sender_fault(), refused("XDSRepositoryMetadataError"))),
        attack("truncated multipart", _mtom_edited(_truncated), sender_fault()),
        attack("multipart whose boundary never comes", _mtom_edited(_no_boundary), sender_fault()),
        attack("5,000 MIME parts", _mtom_edited(_many_parts), sender_fault()),
        attack("oversized multipart", _oversized_mtom, sender_fault(http=413)),
        attack("connection cut inside a multipart", _cut_connection, ((lambda a: True), "nothing (checked after the run)")),
        # HL7 v2 over MLLP
        attack("not HL7 at all", lambda t: _mllp(t, mllp.frame(b"\x00\xff not hl7 " * 10)), _ack("AR", "AE")),
        attack("oversized frame", lambda t: _mllp(t, mllp.frame((MSH.format(control="BIG") + "NTE|1||" + "x" * 2_000_000 + "\r").encode())),
               _ack("AR")),
        attack("200,000 segments", lambda t: _mllp(t, mllp.frame((MSH.format(control="SEGS") + "Z\r" * 200_000).encode())), _ack("AR")),
        attack("bad separators", lambda t: _mllp(t, mllp.frame(b"MSH|^^\\&|HIS|H|XDS|X|20260101||ADT^A01|C1|P|2.5\r")), _ack("AR", "AE")),
        attack("stalled and deaf feed connections", _stalled_feed, _ack("AA")),
        attack("idle feed connection", _idle_feed, ((lambda a: a.closed_after is not None and a.closed_after < 6.0),
                                                   "the connection closed within 6 s")),
        # ITI-20 audit records at the sink
        attack("audit record with an external entity", _syslog(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><AuditMessage>&e;MARKER</AuditMessage>'), _rejected),
        attack("audit record with billion laughs", _syslog(b'<!DOCTYPE a [<!ENTITY l0 "lol">' + laughs.encode() + b']><AuditMessage>&l9;MARKER</AuditMessage>'), _rejected),
        attack("audit record in invalid UTF-8", _syslog(b"<AuditMessage>\xff\xfeMARKER</AuditMessage>"), _rejected),
        attack("audit record nested deep", _syslog(b"<AuditMessage>" + b"<a>" * 5_000 + b"MARKER" + b"</a>" * 5_000 + b"</AuditMessage>"), _rejected),
    ]


def _body_first(envelope: bytes) -> bytes:
    root = etree.fromstring(envelope)
    header = root.find(f"{{{NS.SOAP12}}}Header")
    assert header is not None
    root.append(header)
    return bytes(etree.tostring(root))
