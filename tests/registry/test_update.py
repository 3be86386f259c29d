"""ITI-57 Update Document Set and ITI-92 Restricted Update on a real SQL store, without HTTP: each rule with
its error code (IHE XDS Metadata Update supplement, ITI TF-2b 3.57.4.1.3; ITI TF-2b 3.92.4.1.3)."""

from __future__ import annotations

import pytest

from harness.builders import CONF_R, new_oid, new_patient_id, single_document
from registry.register import RegisterSettings
from registry.sql import patient_number
from tests.registry.helpers import RegistryHarness
from tests.registry.lifecycle import (
    APPROVED,
    DEPRECATED,
    new_folder_version,
    new_version,
    status_change,
    submit_association,
    update_request,
)
from xdscore.model import PatientKey, RimSlot
from xdscore.profiles.ihe import PROFILE
from xdscore.vocabulary import AssociationType, ObjectType, Slot

ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"


@pytest.fixture
def reg() -> RegistryHarness:
    return RegistryHarness()


class Registered:
    """One registered document: its patient, entryUUID (= lid) and uniqueId."""

    def __init__(self, reg: RegistryHarness, **doc_changes: object) -> None:
        self.patient = new_patient_id()
        reg.feed(self.patient)
        self.unique_id = new_oid()
        b = single_document(self.patient, unique_id=self.unique_id, **doc_changes)
        assert reg.submit(b).accepted
        self.uuid = reg.uuid_of(self.unique_id)


def codes(outcome: object) -> list[str]:
    return [v.code.value for v in outcome.violations if v.is_error]  # type: ignore[attr-defined]


def version_rows(reg: RegistryHarness, lid: str) -> list[tuple[str, int, str]]:
    return [(r[0], r[1], r[2].rsplit(":", 1)[1]) for r in
            reg.sql("select uuid, version, status from objects where lid = :l order by version", l=lid)]


# --- new DocumentEntry versions ---------------------------------------------------------------------------


def test_new_version_deprecates_the_previous_one_and_keeps_lid_and_uniqueId(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id, title="Corrected summary", confidentiality_codes=(CONF_R,))
    out = reg.update(b)
    assert out.accepted, out.violations
    rows = version_rows(reg, doc.uuid)
    assert [(v, s) for _, v, s in rows] == [(1, "Deprecated"), (2, "Approved")]
    new_uuid = rows[1][0]
    assert out.new_versions == [new_uuid]
    xml = reg.stored_xml("uuid = :u", u=new_uuid)
    assert f'lid="{doc.uuid}"' in xml and 'versionName="2"' in xml and "Corrected summary" in xml
    assert reg.sql("select value from document_codes where uuid = :u and code_type = 'C'", u=new_uuid)[0][0].startswith("R^^")


def test_a_third_version_names_version_2(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    for previous in ("1", "2"):
        b = update_request(doc.patient)
        new_version(b, doc.uuid, doc.unique_id, previous=previous)
        assert reg.update(b).accepted
    assert [v for _, v, _ in version_rows(reg, doc.uuid)] == [1, 2, 3]


def test_previous_version_not_the_latest_is_XDSMetadataVersionError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id, previous="1")
    assert reg.update(b).accepted
    stale = update_request(doc.patient)
    new_version(stale, doc.uuid, doc.unique_id, previous="1")
    assert codes(reg.update(stale)) == ["XDSMetadataVersionError"]
    assert len(version_rows(reg, doc.uuid)) == 2


def test_unknown_logical_id_is_XDSMetadataVersionError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, "urn:uuid:6f0b5c7e-1d2a-4c44-9b61-3a5f0e1d2c3b", doc.unique_id)
    assert codes(reg.update(b)) == ["XDSMetadataVersionError"]


def test_first_version_through_update_is_XDSMetadataUpdateError(reg: RegistryHarness) -> None:
    patient = new_patient_id()
    reg.feed(patient)
    b = single_document(patient)  # no lid: an initial version
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]
    assert reg.count() == 0


def test_first_version_through_restricted_update_is_XDSInvalidRequestException(reg: RegistryHarness) -> None:
    patient = new_patient_id()
    reg.feed(patient)
    assert codes(reg.update(single_document(patient), restricted=True)) == ["XDSInvalidRequestException"]


