"""CI-SIS "structuration minimale" of a CDA R2 header (ANS TestContenuCDA, schematron
`profils/structurationMinimale`, template 1.2.250.1.213.1.1.1.1): one function per rule family, each problem
with the rule id and the XPath of the element at fault (or of the parent that lacks it).

`check(document)` runs them all in order. The document code must be in JDV_J07-XdsTypeCode-CISIS: pass
the value set's (codeSystem, code) pairs as `type_codes`; without it, the sources of ASS_X04 (the J07 codes
that have a class) stand in for it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from lxml import etree

from xdscore.cda import tables as t
from xdscore.cda.header import CdaDocument, Problem, attr, find, findall, xpath_of

HL7_FRANCE = "2.16.840.1.113883.2.8.2.1"
CI_SIS = "1.2.250.1.213.1.1.1.1"
CDA_TYPE_ID = ("2.16.840.1.113883.1.3", "POCD_HD000040")

# Header elements present exactly once (not nullFlavor) in a CI-SIS document.
EXACTLY_ONE = (
    "id", "code", "title", "effectiveTime", "confidentialityCode", "languageCode", "setId", "versionNumber",
    "recordTarget", "custodian", "componentOf", "component",
)

Rule = Callable[[etree._Element, Collection[tuple[str, str]]], Iterator[Problem]]


def _present(els: list[etree._Element]) -> list[etree._Element]:
    return [e for e in els if e.get("nullFlavor") is None]


def _count(cda: etree._Element, rule: str, els: list[etree._Element], what: str, low: int, high: int | None) -> Iterator[Problem]:
    if len(els) < low:
        yield Problem(rule, f"{xpath_of(cda)}/{what}", f"{what} is required ({low}..{high or '*'}), found {len(els)}")
    elif high is not None and len(els) > high:
        yield Problem(rule, xpath_of(els[high]), f"{what} appears {len(els)} times, at most {high} allowed")


def realm_and_type(cda: etree._Element, _: Collection[tuple[str, str]]) -> Iterator[Problem]:
    """SM-realmCode, SM-typeId: realmCode@code='FR' and the CDA R2 typeId, once each."""
    yield from _count(cda, "SM-realmCode", findall(cda, "hl7:realmCode[@code='FR']"), "hl7:realmCode[@code='FR']", 1, 1)
    type_ids = [e for e in findall(cda, "hl7:typeId") if (attr(e, "root"), attr(e, "extension")) == CDA_TYPE_ID]
    yield from _count(cda, "SM-typeId", type_ids, "hl7:typeId[@root='2.16.840.1.113883.1.3'][@extension='POCD_HD000040']", 1, 1)


def template_ids(cda: etree._Element, _: Collection[tuple[str, str]]) -> Iterator[Problem]:
    """SM-templateId: HL7 France and CI-SIS once each, plus the volet's; a level 1 body has exactly those
    two and 1.3.6.1.4.1.19376.1.2.20 (XDS-SD)."""
    templates = findall(cda, "hl7:templateId")
    roots = [attr(e, "root") for e in templates]
    for oid in (HL7_FRANCE, CI_SIS):
        yield from _count(cda, "SM-templateId", [e for e, r in zip(templates, roots, strict=True) if r == oid],
                          f"hl7:templateId[@root='{oid}']", 1, 1)
    others = [e for e, r in zip(templates, roots, strict=True) if r not in (HL7_FRANCE, CI_SIS)]
    yield from _count(cda, "SM-templateId", others, "hl7:templateId (of the document's volet)", 1, None)
    body = find(cda, "hl7:component/hl7:nonXMLBody")
    if body is not None and (t.XDS_SD_TEMPLATE not in roots or len(templates) != 3):
        yield Problem("SM-nonXMLBody", xpath_of(body),
                      f"a level 1 (non-structured) document has exactly the templateIds {HL7_FRANCE}, {CI_SIS} and "
                      f"{t.XDS_SD_TEMPLATE}; found {', '.join(r or '?' for r in roots)}")


def single_elements(cda: etree._Element, _: Collection[tuple[str, str]]) -> Iterator[Problem]:
    """SM-cardinality: the header elements present exactly once, author at least once, the legal
    authenticator (signatureCode S) once, at most one replaced document (RPLC)."""
    for name in EXACTLY_ONE:
        path = "hl7:componentOf[hl7:encompassingEncounter]" if name == "componentOf" else f"hl7:{name}"
        els = _present(findall(cda, "hl7:componentOf")) if name == "componentOf" else _present(findall(cda, f"hl7:{name}"))
        if name == "componentOf":
            els = [e for e in els if find(e, "hl7:encompassingEncounter") is not None]
        yield from _count(cda, "SM-cardinality", els, path, 1, 1)
    authors = [a for a in _present(findall(cda, "hl7:author")) if find(a, "hl7:assignedAuthor") is not None]
    yield from _count(cda, "SM-cardinality", authors, "hl7:author[hl7:assignedAuthor]", 1, None)
    legal = [e for e in findall(cda, "hl7:legalAuthenticator") if attr(find(e, "hl7:signatureCode"), "code") == "S"]
    yield from _count(cda, "SM-cardinality", legal, "hl7:legalAuthenticator[hl7:signatureCode[@code='S']]", 1, 1)
    replaced = [e for e in findall(cda, "hl7:relatedDocument[@typeCode='RPLC']") if find(e, "hl7:parentDocument") is not None]
    yield from _count(cda, "SM-cardinality", replaced, "hl7:relatedDocument[@typeCode='RPLC']", 0, 1)


def service_event(cda: etree._Element, _: Collection[tuple[str, str]]) -> Iterator[Problem]:
    """SM-serviceEvent: at least one documentationOf/serviceEvent; the first (the main act) has exactly one
    performer and one effectiveTime."""
    events = [d for d in _present(findall(cda, "hl7:documentationOf")) if find(d, "hl7:serviceEvent") is not None]
    yield from _count(cda, "SM-serviceEvent", events, "hl7:documentationOf[hl7:serviceEvent]", 1, None)
    if events:
        main = find(events[0], "hl7:serviceEvent")
        assert main is not None
        yield from _count(main, "SM-serviceEvent", findall(main, "hl7:performer"), "hl7:performer", 1, 1)
        yield from _count(main, "SM-serviceEvent", findall(main, "hl7:effectiveTime"), "hl7:effectiveTime", 1, 1)


def document_code(cda: etree._Element, type_codes: Collection[tuple[str, str]]) -> Iterator[Problem]:
    """SM-code: the document's code is in JDV_J07-XdsTypeCode-CISIS."""
    code = find(cda, "hl7:code")
    if code is None or code.get("nullFlavor") is not None:
        return  # reported by SM-cardinality
    pair = (attr(code, "codeSystem") or "", attr(code, "code") or "")
    if pair not in type_codes:
        yield Problem("SM-code", xpath_of(code),
                      f"code {pair[1]} of code system {pair[0]} is not in JDV_J07-XdsTypeCode-CISIS (1.2.250.1.213.1.1.5.471)")


