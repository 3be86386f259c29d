"""A bounded look at a SOAP 1.2 envelope's Header before its Body is read (SOAP 1.2 Part 1 §5; WSS 1.1;
ITI TF-2b 3.40 XUA).

A service that verifies assertions must not parse a large Body only to refuse a missing or forged one: an
anonymous 60 MB envelope once cost 4 s and 1.4 GB before it was refused (issue 18). `HeaderGate` is fed
the envelope's bytes as they arrive and parses them incrementally (lxml pull parser, in slices, no DTD,
no entities, no network, no ID collection); at the start of soap:Body it stops with a verdict and the
complete soap:Header element (`header`, None when there is none): `ANONYMOUS` (no wsse:Security header
block) or `SECURED` (one or more: the caller verifies them now, `xdsservice.early_security`). The tree
the Header belongs to is the partial envelope, so exclusive c14n of an assertion sees the same in-scope
namespaces as in the whole message.

What the full decoder would refuse is refused here, with the same fault, without reading further: a root
that is not a SOAP 1.2 Envelope (`VersionMismatch` for SOAP 1.1), a DTD, an entity reference in the
Header, XML that is not well-formed before the Body. More than `max_header_bytes` before the Body is a
Sender fault. No I/O.
"""

from __future__ import annotations

from enum import Enum

from lxml import etree

from xdscore import names
from xdscore.errors import FaultCode, SoapFault
from xdscore.soap import VersionMismatch
from xdscore.vocabulary import NS

DEFAULT_MAX_HEADER_BYTES = 1024 * 1024  # a VIHF assertion is a few KB; headers with several are well below
# Bytes parsed at a time: past the Body start the gate parses at most this much more. Small, because the
# pull parser's events cost about 20 µs per KB: a 16 KB slice made the gate 3x the cost of parsing a whole
# 8 KB ITI-42 envelope (168 µs against 53 µs); at 1 KB it is 21 µs.
SLICE = 1024
WHAT = "SOAP envelope"  # as the full decoder names it in its faults (xdscore.xmlsafe)

_ENVELOPE = f"{{{NS.SOAP12}}}Envelope"
_HEADER = f"{{{NS.SOAP12}}}Header"
_BODY = f"{{{NS.SOAP12}}}Body"
_SECURITY = f"{{{NS.WSSE}}}Security"
_MESSAGE_ID = f"{{{NS.WSA}}}MessageID"


class Verdict(Enum):
    NEED_DATA = "need data"
    ANONYMOUS = "anonymous"  # the Body started; no wsse:Security header block
    SECURED = "secured"  # the Body started; wsse:Security header block(s) to verify


class HeaderGate:
    def __init__(self, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self.max_header_bytes = max_header_bytes
        self._parser = etree.XMLPullParser(
            events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
            collect_ids=False,
        )
        self._seen = 0
        self.header: etree._Element | None = None
        self.verdict = Verdict.NEED_DATA

    @property
    def message_id(self) -> str | None:
        """wsa:MessageID of the Header, once the Body started (for the RelatesTo of an early fault)."""
        found = self.header.find(_MESSAGE_ID) if self.header is not None else None
        if found is None:
            return None
        return (found.text or "").strip() or None

    def feed(self, data: bytes) -> Verdict:
        """The verdict once the Body starts; NEED_DATA before. Raises the decoder's SoapFault for what it
        would refuse anyway."""
        if names.has_doctype(data):  # refused before libxml2 interns the names of its internal subset
            raise SoapFault(FaultCode.SENDER, f"{WHAT} carries a DTD, which is not allowed")
        for start in range(0, len(data), SLICE):
            if self.verdict is not Verdict.NEED_DATA:
                break
            piece = data[start : start + SLICE]
            self._seen += len(piece)
            self._feed(piece)
            if self.verdict is Verdict.NEED_DATA and self._seen > self.max_header_bytes:
                raise SoapFault(FaultCode.SENDER, f"the SOAP envelope holds more than {self.max_header_bytes} "
                                                  "bytes before its Body")
        return self.verdict

    def _feed(self, piece: bytes) -> None:
        try:
            self._parser.feed(piece)
        except etree.XMLSyntaxError as exc:
            self._read_events()  # the Body may have started before the error (a Body error is the decoder's)
            if self.verdict is Verdict.NEED_DATA:
                raise SoapFault(FaultCode.SENDER, f"{WHAT} is not well-formed XML: {exc}") from None
            return
        self._read_events()

    def _read_events(self) -> None:
        for event, element in self._parser.read_events():
            if self._decide(event, element):
                return

    def _decide(self, event: str, element: etree._Element) -> bool:
        parent = element.getparent()
        if parent is None:
            if event == "start":
                _check_root(element)
            return False
        if parent.tag != _ENVELOPE or parent.getparent() is not None:
            return False
        if event == "end" and element.tag == _HEADER:
            self.header = element
        elif event == "start" and element.tag == _BODY:
            if self.header is not None and any(isinstance(n, etree._Entity) for n in self.header.iter(etree.Entity)):
                raise SoapFault(FaultCode.SENDER, f"{WHAT} uses entity references, which are not allowed")
            secured = self.header is not None and any(c.tag == _SECURITY for c in self.header)
            self.verdict = Verdict.SECURED if secured else Verdict.ANONYMOUS
            return True
        return False


def _check_root(root: etree._Element) -> None:
    """The full decoder's refusals of the root (xdscore.soap.read_envelope, xdscore.xmlsafe), made early."""
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SoapFault(FaultCode.SENDER, f"{WHAT} carries a DTD, which is not allowed")
    # root.tag is "prefix:Envelope" when the prefix is undeclared (recovered events): no QName of it
    namespace, _, localname = root.tag[1:].rpartition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if localname == "Envelope" and root.tag != _ENVELOPE:
        raise VersionMismatch(namespace or None)
    if root.tag != _ENVELOPE:
        raise SoapFault(FaultCode.SENDER, f"root element is {root.tag}, not a SOAP 1.2 Envelope")
