"""wsse:Security header (WSS 1.1 §5, §10) carrying an assertion and a wsu:Timestamp, and helpers to put
it into a SOAP 1.2 request envelope (the way a DMP-compatible client sends its VIHF).
"""

from __future__ import annotations

import datetime as dt
import uuid

from lxml import etree

from xdscore import soap
from xdscore.vocabulary import NS

_WSSE = f"{{{NS.WSSE}}}"
_WSU = f"{{{NS.WSU}}}"
_ENV = f"{{{NS.SOAP12}}}"


def _instant(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def security_header(
    assertion: etree._Element | None,
    timestamp: tuple[dt.datetime, dt.datetime] | None = None,
    must_understand: bool = True,
) -> etree._Element:
    """A wsse:Security element holding an optional Timestamp (Created, Expires) then the assertion."""
    sec = etree.Element(f"{_WSSE}Security", nsmap={"wsse": NS.WSSE, "wsu": NS.WSU, "soap": NS.SOAP12})
    if must_understand:
        sec.set(f"{_ENV}mustUnderstand", "true")
    if timestamp is not None:
        ts = etree.SubElement(sec, f"{_WSU}Timestamp")
        ts.set(f"{_WSU}Id", f"TS-{uuid.uuid4()}")
        etree.SubElement(ts, f"{_WSU}Created").text = _instant(timestamp[0])
        etree.SubElement(ts, f"{_WSU}Expires").text = _instant(timestamp[1])
    if assertion is not None:
        sec.append(assertion)
    return sec


def timestamp_for(now: dt.datetime | None = None, ttl: dt.timedelta = dt.timedelta(minutes=5)) -> tuple[dt.datetime, dt.datetime]:
    now = now or dt.datetime.now(dt.UTC)
    return now, now + ttl


def add_security(envelope: etree._Element, security: etree._Element) -> etree._Element:
    """Insert `security` as the first block of the envelope's soap:Header (created when absent)."""
    header = envelope.find(f"{_ENV}Header")
    if header is None:
        header = etree.Element(f"{_ENV}Header")
        envelope.insert(0, header)
    header.insert(0, security)
    return envelope


def request(body: etree._Element, action: str, security: etree._Element | None, to: str | None = None) -> bytes:
    """A complete SOAP 1.2 request (WS-Addressing headers + optional wsse:Security) as bytes."""
    env = soap.request_envelope(body, action, to)
    if security is not None:
        add_security(env, security)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def add_security_to_bytes(envelope_bytes: bytes, security: etree._Element) -> bytes:
    """Add a Security header to an envelope built elsewhere (e.g. a conformance-kit request)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    env = etree.fromstring(envelope_bytes, parser)
    add_security(env, security)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))
