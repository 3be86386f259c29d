"""Each structural rule: one valid submission, one change, exactly one violation with the expected code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from harness.builders import SubmissionBuilder, extra_slot, new_patient_id, single_document
from xdscore.ebrim import submit_objects
from xdscore.ebrim.coded import write_code
from xdscore.model import Code, RimClassification, RimLocalized, RimSlot
from xdscore.profiles.ihe import PROFILE as IHE
from xdscore.profiles.nist import profile_from_codes_xml
from xdscore.rules import formats
from xdscore.rules.validate import validate_submission
from xdscore.vocabulary import NS, UUID, AssociationType, ErrorCode, ObjectType, Severity, Slot, Status

MD = ErrorCode.XDSRegistryMetadataError
NIST_CODES = Path(__file__).resolve().parents[3] / "shared/testkits/nist-xdstools/environment/default/codes.xml"


def base() -> SubmissionBuilder:
    b = single_document()
    b.add_folder()
    b.link("Folder01", "Document01", None)
    return b


def drop_slot(name: str) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        de = b.get("Document01")
        b.replace_object("Document01", slots=tuple(s for s in de.slots if s.name != name))
    return change


def set_slot(entry: str, name: str, *values: str) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        b.replace_object(entry, slots=b.get(entry).with_slot(name, values).slots)
    return change


def drop_scheme(entry: str, scheme: str) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        o = b.get(entry)
        b.replace_object(entry, classifications=tuple(c for c in o.classifications if c.scheme != scheme))
    return change


def add_classification(entry: str, c: RimClassification) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        b.replace_object(entry, classifications=(*b.get(entry).classifications, c))
    return change


def uplink_ext(entry: str, scheme: str, owner: str) -> Callable[[SubmissionBuilder], None]:
    """The ExternalIdentifier of `scheme` inside `entry` names `owner` as its registryObject."""
    def change(b: SubmissionBuilder) -> None:
        o = b.get(entry)
        b.replace_object(entry, external_identifiers=tuple(
            replace(e, registry_object=owner) if e.scheme == scheme else e for e in o.external_identifiers))
    return change


def drop_ext(entry: str, scheme: str) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        o = b.get(entry)
        b.replace_object(entry, external_identifiers=tuple(e for e in o.external_identifiers if e.scheme != scheme))
    return change


def set_ext(entry: str, scheme: str, value: str) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        o = b.get(entry)
        b.replace_object(
            entry,
            external_identifiers=tuple(replace(e, value=value) if e.scheme == scheme else e for e in o.external_identifiers),
        )
    return change


def second_code(entry: str, scheme: str) -> Callable[[SubmissionBuilder], None]:
    return add_classification(entry, write_code(Code("X", "1.2.3"), scheme, entry, "extra_cl"))


def doc_attr(**changes: object) -> Callable[[SubmissionBuilder], None]:
    return lambda b: b.replace_object("Document01", **changes)


def second_document_same_uid(b: SubmissionBuilder) -> None:
    uid = b.get("Document01").external_id(UUID.DE_UNIQUE_ID)
    b.add_document("Document02", unique_id=uid)


def other_patient_document(b: SubmissionBuilder) -> None:
    b.add_document("Document02", patient_id=new_patient_id())


def second_submission_set(b: SubmissionBuilder) -> None:
    from harness.builders import submission_set_for
    from xdscore.ebrim import submission_set as ssc

    b.objects.append(ssc.write(submission_set_for(b.patient_id, "SubmissionSet02")))


def unclassified_package(b: SubmissionBuilder) -> None:
    from xdscore.model import RimObject

    b.objects.append(RimObject(tag="RegistryPackage", id="Package01"))


def rename(old: str, new: str) -> Callable[[SubmissionBuilder], None]:
    def change(b: SubmissionBuilder) -> None:
        obj = next(o for o in b.objects if o.id == old)
        b.replace_object(
            old, id=new,
            classifications=tuple(replace(c, classified_object=new) for c in obj.classifications),
            external_identifiers=tuple(replace(e, registry_object=new) for e in obj.external_identifiers),
        )
        for o in b.objects:
            if o.tag == "Association" and old in (o.source_object, o.target_object):
                b.replace_object(
                    o.id,
                    source_object=new if o.source_object == old else o.source_object,
                    target_object=new if o.target_object == old else o.target_object,
                )
    return change


def no_submission_set(b: SubmissionBuilder) -> None:
    b.objects = [o for o in b.objects if o.id != b.ss_id and o.source_object != b.ss_id]


def document_not_in_submission_set(b: SubmissionBuilder) -> None:
    b.objects = [o for o in b.objects if not (o.tag == "Association" and o.target_object == "Document01" and o.source_object == b.ss_id)]


def drop_ss_status(b: SubmissionBuilder) -> None:
    for o in b.objects:
        if o.tag == "Association" and o.target_object == "Document01" and o.source_object == b.ss_id:
            b.replace_object(o.id, slots=())


def relate(atype: AssociationType, source: str, target: str) -> Callable[[SubmissionBuilder], None]:
    return lambda b: b.relate(source, target, atype) and None


def unknown_association_type(b: SubmissionBuilder) -> None:
    b.link("Document01", "Folder01", None, AssociationType.HAS_MEMBER)
    b.replace_object(b.objects[-1].id, association_type="urn:example:Unknown")


def short_type(b: SubmissionBuilder) -> None:
    b.link(b.ss_id, "Folder01", None)
    b.replace_object(b.objects[-1].id, association_type="HasMember")


def has_member_with_documentation(b: SubmissionBuilder) -> None:
    b.link("Folder01", "Document01", None, documentation=Code("Additional_Information", "1.3.6.1.4.1.21367.2017.3"))


def update_status_in_register(b: SubmissionBuilder) -> None:
    b.link(b.ss_id, "urn:uuid:11111111-2222-3333-4444-555555555555", None, AssociationType.UPDATE_AVAILABILITY_STATUS)


def association_to_self(b: SubmissionBuilder) -> None:
    b.relate("Document01", "Document01", AssociationType.APPEND)


def dangling_symbolic(b: SubmissionBuilder) -> None:
    b.relate("Document01", "NoSuchDocument", AssociationType.APPEND)


def relationship_from_folder(b: SubmissionBuilder) -> None:
    b.relate("Folder01", "urn:uuid:11111111-2222-3333-4444-555555555555", AssociationType.REPLACE)


def signs_the_folder(b: SubmissionBuilder) -> None:
    b.add_document("Signature01")
    b.relate("Signature01", "Folder01", AssociationType.SIGNS)


def signs_from_the_submission_set(b: SubmissionBuilder) -> None:
    b.relate(b.ss_id, "Document01", AssociationType.SIGNS)


def signs_an_earlier_submission_set(b: SubmissionBuilder) -> None:
    """Only the SubmissionSet the signature comes in can be signed; a UUID outside is an earlier one."""
    b.add_document("Signature01")
    b.relate("Signature01", "urn:uuid:11111111-2222-3333-4444-555555555555", AssociationType.SIGNS)


def folder_holding_folder(b: SubmissionBuilder) -> None:
    from harness.builders import folder_for
    from xdscore.ebrim import folder as fdc

    b.objects.append(fdc.write(folder_for(b.patient_id, "Folder02")))
    b.link(b.ss_id, "Folder02", None)
    b.link("Folder01", "Folder02", None)


def author_without_person(b: SubmissionBuilder) -> None:
    o = b.get("Document01")
    cls = tuple(replace(c, slots=(RimSlot(Slot.AUTHOR_ROLE, ("Attending",)),)) if c.scheme == UUID.DE_AUTHOR else c for c in o.classifications)
    b.replace_object("Document01", classifications=cls)


def two_author_persons(b: SubmissionBuilder) -> None:
    o = b.get("Document01")
    cls = tuple(replace(c, slots=(RimSlot(Slot.AUTHOR_PERSON, ("^A^B", "^C^D")),)) if c.scheme == UUID.DE_AUTHOR else c for c in o.classifications)
    b.replace_object("Document01", classifications=cls)


def code_without_scheme(b: SubmissionBuilder) -> None:
    o = b.get("Document01")
    cls = tuple(replace(c, slots=()) if c.scheme == UUID.DE_CLASS_CODE else c for c in o.classifications)
    b.replace_object("Document01", classifications=cls)


def duplicate_slot(b: SubmissionBuilder) -> None:
    o = b.get("Document01")
    b.replace_object("Document01", slots=(*o.slots, RimSlot(Slot.LANGUAGE_CODE, ("fr-FR",))))


def duplicate_ids(b: SubmissionBuilder) -> None:
    b.link("Folder01", "Document01", None)
    b.objects.append(b.objects[-1])


CASES: list[tuple[str, Callable[[SubmissionBuilder], None], ErrorCode]] = [
    # 11998a: one required DocumentEntry attribute missing
    ("DE-creationTime missing", drop_slot(Slot.CREATION_TIME), MD),
    ("DE-languageCode missing", drop_slot(Slot.LANGUAGE_CODE), MD),
    ("DE-sourcePatientId missing", drop_slot(Slot.SOURCE_PATIENT_ID), MD),
    ("DE-hash missing (ITI-42)", drop_slot(Slot.HASH), MD),
    ("DE-size missing (ITI-42)", drop_slot(Slot.SIZE), MD),
    ("DE-repositoryUniqueId missing (ITI-42)", drop_slot(Slot.REPOSITORY_UNIQUE_ID), MD),
    ("DE-classCode missing", drop_scheme("Document01", UUID.DE_CLASS_CODE), MD),
    ("DE-typeCode missing", drop_scheme("Document01", UUID.DE_TYPE_CODE), MD),
    ("DE-formatCode missing", drop_scheme("Document01", UUID.DE_FORMAT_CODE), MD),
    ("DE-healthcareFacilityTypeCode missing", drop_scheme("Document01", UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE), MD),
    ("DE-practiceSettingCode missing", drop_scheme("Document01", UUID.DE_PRACTICE_SETTING_CODE), MD),
    ("DE-confidentialityCode missing", drop_scheme("Document01", UUID.DE_CONFIDENTIALITY_CODE), MD),
    ("DE-classCode twice", second_code("Document01", UUID.DE_CLASS_CODE), MD),
    ("DE-patientId missing", drop_ext("Document01", UUID.DE_PATIENT_ID), MD),
    ("DE-uniqueId missing", drop_ext("Document01", UUID.DE_UNIQUE_ID), MD),
    ("DE-uniqueId too long", set_ext("Document01", UUID.DE_UNIQUE_ID, "1." + "2" * 140), MD),
    ("DE-mimeType missing", doc_attr(mime_type=None), MD),
    ("DE-mimeType malformed", doc_attr(mime_type="textplain"), MD),
    ("DE-objectType missing", doc_attr(object_type=None), MD),
    ("DE-creationTime malformed", set_slot("Document01", Slot.CREATION_TIME, "2024-01-02"), MD),
    ("DE-creationTime twice", set_slot("Document01", Slot.CREATION_TIME, "2024", "2025"), MD),
    ("DE-hash malformed", set_slot("Document01", Slot.HASH, "abc"), MD),
    ("DE-size malformed", set_slot("Document01", Slot.SIZE, "12kB"), MD),
    ("DE-languageCode malformed", set_slot("Document01", Slot.LANGUAGE_CODE, "en_US!"), MD),
    ("DE-repositoryUniqueId not an OID", set_slot("Document01", Slot.REPOSITORY_UNIQUE_ID, "repo-1"), MD),
    ("DE-sourcePatientId without authority", set_slot("Document01", Slot.SOURCE_PATIENT_ID, "12345"), MD),
    ("DE-sourcePatientInfo malformed", set_slot("Document01", Slot.SOURCE_PATIENT_INFO, "Doe^John"), MD),
    ("DE-legalAuthenticator malformed", set_slot("Document01", Slot.LEGAL_AUTHENTICATOR, "^"), MD),
    ("DE-URI twice", set_slot("Document01", Slot.URI, "a", "b"), MD),
    ("DE-serviceStartTime after stop", set_slot("Document01", Slot.SERVICE_START_TIME, "20250101"), MD),
    ("DE-title too long", doc_attr(name=(RimLocalized("x" * 129),)), MD),
    ("DE-patientId not CX", set_ext("Document01", UUID.DE_PATIENT_ID, "12345"), MD),
    ("SS-patientId missing", drop_ext("SubmissionSet01", UUID.SS_PATIENT_ID), MD),
    ("SS-uniqueId missing", drop_ext("SubmissionSet01", UUID.SS_UNIQUE_ID), MD),
    ("SS-uniqueId not an OID", set_ext("SubmissionSet01", UUID.SS_UNIQUE_ID, "abc"), MD),
    ("SS-sourceId missing", drop_ext("SubmissionSet01", UUID.SS_SOURCE_ID), MD),
    ("SS-submissionTime missing", set_slot("SubmissionSet01", Slot.SUBMISSION_TIME), MD),
    ("SS-contentTypeCode missing", drop_scheme("SubmissionSet01", UUID.SS_CONTENT_TYPE_CODE), MD),
    ("FD-codeList missing", drop_scheme("Folder01", UUID.FOLDER_CODE_LIST), MD),
    ("FD-title missing", lambda b: b.replace_object("Folder01", name=()), MD),
    ("FD-uniqueId missing", drop_ext("Folder01", UUID.FOLDER_UNIQUE_ID), MD),
    ("FD-patientId missing", drop_ext("Folder01", UUID.FOLDER_PATIENT_ID), MD),
    ("FD-lastUpdateTime malformed", set_slot("Folder01", Slot.LAST_UPDATE_TIME, "yesterday"), MD),
    # object rules
    ("OBJ-id malformed UUID", rename("Folder01", "urn:uuid:not-a-uuid"), MD),
    ("OBJ-slot-unique", duplicate_slot, MD),
    # NIST pnr-bad-uplink: a nested Classification / ExternalIdentifier pointing at another object
    ("OBJ-uplink classification", add_classification(
        "Document01", RimClassification("c9", "Document011", scheme=UUID.DE_AUTHOR, node_representation="",
                                       slots=(RimSlot("authorPerson", ("^Dopplemeyer^Sherry^^^",)),))), MD),
    ("OBJ-uplink identifier", uplink_ext("Document01", UUID.DE_UNIQUE_ID, "SubmissionSet01"), MD),
    ("OBJ-extra urn:ihe", set_slot("Document01", "urn:ihe:iti:xds:2099:madeUp", "x"), MD),
    ("OBJ-extra not urn", set_slot("Document01", "myLocalSlot", "x"), MD),
    ("OBJ-limited", add_classification("Document01", RimClassification("lm", "Document01", node=UUID.DE_LIMITED_METADATA)), MD),
    ("OBJ-objectType on-demand", doc_attr(object_type=ObjectType.ON_DEMAND_DOCUMENT.value), MD),
    ("OBJ-status deprecated", doc_attr(status=Status.DEPRECATED.value), MD),
    ("OBJ-code no codingScheme", code_without_scheme, MD),
    ("OBJ-author incomplete", author_without_person, MD),
    ("OBJ-author two persons", two_author_persons, MD),
    # submission rules
    ("SUB-one-SS none", no_submission_set, MD),
    ("SUB-one-SS two", second_submission_set, MD),
    ("SUB-package unclassified", unclassified_package, MD),
    ("SUB-ids duplicate", duplicate_ids, MD),
    ("SUB-uniqueId twice in message", second_document_same_uid, ErrorCode.XDSRegistryDuplicateUniqueIdInMessage),
    ("SUB-patient DE differs", other_patient_document, ErrorCode.XDSPatientIdDoesNotMatch),
    ("SUB-patient Folder differs", set_ext("Folder01", UUID.FOLDER_PATIENT_ID, "X1^^^&1.2.3&ISO"), ErrorCode.XDSPatientIdDoesNotMatch),
    ("SUB-members DE not in SS", document_not_in_submission_set, MD),
    ("ASSOC SS HasMember without SubmissionSetStatus", drop_ss_status, MD),
    ("ASSOC unknown type", unknown_association_type, MD),
    ("ASSOC ebRS 2.1 short type", short_type, MD),
    ("ASSOC HasMember with documentation", has_member_with_documentation, MD),
    ("ASSOC ITI-57 type in ITI-42", update_status_in_register, MD),
    ("ASSOC to self", association_to_self, MD),
    ("ASSOC dangling symbolic id", dangling_symbolic, MD),
    ("ASSOC relationship from a Folder", relationship_from_folder, MD),
    ("ASSOC Folder holding a Folder", folder_holding_folder, MD),
    ("ASSOC signs a Folder", signs_the_folder, MD),
    ("ASSOC signs from the SubmissionSet", signs_from_the_submission_set, MD),
    ("AS-SubmissionSetStatus value", lambda b: b.replace_object(b.objects[2].id, slots=(RimSlot(Slot.SUBMISSION_SET_STATUS, ("Copy",)),)), MD),
]


def test_base_submission_is_valid() -> None:
    assert validate_submission(base().submission(), IHE) == []


@pytest.mark.parametrize("name,change,code", CASES, ids=[c[0] for c in CASES])
def test_one_change_one_violation(name: str, change: Callable[[SubmissionBuilder], None], code: ErrorCode) -> None:
    b = base()
    change(b)
    violations = validate_submission(b.submission(), IHE)
    assert [v.code for v in violations] == [code], violations
    assert violations[0].severity is Severity.ERROR


def test_submission_set_signature_is_accepted() -> None:
    """ITI TF-1 37 (DSG SubmissionSet Signature): the signature's DocumentEntry `signs` the SubmissionSet of
    its own submission, with the SubmissionSetStatus slot the DMP's clients put on it (KIT-MSG TD2.1)."""
    b = base()
    b.add_document("Signature01")
    b.link("Signature01", b.ss_id, "Original", AssociationType.SIGNS)
    assert validate_submission(b.submission(), IHE) == []
    b.relate("Signature01", "Document01", AssociationType.SIGNS)  # a detached signature of one document too
    assert validate_submission(b.submission(), IHE) == []


