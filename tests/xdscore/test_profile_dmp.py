"""The `dmp` profile: one valid submission shaped like the DMP's official TD2.1, one change, one violation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from harness.builders import DMP_PATIENT, DMP_PS, MASQUE_PS, SubmissionBuilder, dmp_submission
from registry.valuesets import SHIPPED_DMP, ValueSetFolderError, load_value_sets
from xdscore.ebrim.coded import write_code
from xdscore.model import Code, RimSlot
from xdscore.profiles import dmp
from xdscore.profiles.ihe import PROFILE as IHE
from xdscore.rules.validate import validate_submission
from xdscore.svs import SvsError, parse
from xdscore.vocabulary import UUID, DmpStatus, ErrorCode, Slot

MD = ErrorCode.XDSRegistryMetadataError
KIT_JDV = Path(__file__).resolve().parents[3] / "shared/testkits/ans-cisis/jeuxDeValeurs"
PROFILE = dmp.build_profile(load_value_sets(""))


def violations(b: SubmissionBuilder, profile: object = PROFILE) -> list[str]:
    out = validate_submission(b.submission(), profile)  # type: ignore[arg-type]
    assert all(v.code is MD for v in out), out
    return [v.context for v in out]


def set_code(entry: str, scheme: str, code: Code) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        o = b.get(entry)
        others = tuple(c for c in o.classifications if c.scheme != scheme)
        b.replace_object(entry, classifications=(*others, write_code(code, scheme, entry, f"cl-{scheme[-4:]}")))
    return change


def add_code(entry: str, scheme: str, code: Code, cid: str) -> Callable[[SubmissionBuilder], None]:
    return lambda b: b.replace_object(entry, classifications=(*b.get(entry).classifications, write_code(code, scheme, entry, cid)))


def set_slot(entry: str, name: str, *values: str) -> Callable[[SubmissionBuilder], None]:
    return lambda b: b.replace_object(entry, slots=b.get(entry).with_slot(name, values).slots)


def drop_slot(entry: str, name: str) -> Callable[[SubmissionBuilder], None]:
    return lambda b: b.replace_object(entry, slots=tuple(s for s in b.get(entry).slots if s.name != name))


def set_patient(value: str) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        for entry, scheme in (("SubmissionSet01", UUID.SS_PATIENT_ID), ("Document01", UUID.DE_PATIENT_ID),
                              ("Signature01", UUID.DE_PATIENT_ID)):
            o = b.get(entry)
            b.replace_object(entry, external_identifiers=tuple(
                replace(e, value=value) if e.scheme == scheme else e for e in o.external_identifiers))
    return change


def author_slot(entry: str, name: str, *values: str) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        o = b.get(entry)
        scheme = UUID.SS_AUTHOR if entry.startswith("Submission") else UUID.DE_AUTHOR
        cls = []
        for c in o.classifications:
            if c.scheme == scheme:
                slots = tuple(s for s in c.slots if s.name != name) + ((RimSlot(name, values),) if values else ())
                c = replace(c, slots=slots)
            cls.append(c)
        b.replace_object(entry, classifications=tuple(cls))
    return change


def unlink_signature(b: SubmissionBuilder) -> None:
    b.objects = [o for o in b.objects if not (o.tag == "Association" and o.source_object == "Signature01")]


def drop_signature(b: SubmissionBuilder) -> None:
    b.objects = [o for o in b.objects if o.id != "Signature01" and "Signature01" not in (o.source_object, o.target_object)]


CONF = "2.16.840.1.113883.5.25"
J57 = "JDV_J57-ClassCode-DMP (OID 1.2.250.1.213.1.1.5.6)"
SIG = "a DMP submission carries the XAdES signature of its SubmissionSet"

# (name, change, the one message expected: the start of it, or the whole of it when it ends with "$")
CASES: list[tuple[str, Callable[[SubmissionBuilder], None], str]] = [
    ("classCode outside J57", set_code("Document01", UUID.DE_CLASS_CODE, Code("REPORTS", "1.3.6.1.4.1.19376.1.2.6.1")),
     f"DocumentEntry Document01: classCode 'REPORTS' (codingScheme 1.3.6.1.4.1.19376.1.2.6.1) is not in the "
     f"affinity domain's value set {J57}$"),
    ("classCode in J57 under another codingScheme", set_code("Document01", UUID.DE_CLASS_CODE, Code("10", "1.2.3")),
     f"DocumentEntry Document01: classCode '10' (codingScheme 1.2.3) is not in the affinity domain's value set {J57}$"),
    ("typeCode outside J66 / J07", set_code("Document01", UUID.DE_TYPE_CODE, Code("99999-9", "2.16.840.1.113883.6.1")),
     "DocumentEntry Document01: typeCode '99999-9' (codingScheme 2.16.840.1.113883.6.1) is not in the affinity "
     "domain's value set JDV_J07-XdsTypeCode-CISIS (OID 1.2.250.1.213.1.1.5.471)$"),
    ("formatCode outside J60", set_code("Document01", UUID.DE_FORMAT_CODE, Code("urn:ihe:rad:TEXT", "1.3.6.1.4.1.19376.1.2.3")),
     "DocumentEntry Document01: formatCode 'urn:ihe:rad:TEXT' (codingScheme 1.3.6.1.4.1.19376.1.2.3) is not in the "
     "affinity domain's value set JDV_J60-FormatCode-DMP (OID 1.2.250.1.213.1.1.5.8)$"),
    ("healthcareFacilityTypeCode outside J61", set_code("Document01", UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE, Code("SA11", "1.2.250.1.71.4.2.4")),
     "DocumentEntry Document01: healthcareFacilityTypeCode 'SA11' (codingScheme 1.2.250.1.71.4.2.4) is not in the "
     "affinity domain's value set JDV_J61-HealthcareFacilityTypeCode-DMP (OID 1.2.250.1.213.1.1.5.3)$"),
    ("practiceSettingCode outside J62 / J04", set_code("Document01", UUID.DE_PRACTICE_SETTING_CODE, Code("CLINIC", "1.2.250.1.213.1.1.4.9")),
     "DocumentEntry Document01: practiceSettingCode 'CLINIC' (codingScheme 1.2.250.1.213.1.1.4.9) is not in the "
     "affinity domain's value set JDV_J04-XdsPracticeSettingCode-CISIS (OID 1.2.250.1.213.1.1.5.467)$"),
    ("confidentialityCode outside J58", add_code("Document01", UUID.DE_CONFIDENTIALITY_CODE, Code("MASQUE_PT", "1.2.250.1.213.1.1.4.13"), "c2"),
     "DocumentEntry Document01: confidentialityCode 'MASQUE_PT' (codingScheme 1.2.250.1.213.1.1.4.13) is not in the "
     "value set JDV_J58-ConfidentialityCode-DMP (OID 1.2.250.1.213.1.1.5.9)$"),
    ("confidentialityCode two levels", add_code("Document01", UUID.DE_CONFIDENTIALITY_CODE, Code("R", CONF), "c2"),
     f"DocumentEntry Document01: confidentialityCode must hold exactly one of N, R, V (HL7 {CONF}); found N, R$"),
    ("confidentialityCode no level", set_code("Document01", UUID.DE_CONFIDENTIALITY_CODE, MASQUE_PS),
     f"DocumentEntry Document01: confidentialityCode must hold exactly one of N, R, V (HL7 {CONF}); found none$"),
    ("patientId not an INS", set_patient("207058575627097^^^&1.2.250.1.999.1&ISO^NH"),
     "SubmissionSet SubmissionSet01: patientId 207058575627097^^^&1.2.250.1.999.1&ISO^NH is not an INS: the assigning "
     "authority 1.2.250.1.999.1 is not one of 1.2.250.1.213.1.4.10, 1.2.250.1.213.1.4.11, 1.2.250.1.213.1.4.8, "
     "1.2.250.1.213.1.4.9$"),
    ("patientId wrong NIR key", set_patient("207058575627096^^^&1.2.250.1.213.1.4.10&ISO^NH"),
     "SubmissionSet SubmissionSet01: patientId 207058575627096^^^&1.2.250.1.213.1.4.10&ISO^NH: the NIR 207058575627096 "
     "has the control key 96, the NIR's key is 97$"),
    ("patientId not 15 characters", set_patient("20705857562709^^^&1.2.250.1.213.1.4.10&ISO^NH"),
     "SubmissionSet SubmissionSet01: patientId 20705857562709^^^&1.2.250.1.213.1.4.10&ISO^NH: the NIR 20705857562709 is "
     "not 15 characters"),
    ("patientId type code PI", set_patient("207058575627097^^^&1.2.250.1.213.1.4.10&ISO^PI"),
     "SubmissionSet SubmissionSet01: patientId 207058575627097^^^&1.2.250.1.213.1.4.10&ISO^PI: an INS has the identifier "
     "type code NH, not PI$"),
    ("no legalAuthenticator", drop_slot("Document01", Slot.LEGAL_AUTHENTICATOR),
     "DocumentEntry Document01: legalAuthenticator is required (CI-SIS Partage de documents de santé / DMP: "
     "legalAuthenticator R)$"),
    ("no serviceStartTime", drop_slot("Document01", Slot.SERVICE_START_TIME),
     "DocumentEntry Document01: serviceStartTime is required"),
    ("no title", lambda b: b.replace_object("Document01", name=()), "DocumentEntry Document01: title is required"),
    ("SubmissionSet without author", lambda b: b.replace_object("SubmissionSet01", classifications=tuple(
        c for c in b.get("SubmissionSet01").classifications if c.scheme != UUID.SS_AUTHOR)),
     "SubmissionSet SubmissionSet01: author is required"),
    ("author without authorPerson", author_slot("Document01", Slot.AUTHOR_PERSON),
     "DocumentEntry Document01: author has no authorPerson"),
    ("authorPerson without id", author_slot("Document01", Slot.AUTHOR_PERSON, "^MAX^LIBRE"),
     "DocumentEntry Document01: authorPerson ^MAX^LIBRE has no identifier (XCN.1)"),
    ("authorPerson not an IdNat_PS", author_slot("Document01", Slot.AUTHOR_PERSON, "99900063480^MAX^LIBRE^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"),
     "DocumentEntry Document01: authorPerson 99900063480^MAX^LIBRE^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS has "
     "'99900063480', not an IdNat_PS"),
    ("authorPerson type code", author_slot("Document01", Slot.AUTHOR_PERSON, "899900063480^MAX^LIBRE^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^PN"),
     "DocumentEntry Document01: authorPerson 899900063480^MAX^LIBRE^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^PN has the "
     "identifier type code (XCN.13) 'PN'"),
    ("authorPerson without authority", author_slot("Document01", Slot.AUTHOR_PERSON, "899900063480^MAX^LIBRE"),
     "DocumentEntry Document01: authorPerson 899900063480^MAX^LIBRE has no assigning authority"),
    ("patient author with a bad NIR", author_slot("Document01", Slot.AUTHOR_PERSON, "207058575627098^LAURENCE^^^^^^^&1.2.250.1.213.1.4.10&ISO^^^^NH"),
     "DocumentEntry Document01: authorPerson 207058575627098^LAURENCE^^^^^^^&1.2.250.1.213.1.4.10&ISO^^^^NH is a "
     "patient whose NIR 207058575627098 has the control key 98"),
    ("authorInstitution not an IdNat_Struct", author_slot("Document01", Slot.AUTHOR_INSTITUTION, "CABINET^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^999900063480001"),
     "DocumentEntry Document01: authorInstitution CABINET^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^999900063480001 has "
     "'999900063480001', not an IdNat_Struct"),
    ("authorInstitution type code", author_slot("Document01", Slot.AUTHOR_INSTITUTION, "CABINET^^^^^&1.2.250.1.71.4.2.2&ISO^XX^^^499900063480001"),
     "DocumentEntry Document01: authorInstitution CABINET^^^^^&1.2.250.1.71.4.2.2&ISO^XX^^^499900063480001 has the "
     "identifier type code (XON.7) 'XX', an IdNat_Struct is IDNST$"),
    ("authorInstitution id without authority", author_slot("Document01", Slot.AUTHOR_INSTITUTION, "CABINET^^^^^^IDNST^^^499900063480001"),
     "DocumentEntry Document01: authorInstitution CABINET^^^^^^IDNST^^^499900063480001 has an identifier (XON.10) but "
     "no assigning authority"),
    ("legalAuthenticator not an IdNat_PS", set_slot("Document01", Slot.LEGAL_AUTHENTICATOR, "123^MAX^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"),
     "DocumentEntry Document01: legalAuthenticator 123^MAX^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS has '123', not an IdNat_PS"),
    ("no signature", drop_signature,
     f"{SIG} (DMP TD2.1, IHE DSG): a DocumentEntry with classCode urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1 and formatCode "
     "http://www.w3.org/2000/09/xmldsig# or urn:ihe:iti:dsg:detached:2014, source of a signs association to the "
     "SubmissionSet; it has no signature DocumentEntry$"),
    ("signature not linked", unlink_signature,
     f"{SIG} (DMP TD2.1, IHE DSG): a DocumentEntry with classCode urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1 and formatCode "
     "http://www.w3.org/2000/09/xmldsig# or urn:ihe:iti:dsg:detached:2014, source of a signs association to the "
     "SubmissionSet; its signature DocumentEntry Signature01 is not linked to the SubmissionSet by a signs association$"),
]


def test_the_official_td21_shape_is_valid() -> None:
    assert violations(dmp_submission()) == []


@pytest.mark.parametrize("name,change,message", CASES, ids=[c[0] for c in CASES])
def test_one_change_one_violation(name: str, change: Callable[[SubmissionBuilder], None], message: str) -> None:
    b = dmp_submission()
    change(b)
    got = violations(b)
    assert len(got) == 1, got
    if message.endswith("$"):
        assert got[0] == message[:-1]
    else:
        assert got[0].startswith(message), got[0]


def test_at_most_four_confidentiality_codes() -> None:
    """With only six codes and one level, a fifth value is always a repetition (or a second level)."""
    b = dmp_submission()
    for i, code in enumerate(("INVISIBLE_REPRESENTANTS_LEGAUX", "MASQUE_PS")):
        add_code("Signature01", UUID.DE_CONFIDENTIALITY_CODE, Code(code, "1.2.250.1.213.1.1.4.13"), f"x{i}")(b)
    assert violations(b) == ["DocumentEntry Signature01: confidentialityCode appears 5 times, at most 4 allowed by the DMP",
                             "DocumentEntry Signature01: confidentialityCode repeats a code"]


def test_the_same_submission_passes_the_ihe_profile_and_unsigned_too() -> None:
    """The DMP rows are the profile's: the IHE base accepts a DMP submission, signed or not."""
    assert validate_submission(dmp_submission().submission(), IHE) == []
    assert validate_submission(dmp_submission(signed=False).submission(), IHE) == []