@pytest.mark.parametrize("previous, slots, ss_status", [
    (None, (), "Original"),                                                     # PreviousVersion missing
    ("one", (), "Original"),                                                    # not a number
    ("1", (RimSlot(Slot.ASSOCIATION_PROPAGATION, ("maybe",)),), "Original"),    # propagation yes/no
    ("1", (RimSlot(Slot.ORIGINAL_STATUS, (APPROVED,)),), "Original"),           # slot of another operation
    ("1", (), "Reference"),                                                     # SubmissionSetStatus
    ("1", (), None),                                                            # SubmissionSetStatus missing
])
def test_malformed_member_association_is_XDSMetadataUpdateOperationError(
    reg: RegistryHarness, previous: str | None, slots: tuple[RimSlot, ...], ss_status: str | None
) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id, previous=previous, member_slots=slots, ss_status=ss_status)
    assert codes(reg.update(b)) == ["XDSMetadataUpdateOperationError"]


def test_two_new_versions_of_one_object_in_one_request(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id, entry_id="Document01")
    new_version(b, doc.uuid, doc.unique_id, entry_id="Document02")
    assert sorted(codes(reg.update(b))) == ["XDSMetadataUpdateOperationError", "XDSRegistryDuplicateUniqueIdInMessage"]


def test_changed_uniqueId_is_XDSMetadataIdentifierError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, new_oid())
    assert codes(reg.update(b)) == ["XDSMetadataIdentifierError"]


def test_changed_objectType_is_XDSObjectTypeError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id, object_type=ObjectType.ON_DEMAND_DOCUMENT.value)
    assert "XDSObjectTypeError" in codes(reg.update(b))


def test_patient_change_of_a_linked_document_is_XDSPatientIDReconciliationError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = single_document(doc.patient)
    b.add_folder()
    b.link("Folder01", b.objects[1].id)  # the new folder holds a document of the patient
    assert reg.submit(b).accepted
    other = new_patient_id()
    reg.feed(other)
    fd_doc = reg.sql("select target from associations a join objects o on o.uuid = a.source where o.kind = 'FD'")[0][0]
    uid = reg.sql("select unique_id from objects where uuid = :u", u=fd_doc)[0][0]
    upd = update_request(other)
    new_version(upd, fd_doc, uid, patient_id=other)
    assert codes(reg.update(upd)) == ["XDSPatientIDReconciliationError"]


def test_patient_change_of_an_unlinked_document_is_accepted(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    other = new_patient_id()
    reg.feed(other)
    b = update_request(other)
    new_version(b, doc.uuid, doc.unique_id, patient_id=other)
    assert reg.update(b).accepted
    assert reg.sql("select patient from objects where lid = :l and version = 2", l=doc.uuid)[0][0] == patient_number.number(
        str(PatientKey.parse(other)))


def test_new_version_of_a_deprecated_document_is_XDSMetadataUpdateError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, doc.uuid)
    assert reg.update(b).accepted
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id)
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]


def test_folder_membership_and_relationships_follow_the_new_version(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    f = single_document(doc.patient)
    f.add_folder()
    appendix = f.objects[1].id
    f.relate(appendix, doc.uuid, AssociationType.APPEND)
    assert reg.submit(f).accepted
    # The folder of that submission gains the registered document through SubmitAssociation.
    folder_uuid = reg.sql("select uuid from objects where kind = 'FD'")[0][0]
    add = update_request(doc.patient)
    submit_association(add, folder_uuid, doc.uuid)
    assert reg.update(add).accepted, codes(reg.update(add))
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id)
    out = reg.update(b)
    assert out.accepted
    new_uuid = out.new_versions[0]
    links = {(r[0].rsplit(":", 1)[1], r[1], r[2]) for r in
             reg.sql("select association_type, source, target from associations where source = :u or target = :u", u=new_uuid)}
    apnd_source = reg.sql("select source from associations where target = :u and association_type like '%APND'", u=doc.uuid)[0][0]
    assert ("HasMember", folder_uuid, new_uuid) in links
    assert ("APND", apnd_source, new_uuid) in links


