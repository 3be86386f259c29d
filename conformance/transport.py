"""Client side of the transactions under test: SOAP 1.2 over HTTP, MTOM/XOP, and HL7v2 over MLLP.

- ITI-42 / ITI-18 (and the update transactions) are plain SOAP 1.2 with WS-Addressing (ITI TF-2x V.3);
- ITI-41 / ITI-43 are sent as MTOM/XOP `multipart/related` messages, as the toolkit does (ITI TF-2x V.3.6);
- ITI-8 Patient Identity Feed is an HL7 v2 ADT^A01 framed by MLLP (0x0B … 0x1C 0x0D), the toolkit's
  `adt/A01.txt` template with the patient id in PID-3 (ITI TF-2a 3.8);
- ITI-64 Notify XAD-PID Link Change is an HL7 v2.5 ADT^A43 (PID-3 the new XAD-PID and local id, MRG-1 the
  old ones), as the toolkit's `A43Sender` writes it (ITI TF-2b 3.64);
- with XUA, every SOAP request carries the wsse:Security header the caller gives (ITI TF-2b 3.40).

Everything received is parsed with `xdscore.xmlsafe.parse_bytes`. Transport problems (connection refused,
HTTP error without a SOAP envelope, unparsable reply) become a `TransportError` that the grader reports as
the reason of the step's failure.
"""

from __future__ import annotations

import datetime as _dt
import socket
import uuid
from dataclasses import dataclass, field

import httpx
from lxml import etree

from xdscore import mtom
from xdscore.errors import SoapFault
from xdscore.soap import read_fault, request_envelope
from xdscore.vocabulary import NS
from xdscore.xmlsafe import parse_bytes

MLLP_START = b"\x0b"
MLLP_END = b"\x1c\x0d"


class TransportError(Exception):
    """The exchange did not produce a SOAP reply or an HL7 acknowledgement."""


@dataclass
class SoapExchange:
    """What went over the wire and what came back, for grading and for the report."""

    request_body: etree._Element
    request_bytes: bytes
    http_status: int = 0
    response_bytes: bytes = b""
    envelope: etree._Element | None = None
    body: etree._Element | None = None  # first child of soap:Body (a Fault when the reply is a fault)
    fault: str | None = None
    fault_subcode: str | None = None  # {namespace}local of the first Subcode/Value, when the reply is a fault
    attachments: dict[str, mtom.Attachment] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    """An ITI-41 document: the xdsb:Document @id and its bytes."""

    id: str
    data: bytes
    content_type: str = "application/octet-stream"


class SoapClient:
    def __init__(self, timeout: float = 60.0):
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def call(
        self, url: str, action: str, body: etree._Element, *, mtom_message: bool = False,
        documents: list[Document] | None = None, security: etree._Element | None = None,
    ) -> SoapExchange:
        env = request_envelope(body, action, to=url)
        if security is not None:
            header = env.find(f"{{{NS.SOAP12}}}Header")
            assert header is not None  # request_envelope always writes one
            header.insert(0, security)
        parts: list[mtom.Part] = []
        if documents:
            # Each xdsb:Document of the body references its MIME part by Content-ID.
            by_id = {d.id: d for d in documents}
            for doc_el in body.iter(f"{{{NS.XDSB}}}Document"):
                doc = by_id.get(doc_el.get("id", ""))
                if doc is None:
                    continue
                cid = mtom.new_content_id()
                etree.SubElement(doc_el, mtom.XOP_INCLUDE, nsmap={"xop": NS.XOP}).set("href", f"cid:{cid}")
                parts.append(mtom.Part(cid, doc.content_type, doc.data))
        env_bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
        if mtom_message:
            content_type, payload = mtom.encode_message(env_bytes, parts, action)
        else:
            content_type = f'application/soap+xml; charset=UTF-8; action="{action}"'
            payload = env_bytes
        ex = SoapExchange(request_body=body, request_bytes=payload)
        try:
            resp = self._http.post(url, content=payload, headers={"Content-Type": content_type})
        except httpx.HTTPError as exc:
            raise TransportError(f"HTTP request to {url} failed: {exc}") from None
        ex.http_status = resp.status_code
        ex.response_bytes = resp.content
        ctype = mtom.ContentType.parse(resp.headers.get("content-type", "application/octet-stream"))
        try:
            if ctype.is_multipart:
                msg = mtom.decode_message(resp.content, ctype)
                root_bytes, ex.attachments = msg.root, msg.attachments
            else:
                root_bytes = resp.content
            envelope = parse_bytes(root_bytes, what="response")
        except SoapFault as exc:
            raise TransportError(f"HTTP {resp.status_code} reply is not a SOAP message: {exc.reason}") from None
        if etree.QName(envelope).localname != "Envelope" or etree.QName(envelope).namespace != NS.SOAP12:
            raise TransportError(f"HTTP {resp.status_code} reply is not a SOAP 1.2 envelope ({envelope.tag})")
        ex.envelope = envelope
        soap_body = envelope.find(f"{{{NS.SOAP12}}}Body")
        first = [c for c in soap_body if isinstance(c.tag, str)] if soap_body is not None else []
        ex.body = first[0] if first else None
        fault = read_fault(envelope)
        if fault is not None:
            ex.fault = f"{fault.code}{' / ' + fault.subcode if fault.subcode else ''}: {fault.reason}"
            ex.fault_subcode = _subcode(envelope)
        elif ex.body is None:
            raise TransportError(f"HTTP {resp.status_code} SOAP reply has an empty Body")
        return ex