def test_patient_authored_document() -> None:
    """Expression personnelle: authorPerson is the patient (INS, NH) and there is no authorInstitution."""
    b = dmp_submission()
    author_slot("Document01", Slot.AUTHOR_PERSON, "207058575627097^PATB-QUATRE^LAURENCE^^^^^^&1.2.250.1.213.1.4.10&ISO^^^^NH")(b)
    author_slot("Document01", Slot.AUTHOR_INSTITUTION)(b)
    assert violations(b) == []


def test_the_kit_s_other_author_shapes() -> None:
    """KIT-MSG TD3.1: EI as XCN.13, a FINESS-based structure id (1 + FINESS)."""
    b = dmp_submission()
    author_slot("Document01", Slot.AUTHOR_PERSON, "899900062490^MACHEPRO^ULYSSE^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^EI")(b)
    author_slot("Document01", Slot.AUTHOR_INSTITUTION, "HOPITAL^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^10B0127189")(b)
    assert violations(b) == []


def test_accepted_ins_authorities_are_configurable() -> None:
    production_only = dmp.build_profile(load_value_sets(""), [dmp.INS_NIR])
    got = violations(dmp_submission(), production_only)
    assert len(got) == 1 and got[0].endswith("is not one of 1.2.250.1.213.1.4.8")


