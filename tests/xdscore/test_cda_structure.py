"""CI-SIS structuration minimale (xdscore.cda.structure): one valid document, one change, exactly the
expected rule at the expected XPath; every ANS example passes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from tests.xdscore.cda_samples import HL7, all_examples, changed, duplicate, remove, set_attr
from xdscore.cda.metadata import parse
from xdscore.cda.structure import check

LDL = "LDL-EES_2022.01.xml"
PDF = "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
DOC = "/hl7:ClinicalDocument"
PATIENT = f"{DOC}/hl7:recordTarget/hl7:patientRole/hl7:patient"


def _add_template(root: etree._Element) -> None:
    root.find("hl7:templateId[3]", HL7).addnext(etree.Element("{urn:hl7-org:v3}templateId", root="1.2.250.1.213.1.1.1.55"))


def _two_rplc(root: etree._Element) -> None:
    for _ in range(2):
        related = etree.SubElement(root, "{urn:hl7-org:v3}relatedDocument", typeCode="RPLC")
        etree.SubElement(etree.SubElement(related, "{urn:hl7-org:v3}parentDocument"), "{urn:hl7-org:v3}id", root="1.2.3")
        root.find("hl7:legalAuthenticator", HL7).addnext(related)


CASES: list[tuple[str, str, Callable[[etree._Element], None], str, str]] = [
    # (id, document, change, rule, xpath)
    ("no-realm", LDL, remove("hl7:realmCode"), "SM-realmCode", f"{DOC}/hl7:realmCode[@code='FR']"),
    ("realm-not-FR", LDL, set_attr("hl7:realmCode", "code", "BE"), "SM-realmCode", f"{DOC}/hl7:realmCode[@code='FR']"),
    ("no-typeId", LDL, set_attr("hl7:typeId", "extension", "POCD_HD000041"), "SM-typeId",
     f"{DOC}/hl7:typeId[@root='2.16.840.1.113883.1.3'][@extension='POCD_HD000040']"),
    ("CI-SIS-template-twice", LDL, duplicate("hl7:templateId[@root='1.2.250.1.213.1.1.1.1']"), "SM-templateId",
     f"{DOC}/hl7:templateId[3]"),
    ("no-HL7-France-template", LDL, remove("hl7:templateId[@root='2.16.840.1.113883.2.8.2.1']"), "SM-templateId",
     f"{DOC}/hl7:templateId[@root='2.16.840.1.113883.2.8.2.1']"),
    ("no-volet-template", LDL, remove("hl7:templateId[@root='1.2.250.1.213.1.1.1.21']"), "SM-templateId",
     f"{DOC}/hl7:templateId (of the document's volet)"),
    ("level-1-extra-template", PDF, _add_template, "SM-nonXMLBody", f"{DOC}/hl7:component/hl7:nonXMLBody"),
    ("no-title", LDL, remove("hl7:title"), "SM-cardinality", f"{DOC}/hl7:title"),
    ("two-setIds", LDL, duplicate("hl7:setId"), "SM-cardinality", f"{DOC}/hl7:setId[2]"),
    ("null-versionNumber", LDL, set_attr("hl7:versionNumber", "nullFlavor", "UNK"), "SM-cardinality", f"{DOC}/hl7:versionNumber"),
    ("no-custodian", LDL, remove("hl7:custodian"), "SM-cardinality", f"{DOC}/hl7:custodian"),
    ("no-encounter", LDL, remove("hl7:componentOf"), "SM-cardinality", f"{DOC}/hl7:componentOf[hl7:encompassingEncounter]"),
    ("no-author", LDL, remove("hl7:author"), "SM-cardinality", f"{DOC}/hl7:author[hl7:assignedAuthor]"),
    ("legal-not-signed", LDL, set_attr("hl7:legalAuthenticator/hl7:signatureCode", "code", "X"), "SM-cardinality",
     f"{DOC}/hl7:legalAuthenticator[hl7:signatureCode[@code='S']]"),
    ("two-replaced", LDL, _two_rplc, "SM-cardinality", f"{DOC}/hl7:relatedDocument[2]"),
    ("no-service-event", LDL, remove("hl7:documentationOf"), "SM-serviceEvent", f"{DOC}/hl7:documentationOf[hl7:serviceEvent]"),
    ("main-act-without-performer", LDL, remove("hl7:documentationOf/hl7:serviceEvent/hl7:performer"), "SM-serviceEvent",
     f"{DOC}/hl7:documentationOf/hl7:serviceEvent/hl7:performer"),
    ("code-not-in-J07", LDL, set_attr("hl7:code", "code", "00000-0"), "SM-code", f"{DOC}/hl7:code"),
    ("INS-without-birth-name", LDL, remove("hl7:recordTarget/hl7:patientRole/hl7:patient/hl7:name/hl7:family[@qualifier='BR']"),
     "SM-INS", f"{PATIENT}/hl7:name/hl7:family[@qualifier='BR']"),
    ("INS-without-birth-given-names", LDL,
     remove("hl7:recordTarget/hl7:patientRole/hl7:patient/hl7:name/hl7:given[not(@qualifier)]"),
     "SM-INS", f"{PATIENT}/hl7:name/hl7:given"),
    ("INS-without-birth-place", LDL, remove("hl7:recordTarget/hl7:patientRole/hl7:patient/hl7:birthplace"),
     "SM-INS", f"{PATIENT}/hl7:birthplace/hl7:place/hl7:addr/hl7:county"),
    ("INS-without-sex", LDL, remove("hl7:recordTarget/hl7:patientRole/hl7:patient/hl7:administrativeGenderCode"),
     "SM-INS", f"{PATIENT}/hl7:administrativeGenderCode[@code]"),
]


@pytest.mark.parametrize(("name", "change", "rule", "xpath"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_change_one_problem(name: str, change: Callable[[etree._Element], None], rule: str, xpath: str) -> None:
    problems = check(parse(changed(name, change)))
    assert [(p.rule, p.xpath) for p in problems] == [(rule, xpath)], [str(p) for p in problems]


def test_traits_are_not_required_without_an_ins() -> None:
    def no_ins(root: etree._Element) -> None:
        remove("hl7:recordTarget/hl7:patientRole/hl7:patient/hl7:birthplace")(root)
        set_attr("hl7:recordTarget/hl7:patientRole/hl7:id[@root='1.2.250.1.213.1.4.10']", "root", "1.2.3.4")(root)
    assert check(parse(changed(LDL, no_ins))) == []


def test_a_given_value_set_replaces_the_type_table() -> None:
    doc = parse(changed(LDL, lambda r: None))
    assert [p.rule for p in check(doc, type_codes={("2.16.840.1.113883.6.1", "11502-2")})] == ["SM-code"]


@pytest.mark.parametrize("path", all_examples(), ids=lambda p: p.name)
def test_every_example_passes(path: object) -> None:
    assert [str(p) for p in check(parse(path.read_bytes()))] == []  # type: ignore[attr-defined]