def test_no_propagation_leaves_the_new_version_unlinked(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    f = single_document(doc.patient)
    f.relate(f.objects[1].id, doc.uuid, AssociationType.APPEND)
    assert reg.submit(f).accepted
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id, propagation="no")
    out = reg.update(b)
    assert out.accepted
    rows = reg.sql("select association_type from associations where target = :u or source = :u", u=out.new_versions[0])
    assert [r[0].rsplit(":", 1)[1] for r in rows] == ["HasMember"]  # the SubmissionSet's only


# --- status changes --------------------------------------------------------------------------------------


def test_deprecate_then_approve_again(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, doc.uuid, APPROVED, DEPRECATED)
    assert reg.update(b).accepted
    assert reg.status_of(doc.uuid) == "Deprecated"
    b = update_request(doc.patient)
    status_change(b, doc.uuid, DEPRECATED, APPROVED)
    assert reg.update(b).accepted
    assert reg.status_of(doc.uuid) == "Approved"


def test_original_status_mismatch_is_XDSMetadataUpdateError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, doc.uuid, DEPRECATED, APPROVED)
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]


def test_status_of_an_older_version_is_XDSMetadataUpdateError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id)
    assert reg.update(b).accepted
    b = update_request(doc.patient)
    status_change(b, doc.uuid, DEPRECATED, APPROVED)
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]


def test_status_of_a_submission_set_is_XDSMetadataUpdateError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    ss = reg.sql("select uuid from objects where kind = 'SS'")[0][0]
    b = update_request(doc.patient)
    status_change(b, ss)
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]


def test_status_change_not_from_the_submission_set_is_XDSMetadataUpdateError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, doc.uuid, source=doc.uuid)
    assert "XDSMetadataUpdateError" in codes(reg.update(b))


def test_status_change_without_NewStatus_is_XDSMetadataUpdateOperationError(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    aid = status_change(b, doc.uuid)
    b.replace_object(aid, slots=(RimSlot(Slot.ORIGINAL_STATUS, (APPROVED,)),))
    assert codes(reg.update(b)) == ["XDSMetadataUpdateOperationError"]


def test_status_of_an_unknown_object_is_UnresolvedReferenceException(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, "urn:uuid:6f0b5c7e-1d2a-4c44-9b61-3a5f0e1d2c3b")
    assert codes(reg.update(b)) == ["UnresolvedReferenceException"]


def test_affinity_domain_status_needs_the_profile(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, doc.uuid, APPROVED, ARCHIVED)
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]
    reg.settings = RegisterSettings(PROFILE.extended("dmp-like", statuses=frozenset({ARCHIVED})))
    b = update_request(doc.patient)
    status_change(b, doc.uuid, APPROVED, ARCHIVED)
    assert reg.update(b).accepted
    assert reg.status_of(doc.uuid) == "Archived"


def test_new_version_and_status_change_in_one_request_touch_the_new_version(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id)
    status_change(b, doc.uuid, APPROVED, DEPRECATED)
    assert reg.update(b).accepted
    assert [s for _, _, s in version_rows(reg, doc.uuid)] == ["Deprecated", "Deprecated"]


# --- submitted associations ------------------------------------------------------------------------------


def test_submit_association_between_registered_documents(reg: RegistryHarness) -> None:
    a = Registered(reg)
    second = single_document(a.patient)
    assert reg.submit(second).accepted
    b_doc = reg.sql("select uuid from objects where kind = 'DE' and uuid != :u", u=a.uuid)[0][0]
    b = update_request(a.patient)
    submit_association(b, b_doc, a.uuid, AssociationType.APPEND)
    assert reg.update(b).accepted
    again = update_request(a.patient)
    submit_association(again, b_doc, a.uuid, AssociationType.APPEND)
    assert codes(reg.update(again)) == ["XDSMetadataUpdateError"]  # an Approved one already links them


def test_submit_association_across_patients_is_XDSPatientIDReconciliationError(reg: RegistryHarness) -> None:
    a, other = Registered(reg), Registered(reg)
    b = update_request(a.patient)
    submit_association(b, other.uuid, a.uuid, AssociationType.APPEND)
    assert codes(reg.update(b)) == ["XDSPatientIDReconciliationError"]