def test_dmp_statuses_are_the_profile_s() -> None:
    assert {DmpStatus.ARCHIVED.value, DmpStatus.DELETED.value} <= PROFILE.statuses
    assert DmpStatus.ARCHIVED.value not in IHE.statuses


@pytest.mark.parametrize(
    "nir,problem",
    [
        ("207058575627097", None),  # the kit's patb-quatre LAURENCE
        ("153078987658513", None),  # the kit's PAT-TROIS DOMINIQUE
        ("279035121518989", None),
        ("2690299341732", "is not 15 characters"),
        ("269029934173245", "has the control key 45, the NIR's key is 85"),
        ("269029934173285", None),
        ("184072A01234563", None),  # Corsica: 2A counts as 19
        ("184071901234563", None),  # the same number written with 19
        ("184072A01234564", "has the control key 64, the NIR's key is 63"),
        ("184072B01234590", None),  # 2B counts as 18
        ("184071801234590", None),
        ("184072B01234563", "has the control key 63, the NIR's key is 90"),
        ("18407722A012345", "is not 15 characters"),  # 2A elsewhere than the department
        ("9840775012345", "is not 15 characters"),
        ("98407750123451X", "is not 15 characters"),
    ],
)
def test_nir_control_key(nir: str, problem: str | None) -> None:
    got = dmp.nir_problem(nir)
    assert (got is None) if problem is None else (got is not None and got.startswith(problem)), got