def test_signs_to_an_earlier_submission_set_is_left_to_the_registry() -> None:
    b = base()
    signs_an_earlier_submission_set(b)
    assert validate_submission(b.submission(), IHE) == []  # the registry sees it is not a DocumentEntry


def test_extra_urn_slots_are_allowed_everywhere() -> None:
    b = base()
    set_slot("Document01", "urn:example:extra", "1", "2")(b)
    set_slot("SubmissionSet01", "urn:example:extra", "x")(b)
    assert validate_submission(b.submission(), IHE) == []


def test_repository_profile_allows_missing_hash_size_repository() -> None:
    from harness.builders import iti41_profile

    b = base()
    for name in (Slot.HASH, Slot.SIZE, Slot.REPOSITORY_UNIQUE_ID):
        drop_slot(name)(b)
    assert validate_submission(b.submission(), iti41_profile()) == []


def test_every_error_is_listed_not_just_the_first() -> None:
    b = base()
    drop_slot(Slot.CREATION_TIME)(b)
    drop_slot(Slot.LANGUAGE_CODE)(b)
    other_patient_document(b)
    codes = [v.code for v in validate_submission(b.submission(), IHE)]
    assert codes == [MD, MD, ErrorCode.XDSPatientIdDoesNotMatch]


@pytest.mark.skipif(not NIST_CODES.exists(), reason="NIST test kit not present")
def test_nist_profile_value_sets() -> None:
    nist = profile_from_codes_xml(NIST_CODES.read_bytes())
    b = base()
    assert validate_submission(b.submission(), nist) == []
    add_classification("Document01", write_code(Code("NOPE", "1.2.3"), UUID.DE_EVENT_CODE, "Document01", "ev"))(b)
    doc_attr(mime_type="application/x-unknown")(b)
    violations = validate_submission(b.submission(), nist)
    assert [v.code for v in violations] == [MD, MD]
    assert "mimeType" in violations[0].context and "eventCodeList" in violations[1].context