def test_submit_association_to_a_deprecated_document_is_XDSMetadataUpdateError(reg: RegistryHarness) -> None:
    a = Registered(reg)
    second = single_document(a.patient)
    assert reg.submit(second).accepted
    b_doc = reg.sql("select uuid from objects where kind = 'DE' and uuid != :u", u=a.uuid)[0][0]
    dep = update_request(a.patient)
    status_change(dep, a.uuid)
    assert reg.update(dep).accepted
    b = update_request(a.patient)
    submit_association(b, b_doc, a.uuid, AssociationType.APPEND)
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]


def test_submit_association_to_an_unknown_object_is_UnresolvedReferenceException(reg: RegistryHarness) -> None:
    a = Registered(reg)
    b = update_request(a.patient)
    submit_association(b, "urn:uuid:6f0b5c7e-1d2a-4c44-9b61-3a5f0e1d2c3b", a.uuid, AssociationType.APPEND)
    assert codes(reg.update(b)) == ["UnresolvedReferenceException"]


def test_deprecate_a_relationship_association(reg: RegistryHarness) -> None:
    a = Registered(reg)
    f = single_document(a.patient)
    f.relate(f.objects[1].id, a.uuid, AssociationType.APPEND)
    assert reg.submit(f).accepted
    apnd = reg.sql("select uuid from associations where association_type like '%APND'")[0][0]
    b = update_request(a.patient)
    status_change(b, apnd)
    assert reg.update(b).accepted
    assert reg.status_of(apnd) == "Deprecated"
    hm = reg.sql("select a.uuid from associations a join objects o on o.uuid = a.source where o.kind = 'SS'")[0][0]
    b = update_request(a.patient)
    status_change(b, hm)
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]  # a SubmissionSet's membership never changes


def test_association_that_is_no_operation_is_XDSMetadataUpdateError(reg: RegistryHarness) -> None:
    a = Registered(reg)
    second = single_document(a.patient)
    assert reg.submit(second).accepted
    b_doc = reg.sql("select uuid from objects where kind = 'DE' and uuid != :u", u=a.uuid)[0][0]
    b = update_request(a.patient)
    b.relate(b_doc, a.uuid, AssociationType.APPEND)  # not wrapped in SubmitAssociation
    assert codes(reg.update(b)) == ["XDSMetadataUpdateError"]


# --- folders ---------------------------------------------------------------------------------------------


def folder_registered(reg: RegistryHarness, with_document: bool = True) -> tuple[str, str, str]:
    patient = new_patient_id()
    reg.feed(patient)
    b = single_document(patient) if with_document else update_request(patient)
    uid = new_oid()
    b.add_folder(unique_id=uid)
    if with_document:
        b.link("Folder01", b.objects[1].id)
    assert reg.submit(b).accepted, reg.submit(b).violations
    return patient, reg.uuid_of(uid), uid


def test_new_folder_version_carries_its_members(reg: RegistryHarness) -> None:
    patient, fd, uid = folder_registered(reg)
    b = update_request(patient)
    new_folder_version(b, fd, uid, title="Renamed")
    out = reg.update(b)
    assert out.accepted, out.violations
    new_fd = out.new_versions[0]
    assert [s for _, _, s in version_rows(reg, fd)] == ["Deprecated", "Approved"]
    assert len(reg.sql("select 1 from associations where source = :s", s=new_fd)) == 1


def test_new_folder_version_without_propagation_is_empty(reg: RegistryHarness) -> None:
    patient, fd, uid = folder_registered(reg)
    b = update_request(patient)
    new_folder_version(b, fd, uid, propagation="no")
    out = reg.update(b)
    assert out.accepted
    assert reg.sql("select 1 from associations where source = :s", s=out.new_versions[0]) == []


def test_folder_wrong_previous_version_is_XDSMetadataVersionError(reg: RegistryHarness) -> None:
    patient, fd, uid = folder_registered(reg)
    b = update_request(patient)
    new_folder_version(b, fd, uid, previous="2")
    assert codes(reg.update(b)) == ["XDSMetadataVersionError"]