def test_svs_parser_reads_the_official_kit_files() -> None:
    if not KIT_JDV.is_dir():
        pytest.skip("ANS test kit not present")
    (j07,) = parse((KIT_JDV / "JDV_J07_XdsTypeCode_CISIS.xml").read_bytes())
    assert (j07.oid, j07.name, j07.jdv) == ("1.2.250.1.213.1.1.5.471", "JDV_J07-XdsTypeCode-CISIS", "J07")
    assert ("11490-0", "2.16.840.1.113883.6.1") in j07.pairs and ("E1762", "ASTM") in j07.pairs
    assert len(j07.concepts) == 114


def test_shipped_value_sets() -> None:
    sets = {vs.jdv: vs for vs in load_value_sets("")}
    assert set(sets) == {"J04", "J07", "J57", "J58", "J60", "J61"}
    assert sets["J57"].oid == "1.2.250.1.213.1.1.5.6" and len(sets["J57"].concepts) == 12
    assert ("urn:ihe:iti:dsg:detached:2014", "1.3.6.1.4.1.19376.1.2.3") in sets["J60"].pairs
    assert dmp.unbound(list(sets.values())) == ["contentTypeCode (J59)"]


def test_a_deployer_s_folder_replaces_a_shipped_set(tmp_path: Path) -> None:
    """An official J62 dropped in a second folder wins over the J04 stand-in."""
    (tmp_path / "JDV_J62.xml").write_text(
        '<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="1.2.250.1.213.1.1.5.99" '
        'displayName="JDV_J62_PracticeSettingCode_DMP.tabs"><ConceptList>'
        '<Concept code="ETABLISSEMENT" codeSystem="1.2.250.1.213.1.1.4.9" displayName="x"/>'
        '</ConceptList></ValueSet></RetrieveValueSetResponse>', encoding="utf-8")
    import os

    profile = dmp.build_profile(load_value_sets(f"{SHIPPED_DMP}{os.pathsep}{tmp_path}"))
    assert violations(dmp_submission(), profile) == []
    b = dmp_submission()
    set_code("Document01", UUID.DE_PRACTICE_SETTING_CODE, Code("HAD", "1.2.250.1.213.1.1.4.9"))(b)
    assert violations(b, profile) == [
        "DocumentEntry Document01: practiceSettingCode 'HAD' (codingScheme 1.2.250.1.213.1.1.4.9) is not in the "
        "affinity domain's value set JDV_J62_PracticeSettingCode_DMP (OID 1.2.250.1.213.1.1.5.99)"]


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"<a/>", "is not in the SVS namespace"),
        (b"not xml", "is not well-formed XML"),
        (b'<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"/>', "no ValueSet element"),
        (b'<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="1.2"/></RetrieveValueSetResponse>',
         "value set 1.2 has no Concept"),
        (b'<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet><ConceptList/></ValueSet></RetrieveValueSetResponse>',
         "a ValueSet has no id"),
        (b'<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="1.2"><ConceptList><Concept code="x"/>'
         b'</ConceptList></ValueSet></RetrieveValueSetResponse>', "a Concept without code or codeSystem"),
        (b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "DTD"),
    ],
)
def test_bad_value_set_files_stop_the_loader(tmp_path: Path, content: bytes, reason: str) -> None:
    with pytest.raises(SvsError, match=reason):
        parse(content)
    (tmp_path / "bad.xml").write_bytes(content)
    with pytest.raises(ValueSetFolderError, match=r"bad\.xml"):
        load_value_sets(str(tmp_path))


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueSetFolderError, match="does not exist"):
        load_value_sets(str(tmp_path / "nope"))


def test_legal_authenticator_of_the_kit() -> None:
    assert dmp.xcn_problem(DMP_PS, frozenset(dmp.INS_AUTHORITIES)) is None
    assert DMP_PATIENT.split("^")[6] == "20100907"  # CX.7 present, accepted
