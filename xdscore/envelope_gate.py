"""A bounded look at a SOAP 1.2 envelope's Header before its Body is read (SOAP 1.2 Part 1 §5; WSS 1.1;
ITI TF-2b 3.40 XUA).

A service that requires a signed assertion must not parse a large Body only to find there is none: an
anonymous 60 MB envelope once cost 4 s and 1.4 GB before it was refused (issue 18). `HeaderGate` is fed
the body's bytes as they arrive, parses them incrementally (lxml pull parser, no DTD, no entities, no
network) and stops at the start of soap:Body with a verdict: `ANONYMOUS` (no wsse:Security holding a
saml2:Assertion), `ASSERTED` (one is there: the full verification happens later, on the whole envelope,
as it always does), or `UNKNOWN` (the bytes are not a plain envelope the gate can read: the full decoder
decides, with its own faults). Bytes before the Body beyond `max_header_bytes` are refused. No I/O.
"""

from __future__ import annotations

from enum import Enum

from lxml import etree

from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS

DEFAULT_MAX_HEADER_BYTES = 1024 * 1024  # a VIHF assertion is a few KB; headers with several are well below

_ENVELOPE = f"{{{NS.SOAP12}}}Envelope"
_HEADER = f"{{{NS.SOAP12}}}Header"
_BODY = f"{{{NS.SOAP12}}}Body"
_SECURITY = f"{{{NS.WSSE}}}Security"
_ASSERTION = f"{{{NS.SAML2}}}Assertion"


class Verdict(Enum):
    NEED_DATA = "need data"
    ANONYMOUS = "anonymous"
    ASSERTED = "asserted"
    UNKNOWN = "unknown"


class HeaderGate:
    def __init__(self, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self.max_header_bytes = max_header_bytes
        self._parser = etree.XMLPullParser(
            events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        self._seen = 0
        self._asserted = False
        self.verdict = Verdict.NEED_DATA

    def feed(self, data: bytes) -> Verdict:
        """The verdict once the Body starts (or the gate gives up); NEED_DATA before."""
        if self.verdict is not Verdict.NEED_DATA:
            return self.verdict
        self._seen += len(data)
        try:
            self._parser.feed(data)
            for event, element in self._parser.read_events():
                if self._decide(event, element):
                    return self.verdict
        except etree.XMLSyntaxError:
            self.verdict = Verdict.UNKNOWN  # the full decoder refuses it with its own fault
            return self.verdict
        if self._seen > self.max_header_bytes:
            raise SoapFault(FaultCode.SENDER, f"the SOAP envelope holds more than {self.max_header_bytes} bytes "
                                              "before its Body")
        return self.verdict

    def _decide(self, event: str, element: etree._Element) -> bool:
        tag = element.tag
        if event == "start" and element.getparent() is None:
            if tag != _ENVELOPE:
                self.verdict = Verdict.UNKNOWN  # SOAP 1.1, or not SOAP: not the gate's to judge
                return True
        elif event == "end" and tag == _HEADER:
            for security in element.iterchildren(_SECURITY):
                if any(child.tag == _ASSERTION for child in security):
                    self._asserted = True
        elif event == "start" and tag == _BODY:
            self.verdict = Verdict.ASSERTED if self._asserted else Verdict.ANONYMOUS
            return True
        return False