def _subcode(envelope: etree._Element) -> str | None:
    """The fault's first Subcode/Value as {namespace}local (its prefix resolved where it is declared)."""
    value = envelope.find(f"{{{NS.SOAP12}}}Body/{{{NS.SOAP12}}}Fault/{{{NS.SOAP12}}}Code/{{{NS.SOAP12}}}Subcode/{{{NS.SOAP12}}}Value")
    if value is None or not (value.text or "").strip():
        return None
    prefix, _, name = value.text.strip().rpartition(":")
    namespace = value.nsmap.get(prefix or None)
    return f"{{{namespace}}}{name}" if namespace else name


# --- ITI-8 Patient Identity Feed -------------------------------------------------------------------------

A01_TEMPLATE = (
    "MSH|^~\\&|EPICADT|DH|LABADT|DH|{now}||ADT^A01|{control_id}|P|2.3.1|",
    "EVN|A01|{now}|",
    (
        "PID|||{pid}||APPLESEED^JOHN^A^III||19710101|M||C|1^CATALYZE STREET^^MADISON^WI^53005-1020|GL|"
        "(414)379-1212|(414)271-3434||S||MRN12345001^2^M10|123456789|987654^NC|"
    ),
    "PV1||I",
)


A43_TEMPLATE = (
    "MSH|^~\\&|NIST_XDSTOOLS|NIST|XDSREG|REGISTRY|{now}||ADT^A43^ADT_A43|{control_id}|P|2.5|",
    "EVN|A43|{now}",
    "PID|||{new_pid}|| |",
    "MRG|{old_pid}",
)


@dataclass
class FeedExchange:
    message: str
    ack: str = ""
    ack_code: str = ""
    error_codes: list[str] = field(default_factory=list)  # HL7 table 0357 codes of the ERR segments


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%d%H%M%S")


def a01_message(patient_id: str) -> str:
    now = _now()
    lines = [line.format(now=now, control_id=uuid.uuid4().hex[:20], pid=patient_id) for line in A01_TEMPLATE]
    return "\r".join(lines) + "\r"


def a43_message(new_xad_pid: str, old_xad_pid: str, new_local_pid: str = "", old_local_pid: str = "") -> str:
    """ADT^A43: PID-3 the new XAD-PID (~ the local id moved), MRG-1 the old XAD-PID (~ the old local id)."""
    new_pid = new_xad_pid + (f"~{new_local_pid}" if new_local_pid else "")
    old_pid = old_xad_pid + (f"~{old_local_pid}" if old_local_pid else "")
    fields = {"now": _now(), "control_id": uuid.uuid4().hex[:20], "new_pid": new_pid, "old_pid": old_pid}
    return "\r".join(line.format(**fields) for line in A43_TEMPLATE) + "\r"


def a43_probe_message() -> str:
    """An ADT^A43 naming no patient (no PID, no MRG): a registry implementing ITI-64 refuses it as
    malformed, one that does not refuses the event itself (HL7 error 201). Nothing can change."""
    fields = {"now": _now(), "control_id": uuid.uuid4().hex[:20]}
    return "\r".join(line.format(**fields) for line in A43_TEMPLATE[:2]) + "\r"


def _error_codes(segment: str) -> list[str]:
    """ERR-3 (v2.5 CWE code^text^table) or ERR-1 (v2.3.1 ELD ...^^^code&text&table)."""
    fields = segment.split("|")
    if len(fields) > 3 and fields[3]:
        return [fields[3].split("^")[0]]
    if len(fields) > 1 and fields[1]:
        parts = fields[1].split("^")
        if len(parts) > 3 and parts[3]:
            return [parts[3].split("&")[0]]
    return []


def send_hl7(host: str, port: int, message: str, timeout: float = 30.0) -> FeedExchange:
    """Send one HL7 v2 message over MLLP; the acknowledgement's MSA-1 goes in `ack_code`."""
    ex = FeedExchange(message=message)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(MLLP_START + ex.message.encode("utf-8") + MLLP_END)
            buf = b""
            while MLLP_END not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:
        raise TransportError(f"MLLP connection to {host}:{port} failed: {exc}") from None
    if MLLP_END not in buf:
        raise TransportError(f"MLLP peer {host}:{port} closed without a framed acknowledgement")
    start = buf.find(MLLP_START)
    ex.ack = buf[start + 1 : buf.find(MLLP_END)].decode("utf-8", errors="replace")
    for segment in ex.ack.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA|"):
            fields = segment.split("|")
            ex.ack_code = fields[1] if len(fields) > 1 else ""
        elif segment.startswith("ERR|"):
            ex.error_codes += _error_codes(segment)
    return ex


def send_feed(host: str, port: int, patient_id: str, timeout: float = 30.0) -> FeedExchange:
    """Send ADT^A01 for `patient_id` and return the acknowledgement (MSA-1 in `ack_code`)."""
    return send_hl7(host, port, a01_message(patient_id), timeout)
