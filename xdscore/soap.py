"""SOAP 1.2 envelope and WS-Addressing codec (SOAP 1.2 Part 1; WS-Addressing 1.0 SOAP Binding; ITI TF-2x V).

`read_envelope` turns a parsed envelope into a `SoapRequest` (addressing headers, the security header
and the single body element) or raises a `SoapFault`. `write_response` (or `response_parts`, the same
bytes in pieces) and `write_fault` produce the reply envelope with wsa:Action and wsa:RelatesTo. No I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS, Action

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_CONTENT_TYPE = "application/soap+xml"

_ENV = f"{{{NS.SOAP12}}}"
_WSA = f"{{{NS.WSA}}}"
_TRUE = frozenset({"1", "true"})

# Namespaces of the header blocks a node processes; a mandatory block targeted at it from any other
# namespace gets a MustUnderstand fault. WS-Security counts only where a security hook verifies it:
# a service running with security `off` passes UNDERSTOOD_WITHOUT_SECURITY (xdsservice.soapapp).
UNDERSTOOD = frozenset({NS.WSA, NS.WSSE})
UNDERSTOOD_WITHOUT_SECURITY = frozenset({NS.WSA})
# SOAP 1.2 Part 1 §2.2, §5.2.2: the roles this node (the ultimate receiver) plays; no role attribute
# means ultimateReceiver. Blocks for other roles (or role "none") are not ours to understand.
ROLE_NEXT = f"{NS.SOAP12}/role/next"
ROLE_ULTIMATE_RECEIVER = f"{NS.SOAP12}/role/ultimateReceiver"
_OUR_ROLES = frozenset({"", ROLE_NEXT, ROLE_ULTIMATE_RECEIVER})

WSA_ACTION_NOT_SUPPORTED = (NS.WSA, "ActionNotSupported")
WSA_HEADER_REQUIRED = (NS.WSA, "MessageAddressingHeaderRequired")
WSA_INVALID_HEADER = (NS.WSA, "InvalidAddressingHeader")


@dataclass(frozen=True)
class Addressing:
    """WS-Addressing message information headers of a request."""

    action: str
    message_id: str | None = None
    to: str | None = None
    reply_to: str | None = None
    from_address: str | None = None


@dataclass(frozen=True)
class SoapRequest:
    addressing: Addressing
    body: etree._Element  # the single child of soap:Body
    header: etree._Element | None  # soap:Header, for the WS-Security reader
    envelope: etree._Element


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return (el.text or "").strip()


def _single(header: etree._Element | None, tag: str) -> etree._Element | None:
    if header is None:
        return None
    found = header.findall(tag)
    if len(found) > 1:
        name = tag.split("}")[1]
        raise SoapFault(FaultCode.SENDER, f"wsa:{name} appears {len(found)} times", WSA_INVALID_HEADER)
    return found[0] if found else None


def check_must_understand(header: etree._Element | None, understood: frozenset[str] = UNDERSTOOD) -> None:
    """SOAP 1.2 Part 1 §5.2.3: a header block targeted at this node, marked mustUnderstand, from a
    namespace not in `understood` gets a MustUnderstand fault before anything is processed."""
    if header is None:
        return
    for block in header:
        if not isinstance(block.tag, str):
            continue
        if block.get(f"{_ENV}mustUnderstand", "").strip().lower() not in _TRUE:
            continue
        if block.get(f"{_ENV}role", "").strip() not in _OUR_ROLES:
            continue
        if etree.QName(block).namespace not in understood:
            raise SoapFault(
                FaultCode.MUST_UNDERSTAND, f"header {block.tag} is marked mustUnderstand and is not understood"
            )


def read_envelope(root: etree._Element, understood: frozenset[str] = UNDERSTOOD) -> SoapRequest:
    """Check a parsed SOAP 1.2 envelope and pull out its addressing headers and body element.

    `understood`: namespaces of the header blocks the caller processes (see `check_must_understand`).
    """
    if root.tag == f"{{{SOAP11_NS}}}Envelope":
        raise SoapFault(FaultCode.VERSION_MISMATCH, "SOAP 1.1 envelope received; XDS.b requires SOAP 1.2")
    if root.tag != f"{_ENV}Envelope":
        raise SoapFault(FaultCode.SENDER, f"root element is {root.tag}, not a SOAP 1.2 Envelope")

    header = root.find(f"{_ENV}Header")
    body = root.find(f"{_ENV}Body")
    if body is None:
        raise SoapFault(FaultCode.SENDER, "SOAP envelope has no Body")
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFault(FaultCode.SENDER, f"SOAP Body must hold exactly one element, found {len(children)}")

    check_must_understand(header, understood)

    action_el = _single(header, f"{_WSA}Action")
    action = _text(action_el)
    if not action:
        raise SoapFault(FaultCode.SENDER, "the wsa:Action header is missing", WSA_HEADER_REQUIRED)
    reply_to_el = _single(header, f"{_WSA}ReplyTo")
    from_el = _single(header, f"{_WSA}From")
    addressing = Addressing(
        action=action,
        message_id=_text(_single(header, f"{_WSA}MessageID")),
        to=_text(_single(header, f"{_WSA}To")),
        reply_to=_text(reply_to_el.find(f"{_WSA}Address")) if reply_to_el is not None else None,
        from_address=_text(from_el.find(f"{_WSA}Address")) if from_el is not None else None,
    )
    return SoapRequest(addressing=addressing, body=children[0], header=header, envelope=root)


def _envelope(action: str, relates_to: str | None) -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{_ENV}Envelope", nsmap={"soap": NS.SOAP12, "wsa": NS.WSA})
    header = etree.SubElement(env, f"{_ENV}Header")
    act = etree.SubElement(header, f"{_WSA}Action")
    act.set(f"{_ENV}mustUnderstand", "true")
    act.text = action
    etree.SubElement(header, f"{_WSA}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    if relates_to:
        etree.SubElement(header, f"{_WSA}RelatesTo").text = relates_to
    body = etree.SubElement(env, f"{_ENV}Body")
    return env, body


def response_envelope(body_element: etree._Element, action: str, relates_to: str | None) -> etree._Element:
    env, body = _envelope(action, relates_to)
    body.append(body_element)
    return env


def write_response(body: etree._Element | bytes, action: str, relates_to: str | None) -> bytes:
    """Serialize a response envelope (UTF-8, with XML declaration)."""
    return b"".join(response_parts(body, action, relates_to))


def response_parts(body: etree._Element | bytes, action: str, relates_to: str | None) -> list[bytes]:
    """The response envelope as pieces to send one after the other (their concatenation is the envelope).

    `body` may be already-serialized UTF-8 XML (one element, no declaration): large query responses are
    assembled as text from stored fragments, and are sent between the envelope's head and tail rather
    than parsed again or copied into one buffer (two copies of a 500 KiB answer cost more than its SQL).
    """
    if isinstance(body, etree._Element):
        env = response_envelope(body, action, relates_to)
        return [bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))]
    env, _ = _envelope(action, relates_to)
    head = bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))
    empty = b"<soap:Body/></soap:Envelope>"
    assert head.endswith(empty)
    return [head[: -len(empty)] + b"<soap:Body>", body, b"</soap:Body></soap:Envelope>"]


def fault_envelope(fault: SoapFault, relates_to: str | None = None) -> etree._Element:
    env, body = _envelope(Action.SOAP_FAULT.value, relates_to)
    f = etree.SubElement(body, f"{_ENV}Fault")
    code = etree.SubElement(f, f"{_ENV}Code")
    etree.SubElement(code, f"{_ENV}Value").text = f"soap:{fault.code.value}"
    if fault.subcode:
        ns, local = fault.subcode
        sub = etree.SubElement(code, f"{_ENV}Subcode")
        value = etree.SubElement(sub, f"{_ENV}Value", nsmap={"sc": ns})
        value.text = f"sc:{local}"
    reason = etree.SubElement(f, f"{_ENV}Reason")
    text = etree.SubElement(reason, f"{_ENV}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = fault.reason
    return env


def write_fault(fault: SoapFault, relates_to: str | None = None) -> bytes:
    return bytes(etree.tostring(fault_envelope(fault, relates_to), xml_declaration=True, encoding="UTF-8"))


@dataclass(frozen=True)
class ParsedFault:
    code: str
    subcode: str | None
    reason: str


def read_fault(root: etree._Element) -> ParsedFault | None:
    """Return the fault carried by a response envelope, or None (used by clients and the test kit)."""
    fault = root.find(f"{_ENV}Body/{_ENV}Fault")
    if fault is None:
        return None
    code = fault.findtext(f"{_ENV}Code/{_ENV}Value", "").strip()
    sub = fault.findtext(f"{_ENV}Code/{_ENV}Subcode/{_ENV}Value")
    reason = fault.findtext(f"{_ENV}Reason/{_ENV}Text", "").strip()
    return ParsedFault(code=code, subcode=sub.strip() if sub else None, reason=reason)


def request_envelope(body_element: etree._Element, action: str, to: str | None = None) -> etree._Element:
    """Build a request envelope with the WS-Addressing headers ITI TF-2x V asks a client to send."""
    env = etree.Element(f"{_ENV}Envelope", nsmap={"soap": NS.SOAP12, "wsa": NS.WSA})
    header = etree.SubElement(env, f"{_ENV}Header")
    act = etree.SubElement(header, f"{_WSA}Action")
    act.set(f"{_ENV}mustUnderstand", "true")
    act.text = action
    etree.SubElement(header, f"{_WSA}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    reply = etree.SubElement(header, f"{_WSA}ReplyTo")
    etree.SubElement(reply, f"{_WSA}Address").text = "http://www.w3.org/2005/08/addressing/anonymous"
    if to:
        t = etree.SubElement(header, f"{_WSA}To")
        t.set(f"{_ENV}mustUnderstand", "true")
        t.text = to
    body = etree.SubElement(env, f"{_ENV}Body")
    body.append(body_element)
    return env