@pytest.mark.parametrize(
    "value,ok",
    [("2024", True), ("202401", True), ("20240131", True), ("2024013123", True), ("202401312359", True),
     ("20240131235959", True), ("20241301", False), ("20240132", False), ("2024013124", False), ("20240131236", False),
     ("2024-01-31", False), ("", False), ("202401312359591", False)],
)
def test_dtm_format(value: str, ok: bool) -> None:
    assert formats.is_dtm(value) is ok


@pytest.mark.parametrize(
    "value,ok",
    [("123^^^&1.2.3&ISO", True), ("123^^^&1.2.250.1.213.1.4.8&ISO^NH", True), ("123^^^NS&1.2.3&ISO", True),
     ("123", False), ("^^^&1.2.3&ISO", False), ("123^^^&1.2.3&L", False), ("123^^^&abc&ISO", False), ("1 2^^^&1.2&ISO", False)],
)
def test_patient_cx_format(value: str, ok: bool) -> None:
    assert formats.is_patient_cx(value) is ok


def test_extra_slot_builder_roundtrip() -> None:
    b = single_document(extra_slots=(extra_slot("urn:example:x", "1"),))
    assert b.submission().document_entries[0].rim.slot("urn:example:x") == ("1",)


@pytest.mark.parametrize("what,attribute", [("Classification", "classifiedObject"), ("ExternalIdentifier", "registryObject")])
@pytest.mark.parametrize("target", ["urn:uuid:7e0b5b36-2b9f-4b53-a1d3-4d4fd1a0e0ff", "NoSuchObject", ""])
def test_top_level_reference_to_an_unknown_object_is_unresolved(what: str, attribute: str, target: str) -> None:
    """SUB-refs: a top-level Classification / ExternalIdentifier naming no object of the submission was dropped
    silently and the rest stored; it is UnresolvedReferenceException (issue 16)."""
    xml = base().xml()
    rim_ns = f"{{{NS.RIM}}}"
    loose = etree.SubElement(xml.find(f"{rim_ns}RegistryObjectList"), f"{rim_ns}{what}", id="urn:uuid:6ea1b4e4-1b1a-4b9b-9a31-2d4c0b9d3f10")
    loose.set(attribute, target)
    if what == "Classification":
        loose.set("classificationNode", UUID.SS_NODE)
    else:
        loose.set("identificationScheme", "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8")
        loose.set("value", "1.2.3")
    sub = submit_objects.read(etree.fromstring(etree.tostring(xml)))
    found = validate_submission(sub, IHE)
    assert [v.code for v in found] == [ErrorCode.UnresolvedReferenceException]
    assert attribute in found[0].context
