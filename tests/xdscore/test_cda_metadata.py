"""CDA header -> XDS metadata (xdscore.cda.metadata): a table of representative documents with the
metadata expected from their headers, the patient-authored and self-presenting cases, times, notes, and
every ANS example deriving a submission that the IHE rules accept."""

from __future__ import annotations

import pytest
from lxml import etree

from harness.builders import iti41_profile
from tests.xdscore.cda_samples import HL7, all_examples, changed, example
from xdscore.cda import tables
from xdscore.cda.header import NotACda, dtm
from xdscore.cda.metadata import Options, derive, submission_objects
from xdscore.ebrim import submit_objects
from xdscore.model import Code
from xdscore.rules.validate import validate_submission

OPTIONS = Options(submission_set_unique_id="1.2.250.1.999.1.1.7898.1", source_id="1.2.250.1.999.1.1.7898",
                  submission_time="20240601120000")
ITI41 = iti41_profile()
LOINC, TEST_INS = tables.LOINC, "^^^&1.2.250.1.213.1.4.10&ISO^NH"
IPP = "1234567890121^^^&1.2.3.4.567.8.9.10&ISO^PI"
BIRTH_NAME = "PID-5|PAT-TROIS^DOMINIQUE^DOMINIQUE MARIE-LOUISE^^^^L~PAT-TROIS^DOMINIQUE^^^^^D"  # birth and used names

# file, then the expected (typeCode, classCode, formatCode, facility, practice setting, creationTime,
# serviceStartTime, serviceStopTime, legalAuthenticator, first sourcePatientInfo value)
TABLE = {
    "BIO-CR-BIO_2024.01_TSH_1.xml": (  # lab report, structured (XD-LAB)
        Code("11502-2", LOINC, "CR d'examens biologiques"), "10", ("urn:ihe:lab:xd-lab:2008", tables.TRE_A11),
        "SA25", "AMBULATOIRE", "20210401161000", "20210104082200", "20210104150500",
        "801234534765^CAMPARINI^Marcel^^^M^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS", BIRTH_NAME,
    ),
    "IMG_CR_IMG_2024.01.xml": (  # imaging report
        Code("18748-4", LOINC, "CR d’imagerie médicale"), "31",
        ("urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013", tables.TRE_A11),
        "SA08", "AMBULATOIRE", "20210108101700", "20210108092500", "20210108101700",
        "801234560801^BIDEAULT^Jacques^^^M^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS", BIRTH_NAME,
    ),
    "LDL-EES_2022.01.xml": (  # discharge/admission letter (CI-SIS volet, TRE_A06 formatCode), time +0100 -> UTC
        Code("18761-7", LOINC, "Note de transfert (dont lettre de liaison à l'entrée en établissement de soins)"), "11",
        ("urn:asip:ci-sis:ldl-ees:2017", tables.TRE_A06), "SA01", "ETABLISSEMENT", "20191029101700",
        "20191029101700", None, "801234567897^BOILEAU^Charles^^^M^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
        BIRTH_NAME,
    ),
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml": (  # level 1 CDA with a PDF body
        Code("11502-2", LOINC, "CR d'examens biologiques"), "10", ("urn:ihe:iti:xds-sd:pdf:2008", tables.TRE_A11),
        "SA07", "AMBULATOIRE", "20210401124745", "20210104124700", "20210104125500",
        "807505123456^Camparini^Marcel^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS", BIRTH_NAME,
    ),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_metadata_from_the_header(name: str) -> None:
    (type_code, class_code, (fmt, fmt_system), facility, practice, creation, start, stop, legal, pid5) = TABLE[name]
    data = example(name)
    d = derive(data, OPTIONS)
    de, ss = d.document_entry, d.submission_set
    assert d.notes == ()
    assert de.type_code == type_code
    assert (de.class_code.code, de.class_code.scheme) == (class_code, tables.TRE_A03)  # type: ignore[union-attr]
    assert (de.format_code.code, de.format_code.scheme) == (fmt, fmt_system)  # type: ignore[union-attr]
    assert de.healthcare_facility_type_code.code == facility  # type: ignore[union-attr]
    assert de.practice_setting_code.code == practice  # type: ignore[union-attr]
    assert (de.creation_time, de.service_start_time, de.service_stop_time) == (creation, start, stop)
    assert de.legal_authenticator == legal
    assert de.patient_id == "279035121518989" + TEST_INS
    assert de.source_patient_id == IPP
    assert de.source_patient_info[0] == pid5
    assert de.source_patient_info[1:] == ("PID-7|19790328", "PID-8|F")
    assert de.confidentiality_codes == (Code("N", tables.HL7_CONFIDENTIALITY, "Normal"),)
    assert (de.mime_type, de.language_code) == ("text/xml", "fr-FR")
    root = etree.fromstring(data)
    ident = root.find("hl7:id", HL7)
    assert de.unique_id == ident.get("root") and not ident.get("extension")
    assert de.title == " ".join(root.findtext("hl7:title", namespaces=HL7).split())
    assert (ss.patient_id, ss.unique_id, ss.source_id, ss.submission_time) == (
        de.patient_id, OPTIONS.submission_set_unique_id, OPTIONS.source_id, OPTIONS.submission_time)
    assert ss.authors == de.authors[:1]