# (rule detail, path below recordTarget/patientRole/patient) of the INS identity traits.
INS_TRAITS = (
    ("birth family name (family@qualifier='BR')", "hl7:name/hl7:family[@qualifier='BR']"),
    ("first birth given name (given@qualifier='BR')", "hl7:name/hl7:given[@qualifier='BR']"),
    ("birth given names (given without qualifier)", None),
    ("birth date (birthTime)", "hl7:birthTime"),
    ("birth place INSEE code (birthplace/place/addr/county)", "hl7:birthplace/hl7:place/hl7:addr/hl7:county"),
    ("sex (administrativeGenderCode@code)", "hl7:administrativeGenderCode[@code]"),
)


def ins_traits(cda: etree._Element, _: Collection[tuple[str, str]]) -> Iterator[Problem]:
    """SM-INS: a patient identified by an INS (NIR, NIA, test or demo) carries the INS identity traits."""
    role = find(cda, "hl7:recordTarget/hl7:patientRole")
    if role is None or not any(attr(i, "root") in t.INS_AUTHORITIES for i in findall(role, "hl7:id")):
        return
    patient = find(role, "hl7:patient")
    if patient is None:
        yield Problem("SM-INS", f"{xpath_of(role)}/hl7:patient", "the patient of an INS carries its identity traits; no patient")
        return
    for what, path in INS_TRAITS:
        if path is None:
            found = any(g.get("qualifier") is None for g in findall(patient, "hl7:name/hl7:given"))
        else:
            found = find(patient, path) is not None
        if not found:
            yield Problem("SM-INS", f"{xpath_of(patient)}/{path or 'hl7:name/hl7:given'}",
                          f"the INS identity traits are required: no {what}")


RULES: tuple[Rule, ...] = (realm_and_type, template_ids, single_elements, service_event, document_code, ins_traits)
DEFAULT_TYPE_CODES = frozenset(t.TYPE_TO_CLASS)


def check(document: CdaDocument, type_codes: Collection[tuple[str, str]] = DEFAULT_TYPE_CODES) -> list[Problem]:
    """Every structuration minimale problem of the document, in rule order."""
    return [p for rule in RULES for p in rule(document.root, type_codes)]
