"""SOAP 1.2 envelope and WS-Addressing codec (SOAP 1.2 Part 1; WS-Addressing 1.0 SOAP Binding; ITI TF-2x V).

`read_envelope` turns a parsed envelope into a `SoapRequest` (addressing headers, the security header
and the single body element) or raises a `SoapFault`. `write_response` (or `response_parts`, the same
bytes in pieces) and `write_fault` produce the reply envelope with wsa:Action and wsa:RelatesTo. No I/O.

Envelope structure (SOAP 1.2 Part 1 §5.1-5.3): an optional Header then one Body, nothing else, no
encodingStyle on them, namespace-qualified header blocks, no processing instruction in
the message (§5: a receiver SHOULD answer env:Sender). Anything else is a `soap:Sender` fault naming what
is wrong. An Envelope of another SOAP version is a `VersionMismatch`: SOAP 1.2 Part 1 §5.4.7 and Appendix A
have a SOAP 1.2 node answer a SOAP 1.1 message with a SOAP 1.1 fault (text/xml, faultcode
VersionMismatch) carrying the `Upgrade` header block that names the envelope it supports.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS, Action

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_CONTENT_TYPE = "application/soap+xml"
SOAP11_CONTENT_TYPE = "text/xml"

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


class VersionMismatch(SoapFault):
    """The Envelope is not SOAP 1.2's; `soap11` when it is SOAP 1.1's (answered in a SOAP 1.1 envelope)."""

    def __init__(self, namespace: str | None) -> None:
        self.soap11 = namespace == SOAP11_NS
        what = "a SOAP 1.1 envelope" if self.soap11 else f"an Envelope in namespace {namespace or '(none)'}"
        super().__init__(FaultCode.VERSION_MISMATCH, f"{what} received; XDS.b requires SOAP 1.2 ({NS.SOAP12})")


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


def _sender(reason: str) -> SoapFault:
    return SoapFault(FaultCode.SENDER, f"malformed SOAP 1.2 envelope (SOAP 1.2 Part 1 §5): {reason}")


def _text_only_whitespace(el: etree._Element) -> bool:
    texts = [el.text] + [c.tail for c in el]
    return all(t is None or not t.strip() for t in texts)


_PROCESSING_INSTRUCTIONS = etree.XPath("//processing-instruction()")


def _structure(root: etree._Element) -> tuple[etree._Element | None, etree._Element]:
    """The Header (or None) and the Body of an Envelope that has exactly the SOAP 1.2 structure."""
    header: etree._Element | None = None
    body: etree._Element | None = None
    for child in root:
        if not isinstance(child.tag, str):
            if isinstance(child, etree._ProcessingInstruction):
                raise _sender("a processing instruction in the Envelope")
            continue  # comments are allowed
        if child.tag == f"{_ENV}Header":
            if body is not None:
                raise _sender("the Header comes after the Body")
            if header is not None:
                raise _sender("two Header elements")
            header = child
        elif child.tag == f"{_ENV}Body":
            if body is not None:
                raise _sender("two Body elements")
            body = child
        else:
            raise _sender(f"{child.tag} in the Envelope (only an optional Header and one Body may be there)")
    if body is None:
        raise _sender("no Body")
    if not _text_only_whitespace(root):
        raise _sender("character data in the Envelope")
    for el in (root, header, body):
        if el is not None and el.get(f"{_ENV}encodingStyle") is not None:
            raise _sender(f"env:encodingStyle on {etree.QName(el).localname}")
    for part in (header, body):
        if part is not None and not _text_only_whitespace(part):
            raise _sender(f"character data in the {etree.QName(part).localname}")
    # §5.2.1: header blocks MUST be namespace-qualified (Body children only SHOULD: the handlers judge them).
    for block in header if header is not None else ():
        if isinstance(block.tag, str) and not etree.QName(block).namespace:
            raise _sender(f"Header block {block.tag} is not namespace-qualified")
    # XPath rather than root.iter(): the same walk in C, without holding the GIL on a large envelope.
    for pi in _PROCESSING_INSTRUCTIONS(root):
        raise _sender(f"a processing instruction <?{pi.target}?> in the message")
    return header, body


def read_envelope(root: etree._Element, understood: frozenset[str] = UNDERSTOOD) -> SoapRequest:
    """Check a parsed SOAP 1.2 envelope and pull out its addressing headers and body element.

    `understood`: namespaces of the header blocks the caller processes (see `check_must_understand`).
    """
    if etree.QName(root).localname == "Envelope" and root.tag != f"{_ENV}Envelope":
        raise VersionMismatch(etree.QName(root).namespace)
    if root.tag != f"{_ENV}Envelope":
        raise SoapFault(FaultCode.SENDER, f"root element is {root.tag}, not a SOAP 1.2 Envelope")

    header, body = _structure(root)
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


UPGRADE = f"{_ENV}Upgrade"


def _upgrade(header: etree._Element) -> None:
    """SOAP 1.2 Part 1 §5.4.7.2: the Upgrade header block names the envelope this node supports."""
    upgrade = etree.SubElement(header, UPGRADE, nsmap={"upg": NS.SOAP12})
    supported = etree.SubElement(upgrade, f"{_ENV}SupportedEnvelope", nsmap={"ns1": NS.SOAP12})
    supported.set("qname", "ns1:Envelope")


def fault_envelope(fault: SoapFault, relates_to: str | None = None) -> etree._Element:
    if isinstance(fault, VersionMismatch) and fault.soap11:
        return _soap11_fault_envelope(fault)
    env, body = _envelope(Action.SOAP_FAULT.value, relates_to)
    if fault.code is FaultCode.VERSION_MISMATCH:
        header = env.find(f"{_ENV}Header")
        assert header is not None
        _upgrade(header)
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


def _soap11_fault_envelope(fault: SoapFault) -> etree._Element:
    """SOAP 1.2 Part 1 Appendix A: the VersionMismatch answer to a SOAP 1.1 sender, in SOAP 1.1."""
    s11 = f"{{{SOAP11_NS}}}"
    env = etree.Element(f"{s11}Envelope", nsmap={"soap": SOAP11_NS})
    _upgrade(etree.SubElement(env, f"{s11}Header"))
    f = etree.SubElement(etree.SubElement(env, f"{s11}Body"), f"{s11}Fault")
    etree.SubElement(f, "faultcode").text = "soap:VersionMismatch"
    etree.SubElement(f, "faultstring").text = fault.reason
    return env


def write_fault(fault: SoapFault, relates_to: str | None = None) -> bytes:
    return bytes(etree.tostring(fault_envelope(fault, relates_to), xml_declaration=True, encoding="UTF-8"))


def fault_content_type(fault: SoapFault) -> str:
    """The media type of `write_fault(fault)`: SOAP 1.1's text/xml for the answer to a SOAP 1.1 message."""
    soap11 = isinstance(fault, VersionMismatch) and fault.soap11
    return f"{SOAP11_CONTENT_TYPE if soap11 else SOAP12_CONTENT_TYPE}; charset=utf-8"


@dataclass(frozen=True)
class ParsedFault:
    code: str
    subcode: str | None
    reason: str


def read_fault(root: etree._Element) -> ParsedFault | None:
    """Return the fault carried by a response envelope (SOAP 1.2, or SOAP 1.1's faultcode / faultstring),
    or None (used by clients and the test kit)."""
    fault = root.find(f"{_ENV}Body/{_ENV}Fault")
    if fault is None:
        old = root.find(f"{{{SOAP11_NS}}}Body/{{{SOAP11_NS}}}Fault")
        if old is None:
            return None
        return ParsedFault(code=old.findtext("faultcode", "").strip(), subcode=None,
                           reason=old.findtext("faultstring", "").strip())
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