def test_empty_folder_may_move_to_another_patient(reg: RegistryHarness) -> None:
    _, fd, uid = folder_registered(reg, with_document=False)
    other = new_patient_id()
    reg.feed(other)
    b = update_request(other)
    new_folder_version(b, fd, uid, patient_id=other)
    assert reg.update(b).accepted


def test_folder_with_members_cannot_move_to_another_patient(reg: RegistryHarness) -> None:
    _, fd, uid = folder_registered(reg)
    other = new_patient_id()
    reg.feed(other)
    b = update_request(other)
    new_folder_version(b, fd, uid, patient_id=other)
    assert codes(reg.update(b)) == ["XDSPatientIDReconciliationError"]


def test_restricted_update_refuses_folders(reg: RegistryHarness) -> None:
    patient, fd, uid = folder_registered(reg)
    b = update_request(patient)
    new_folder_version(b, fd, uid)
    assert codes(reg.update(b, restricted=True)) == ["XDSMetadataUpdateError"]


# --- ITI-92 restricted attributes ------------------------------------------------------------------------


def test_restricted_update_changes_descriptive_metadata(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id, title="New title", confidentiality_codes=(CONF_R,))
    assert reg.update(b, restricted=True).accepted


@pytest.mark.parametrize("change, code", [
    ({"repository_unique_id": "1.2.3.4.5"}, "UnmodifiableMetadataError"),
    ({"source_patient_id": "other^^^&1.2.3.4&ISO"}, "UnmodifiableMetadataError"),
    ({"extra_doc_availability": "urn:ihe:iti:2010:DocumentAvailability:Offline"}, "UnmodifiableMetadataError"),
    ({"new_unique_id": True}, "XDSMetadataIdentifierError"),
    ({"new_patient": True}, "XDSPatientIDReconciliationError"),
])
def test_restricted_update_identity_attributes(reg: RegistryHarness, change: dict[str, object], code: str) -> None:
    doc = Registered(reg)
    patient, uid = doc.patient, doc.unique_id
    kw: dict[str, object] = {}
    if change.get("new_patient"):
        patient = new_patient_id()
        reg.feed(patient)
        kw["patient_id"] = patient
    elif change.get("new_unique_id"):
        uid = new_oid()
    elif "extra_doc_availability" not in change:
        kw.update(change)
    b = update_request(patient)
    new_version(b, doc.uuid, uid, **kw)
    if "extra_doc_availability" in change:
        rim = b.get("Document01")
        b.replace_object("Document01", slots=(*rim.slots, RimSlot(Slot.DOCUMENT_AVAILABILITY, (str(change["extra_doc_availability"]),))))
    assert code in codes(reg.update(b, restricted=True))


def test_restricted_update_refuses_status_changes(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, doc.uuid)
    assert codes(reg.update(b, restricted=True)) == ["UnmodifiableMetadataError"]


def test_restricted_update_of_a_deprecated_latest_version_keeps_it_deprecated(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, doc.uuid)
    assert reg.update(b).accepted
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id, confidentiality_codes=(CONF_R,))
    assert reg.update(b, restricted=True).accepted
    assert [s for _, _, s in version_rows(reg, doc.uuid)] == ["Deprecated", "Deprecated"]


def test_update_with_unknown_patient_is_XDSUnknownPatientId(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    stranger = new_patient_id()
    b = update_request(stranger)
    new_version(b, doc.uuid, doc.unique_id, patient_id=stranger)
    assert codes(reg.update(b)) == ["XDSUnknownPatientId"]


def test_rejected_update_writes_nothing(reg: RegistryHarness) -> None:
    doc = Registered(reg)
    before = reg.count()
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id)
    status_change(b, "urn:uuid:6f0b5c7e-1d2a-4c44-9b61-3a5f0e1d2c3b")
    assert not reg.update(b).accepted
    assert reg.count() == before and reg.status_of(doc.uuid) == "Approved"


# --- version-aware stored queries (ITI TF-2a 3.18.4.1.2.3.5.1 $MetadataLevel) --------------------------


def ids_in(response: bytes, tag: str) -> list[str]:
    from lxml import etree

    root = etree.fromstring(response)
    return [e.get("id", "") for e in root.iter(f"{{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}}{tag}")]