def test_author_as_professional_and_structure() -> None:
    (author,) = derive(example("LDL-EES_2022.01.xml"), OPTIONS).document_entry.authors
    assert author.person == "801234567897^BOILEAU^Charles^^^M^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert author.institutions == ("Centre de soins du Belvédère^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1120456789",)
    assert author.specialties == ("G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5",)
    img = derive(example("IMG_CR_IMG_2024.01.xml"), OPTIONS).document_entry.authors[0]
    assert img.roles == ("Référent - Responsable du patient dans la structure de soins",)  # functionCode


def _patient_authored(root: etree._Element) -> None:
    """The patient writes the document (CI-SIS expression personnelle): author = the patient's INS."""
    assigned = root.find("hl7:author/hl7:assignedAuthor", HL7)
    assigned.find("hl7:id", HL7).attrib.update({"root": "1.2.250.1.213.1.4.10", "extension": "279035121518989"})
    assigned.find("hl7:code", HL7).attrib.update({"code": "EXP_PATIENT", "codeSystem": "1.2.250.1.213.1.1.4.6",
                                                 "displayName": "Patient"})
    assigned.remove(assigned.find("hl7:representedOrganization", HL7))
    name = assigned.find("hl7:assignedPerson/hl7:name", HL7)
    name.find("hl7:family", HL7).text, name.find("hl7:given", HL7).text = "PAT-TROIS", "DOMINIQUE"
    name.remove(name.find("hl7:prefix", HL7))
    root.find("hl7:code", HL7).attrib.update({"code": "EXPPAT_3", "codeSystem": tables.TRE_A05, "displayName": "Directives anticipées"})


def test_patient_authored_document() -> None:
    d = derive(changed("LDL-EES_2022.01.xml", _patient_authored), OPTIONS)
    (author,) = d.document_entry.authors
    assert author.person == "279035121518989^PAT-TROIS^DOMINIQUE^^^^^^&1.2.250.1.213.1.4.10&ISO^D^^^NH"
    assert author.institutions == ()  # PDSM4DMP: no authorInstitution for the patient
    assert d.document_entry.class_code == Code("90", tables.TRE_A03, "Autres documents déposés par le patient")
    assert d.submission_set.content_type_code == Code("EXP_PATIENT", tables.TRE_A00, "Patient")


def test_self_presenting_document() -> None:
    d = derive(example("BIO-CR-BIO_2021.01_Auto-Presentable.xml"), OPTIONS)
    assert d.document.self_presenting and d.document_entry.mime_type == "application/xslt+xml"
    assert d.document_entry.format_code.code == "urn:ihe:lab:xd-lab:2008"  # type: ignore[union-attr]
    assert d.notes == ()


def test_content_type_from_the_encounter() -> None:
    assert derive(example("LDL-EES_2022.01.xml"), OPTIONS).submission_set.content_type_code.code == "03"  # type: ignore[union-attr]  # IMP
    override = Code("04", tables.TRE_R209, "Hospitalisation de Jour")
    d = derive(example("LDL-EES_2022.01.xml"), Options(**{**OPTIONS.__dict__, "content_type": override}))
    assert d.submission_set.content_type_code == override


def test_extra_confidentiality_codes_follow_the_cda_one() -> None:
    masked = Code("MASQUE_PS", tables.TRE_A07, "Masqué aux professionnels de santé")
    d = derive(example("LDL-EES_2022.01.xml"), Options(**{**OPTIONS.__dict__, "extra_confidentiality": (masked,)}))
    assert [c.code for c in d.document_entry.confidentiality_codes] == ["N", "MASQUE_PS"]


@pytest.mark.parametrize(("ts", "expected"), [
    ("20191029111700+0100", "20191029101700"),  # to UTC
    ("20191029001700+0100", "20191028231700"),  # across midnight
    ("201910291117-0230", "201910291347"),
    ("20191029111700.123+0100", "20191029101700"),  # fraction dropped
    ("20191029", "20191029"),  # a date has no zone to apply
    ("20191029111700", "20191029111700"),
    ("2019102", None), ("tomorrow", None), (None, None),
])
def test_times_as_utc_dtm(ts: str | None, expected: str | None) -> None:
    assert dtm(ts) == expected


def test_notes_name_what_is_missing_with_its_xpath() -> None:
    unknown = changed("LDL-EES_2022.01.xml", lambda r: r.find("hl7:code", HL7).set("code", "00000-0"))
    d = derive(unknown, OPTIONS)
    assert [(n.rule, n.xpath) for n in d.notes] == [("META-classCode", "/hl7:ClinicalDocument/hl7:code")]
    assert d.document_entry.class_code is None
    no_model = changed("LDL-EES_2022.01.xml", lambda r: r.find("hl7:templateId[3]", HL7).set("root", "1.2.3"))
    d = derive(no_model, OPTIONS)
    assert [n.rule for n in d.notes] == ["META-formatCode"]
    assert d.document_entry.format_code == tables.OUT_OF_PROFILE_FORMAT


@pytest.mark.parametrize("data", [b"<html/>", b"not xml", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'])
def test_not_a_cda(data: bytes) -> None:
    with pytest.raises(NotACda):
        derive(data, OPTIONS)


@pytest.mark.parametrize("path", all_examples(), ids=lambda p: p.name)
def test_every_example_derives_a_valid_iti41_submission(path: object) -> None:
    data = path.read_bytes()  # type: ignore[attr-defined]
    d = derive(data, OPTIONS)
    assert d.notes == ()
    xml = etree.tostring(submit_objects.write(submission_objects(d.submission_set, [d.document_entry])))
    sub = submit_objects.read(etree.fromstring(xml))
    assert validate_submission(sub, ITI41) == []
    assert sub.document_entries[0].hash and sub.document_entries[0].size == str(len(data))
