"""Reading a French CDA R2 header (HL7 CDA R2; CI-SIS Volet Structuration Minimale) and writing what it says
as HL7 v2 data types for XDS metadata (ITI TF-3 4.2.3.1.7: XCN, XON, CX; 4.2.3.2.23 sourcePatientInfo).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from lxml import etree

from xdscore.cda import tables as t

HL7 = "urn:hl7-org:v3"
XSL = "http://www.w3.org/1999/XSL/Transform"
NSMAP = {"hl7": HL7}
_H = f"{{{HL7}}}"
CLINICAL_DOCUMENT = f"{_H}ClinicalDocument"


class NotACda(ValueError):
    """The XML holds no HL7 CDA R2 ClinicalDocument."""


@dataclass(frozen=True)
class CdaDocument:
    """A parsed CDA: its ClinicalDocument element and whether it came wrapped in a stylesheet."""

    root: etree._Element  # the hl7:ClinicalDocument
    self_presenting: bool  # the file is an xsl:stylesheet embedding the document (CI-SIS "autoprésentable")


def locate(root: etree._Element) -> CdaDocument:
    """The ClinicalDocument of a parsed file: the root itself, or the one a self-presenting stylesheet holds."""
    if root.tag == CLINICAL_DOCUMENT:
        return CdaDocument(root, False)
    if root.tag == f"{{{XSL}}}stylesheet":
        found = next(root.iter(CLINICAL_DOCUMENT), None)
        if found is not None:
            return CdaDocument(found, True)
    raise NotACda(f"the root element is {etree.QName(root).localname}, not an HL7 CDA ClinicalDocument")


def find(el: etree._Element, path: str) -> etree._Element | None:
    """First element at `path` (hl7: prefixed) below `el`."""
    found = el.find(path, NSMAP)
    return found


def findall(el: etree._Element, path: str) -> list[etree._Element]:
    return list(el.iterfind(path, NSMAP))


def first(*elements: etree._Element | None) -> etree._Element | None:
    """The first element that exists (an lxml element without children is falsy, so `or` cannot be used)."""
    return next((e for e in elements if e is not None), None)


def attr(el: etree._Element | None, name: str) -> str | None:
    if el is None:
        return None
    value = el.get(name)
    return value.strip() if value is not None and value.strip() else None


def text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    value = " ".join("".join(el.itertext()).split())
    return value or None


def xpath_of(el: etree._Element) -> str:
    """An absolute XPath with `hl7:` names and positions, as a schematron report writes it."""
    steps: list[str] = []
    node: etree._Element | None = el
    while node is not None and isinstance(node.tag, str):
        q = etree.QName(node)
        name = f"hl7:{q.localname}" if q.namespace == HL7 else q.localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


# --- times ---------------------------------------------------------------------------------------

_TS = re.compile(r"^(\d{4,14})(?:\.\d+)?([+-]\d{4})?$")


def dtm(ts: str | None) -> str | None:
    """An HL7 v3 TS (YYYYMMDDhhmmss[.f][+-ZZZZ]) as an XDS DTM: UTC when the value has a zone and a time,
    otherwise as written (a date has no zone to apply); None when it is not a TS."""
    if not ts:
        return None
    m = _TS.match(ts.strip())
    if not m:
        return None
    digits, zone = m.group(1), m.group(2)
    if len(digits) % 2:
        return None
    if zone is None or len(digits) < 12:
        return digits
    fmt = "%Y%m%d%H%M%S"[: {12: 10, 14: 12}[len(digits)]]
    local = dt.datetime.strptime(digits, fmt)
    sign = 1 if zone[0] == "+" else -1
    offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
    return (local - offset).strftime(fmt)


# --- HL7 v2 data types ---------------------------------------------------------------------------

_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def escape(value: str | None) -> str:
    """HL7 v2 escaping of a component value (v2.5 §2.7)."""
    return "".join(_ESCAPES.get(c, c) for c in value or "")


def hd(oid: str) -> str:
    """A universal-id-only HD as a sub-component sequence (`&OID&ISO`)."""
    return f"&{oid}&ISO"


def cx(extension: str, root: str, type_code: str | None = None) -> str:
    """A CX: `id^^^&root&ISO[^type]`."""
    return f"{escape(extension)}^^^{hd(root)}" + (f"^{type_code}" if type_code else "")


@dataclass(frozen=True)
class Name:
    family: str | None
    given: str | None
    prefix: str | None = None


def person_name(person: etree._Element | None) -> Name:
    """The first name of a CDA person: family and first given name (birth ones first when qualified)."""
    name = find(person, "hl7:name") if person is not None else None
    if name is None:
        return Name(None, None)
    family = first(find(name, "hl7:family[@qualifier='BR']"), find(name, "hl7:family"))
    given = first(find(name, "hl7:given[@qualifier='BR']"), find(name, "hl7:given"))
    return Name(text(family), text(given), text(find(name, "hl7:prefix")))


def identifier_type(root: str | None, device: bool) -> tuple[str, str]:
    """(XCN.10 name type, XCN.13 identifier type) of an author id (PDSM4DMP ActorPS/ActorSystem/ActorPatient)."""
    if root == t.IDNAT_PS:
        return ("U", "RI") if device else ("D", "IDNPS")
    if root in t.INS_AUTHORITIES:
        return ("D", "NH")
    return ("D", "EI")


def xcn(ident: etree._Element | None, name: Name, device: bool = False) -> str | None:
    """XCN of a person (or device) with an id: `id^family^given^^^prefix^^^&root&ISO^D^^^IDNPS`."""
    ext, root = attr(ident, "extension"), attr(ident, "root")
    if not ext or not root:
        return None
    name_type, id_type = identifier_type(root, device)
    parts = [escape(ext), escape(name.family), escape(name.given), "", "", escape(name.prefix), "", "", hd(root),
             name_type, "", "", id_type]
    return "^".join(parts)


def xon(org: etree._Element | None) -> str | None:
    """XON of an organisation: `name^^^^^&root&ISO^IDNST^^^id` (structure national id, or the structure's own)."""
    if org is None:
        return None
    ident = find(org, "hl7:id")
    name = text(find(org, "hl7:name"))
    ext, root = attr(ident, "extension"), attr(ident, "root")
    if ext and root:
        id_type = "IDNST" if root == t.IDNAT_STRUCT else "RI"
        return f"{escape(name)}^^^^^{hd(root)}^{id_type}^^^{escape(ext)}"
    return escape(name) or None


def coded(el: etree._Element | None) -> tuple[str, str, str] | None:
    """(code, codeSystem, displayName) of a CD element, None without code or system."""
    code, system = attr(el, "code"), attr(el, "codeSystem")
    if not code or not system:
        return None
    return code, system, attr(el, "displayName") or ""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (or missing from) a CDA header: the rule, where (an XPath), and what."""

    rule: str
    xpath: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule} at {self.xpath}: {self.message}"