def test_get_documents_by_uniqueId_latest_at_level_1_every_version_at_level_2(reg: RegistryHarness) -> None:
    from xdscore.vocabulary import StoredQueryId as Q

    doc = Registered(reg)
    b = update_request(doc.patient)
    new_version(b, doc.uuid, doc.unique_id)
    new_id = reg.update(b).new_versions[0]
    by_uid = {"$XDSDocumentEntryUniqueId": [doc.unique_id]}
    assert ids_in(reg.ask(Q.GetDocuments, by_uid).response, "ExtrinsicObject") == [new_id]
    level2 = reg.ask(Q.GetDocuments, {**by_uid, "$MetadataLevel": "2"}).response
    assert ids_in(level2, "ExtrinsicObject") == [doc.uuid, new_id]
    assert b'versionName="2"' in level2 and f'lid="{doc.uuid}"'.encode() in level2
    by_lid = reg.ask(Q.GetDocuments, {"$XDSDocumentEntryLogicalID": [doc.uuid], "$MetadataLevel": "2"}).response
    assert ids_in(by_lid, "ExtrinsicObject") == [doc.uuid, new_id]


def test_folder_and_contents_by_uniqueId_per_level(reg: RegistryHarness) -> None:
    from xdscore.vocabulary import StoredQueryId as Q

    patient, fd, uid = folder_registered(reg)
    b = update_request(patient)
    new_folder_version(b, fd, uid, propagation="no")
    new_fd = reg.update(b).new_versions[0]
    one = reg.ask(Q.GetFolderAndContents, {"$XDSFolderUniqueId": uid}).response
    assert ids_in(one, "RegistryPackage") == [new_fd] and ids_in(one, "ExtrinsicObject") == []
    two = reg.ask(Q.GetFolderAndContents, {"$XDSFolderUniqueId": uid, "$MetadataLevel": "2"}).response
    assert ids_in(two, "RegistryPackage") == [fd, new_fd] and len(ids_in(two, "ExtrinsicObject")) == 1


def test_deprecated_association_shows_at_level_2_only(reg: RegistryHarness) -> None:
    from xdscore.vocabulary import StoredQueryId as Q

    a = Registered(reg)
    f = single_document(a.patient)
    f.relate(f.objects[1].id, a.uuid, AssociationType.APPEND)
    assert reg.submit(f).accepted
    apnd = reg.sql("select uuid from associations where association_type like '%APND'")[0][0]
    b = update_request(a.patient)
    status_change(b, apnd)
    assert reg.update(b).accepted
    related = {"$XDSDocumentEntryEntryUUID": [a.uuid], "$AssociationTypes": [AssociationType.APPEND.value]}
    assert ids_in(reg.ask(Q.GetRelatedDocuments, related).response, "Association") == []
    level2 = reg.ask(Q.GetRelatedDocuments, {**related, "$MetadataLevel": "2"}).response
    assert ids_in(level2, "Association") == [apnd] and len(ids_in(level2, "ExtrinsicObject")) == 2


def test_hidden_status_is_returned_only_when_asked_for(reg: RegistryHarness) -> None:
    from xdscore.vocabulary import StoredQueryId as Q

    reg.settings = RegisterSettings(PROFILE.extended("dmp-like", statuses=frozenset({ARCHIVED}), hidden_statuses=frozenset({ARCHIVED})))
    doc = Registered(reg)
    b = update_request(doc.patient)
    status_change(b, doc.uuid, APPROVED, ARCHIVED)
    assert reg.update(b).accepted
    # a Get query cannot name a status: it returns the archived document (dmp-services.md §2b rule 11)
    assert ids_in(reg.ask(Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": [doc.uuid]}).response, "ExtrinsicObject") == [doc.uuid]
    find = {"$XDSDocumentEntryPatientId": doc.patient}
    assert ids_in(reg.ask(Q.FindDocuments, {**find, "$XDSDocumentEntryStatus": [APPROVED]}).response, "ExtrinsicObject") == []
    archived = reg.ask(Q.FindDocuments, {**find, "$XDSDocumentEntryStatus": [ARCHIVED]}).response
    assert ids_in(archived, "ExtrinsicObject") == [doc.uuid] and ARCHIVED.encode() in archived
