"""ITI-42 transaction: the stateful rules and what gets written, on a real SQL store, without HTTP."""

from __future__ import annotations

import hashlib
import threading

import pytest

from harness.builders import SubmissionBuilder, extra_slot, new_oid, new_patient_id, single_document
from registry.register import RegisterSettings
from tests.registry.helpers import RegistryHarness, tick
from xdscore.model import PatientKey
from xdscore.profiles.ihe import PROFILE
from xdscore.vocabulary import UUID, AssociationType, ErrorCode, Severity

MD = ErrorCode.XDSRegistryMetadataError


@pytest.fixture
def reg() -> RegistryHarness:
    return RegistryHarness()


@pytest.fixture
def patient(reg: RegistryHarness) -> str:
    pid = new_patient_id()
    reg.feed(pid)
    return pid


def codes(outcome) -> list[ErrorCode]:  # type: ignore[no-untyped-def]
    return [v.code for v in outcome.violations]


def doc_uid(b: SubmissionBuilder, entry: str = "Document01") -> str:
    uid = b.get(entry).external_id(UUID.DE_UNIQUE_ID)
    assert uid
    return uid


def registered_doc(reg: RegistryHarness, patient: str, **changes: object) -> str:
    b = single_document(patient, **changes)
    assert reg.submit(b).accepted
    return reg.uuid_of(doc_uid(b))


def test_accepts_and_stores_everything(reg: RegistryHarness, patient: str) -> None:
    b = single_document(patient)
    b.add_folder()
    b.link("Folder01", "Document01", None)
    out = reg.submit(b)
    assert out.accepted and out.violations == []
    assert [reg.count(k) for k in ("SS", "DE", "FD", "AS")] == [1, 1, 1, 3]
    uuid = reg.uuid_of(doc_uid(b))
    assert uuid.startswith("urn:uuid:") and reg.status_of(uuid) == "Approved"
    xml = reg.stored_xml("uuid = :u", u=uuid)
    assert f'lid="{uuid}"' in xml and 'versionName="1"' in xml and "Document01" not in xml


def test_unknown_patient(reg: RegistryHarness) -> None:
    out = reg.submit(single_document(new_patient_id()))
    assert codes(out) == [ErrorCode.XDSUnknownPatientId]
    assert reg.count() == 0


def test_patient_known_by_id_and_authority_whatever_other_components(reg: RegistryHarness) -> None:
    reg.feed("ABC123^^^HOSP&1.2.3.4.5&ISO^PI")
    assert reg.submit(single_document("ABC123^^^&1.2.3.4.5&ISO")).accepted


def test_merged_patient_is_unknown(reg: RegistryHarness, patient: str) -> None:
    survivor = new_patient_id()
    reg.feed(survivor)
    with reg.store.write() as tx:
        tx.merge_patient(PatientKey.parse(patient), PatientKey.parse(survivor), tick())  # type: ignore[arg-type]
    assert codes(reg.submit(single_document(patient))) == [ErrorCode.XDSUnknownPatientId]
    assert reg.submit(single_document(survivor)).accepted


def test_structural_errors_come_before_stateful_ones(reg: RegistryHarness) -> None:
    b = single_document(new_patient_id(), mime_type=None)
    assert codes(reg.submit(b)) == [MD]


def test_preassigned_uuid_cannot_be_reused(reg: RegistryHarness, patient: str) -> None:
    """NIST 15806: a submission with pre-assigned UUIDs cannot be submitted twice."""
    fixed = "urn:uuid:0a1b2c3d-0000-4000-8000-000000000001"
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_document(fixed)
    assert reg.submit(b).accepted
    b2 = SubmissionBuilder(patient).with_submission_set()
    b2.add_document(fixed)
    assert codes(reg.submit(b2)) == [MD]


def test_resubmission_same_hash_is_accepted(reg: RegistryHarness, patient: str) -> None:
    """NIST 12004: same uniqueId, same hash and size: a legal resubmission."""
    uid = new_oid()
    assert reg.submit(single_document(patient, unique_id=uid)).accepted
    out = reg.submit(single_document(patient, unique_id=uid, hash=hashlib.sha1(b"hello").hexdigest().upper()))
    assert out.accepted
    assert len(reg.sql("select uuid from objects where unique_id = :u", u=uid)) == 2


def test_resubmission_different_hash(reg: RegistryHarness, patient: str) -> None:
    uid = new_oid()
    assert reg.submit(single_document(patient, unique_id=uid)).accepted
    out = reg.submit(single_document(patient, unique_id=uid, content=b"other content"))
    assert codes(out) == [ErrorCode.XDSNonIdenticalHash]


def test_resubmission_different_size(reg: RegistryHarness, patient: str) -> None:
    uid = new_oid()
    assert reg.submit(single_document(patient, unique_id=uid)).accepted
    assert codes(reg.submit(single_document(patient, unique_id=uid, size="999"))) == [ErrorCode.XDSNonIdenticalSize]


def test_submission_set_unique_id_reused(reg: RegistryHarness, patient: str) -> None:
    uid = new_oid()
    b = SubmissionBuilder(patient).with_submission_set(unique_id=uid)
    b.add_document()
    assert reg.submit(b).accepted
    b2 = SubmissionBuilder(patient).with_submission_set(unique_id=uid)
    b2.add_document()
    assert codes(reg.submit(b2)) == [ErrorCode.XDSDuplicateUniqueIdInRegistry]


def test_folder_unique_id_reused(reg: RegistryHarness, patient: str) -> None:
    uid = new_oid()
    b = single_document(patient)
    b.add_folder(unique_id=uid)
    assert reg.submit(b).accepted
    b2 = single_document(patient)
    b2.add_folder(unique_id=uid)
    assert codes(reg.submit(b2)) == [ErrorCode.XDSDuplicateUniqueIdInRegistry]


def test_all_or_nothing(reg: RegistryHarness, patient: str) -> None:
    """NIST 12084: one bad DocumentEntry among two: nothing is stored."""
    b = single_document(patient)
    b.add_document("Document02", language_code=None)
    assert codes(reg.submit(b)) == [MD]
    assert reg.count() == 0


def test_replace_deprecates_original_and_its_addenda_and_moves_folder_membership(reg: RegistryHarness, patient: str) -> None:
    b = single_document(patient)
    b.add_folder()
    b.link("Folder01", "Document01", None)
    reg.submit(b, now="20250101000000")
    original = reg.uuid_of(doc_uid(b))
    folder_uuid = reg.sql("select uuid from objects where kind='FD'")[0][0]

    appendix = SubmissionBuilder(patient).with_submission_set()
    appendix.add_document("Addendum")
    appendix.relate("Addendum", original, AssociationType.APPEND)
    assert reg.submit(appendix).accepted
    addendum = reg.uuid_of(doc_uid(appendix, "Addendum"))

    rplc = SubmissionBuilder(patient).with_submission_set()
    rplc.add_document("Replacement")
    rplc.relate("Replacement", original, AssociationType.REPLACE)
    out = reg.submit(rplc, now="20250202000000")
    assert out.accepted, out.violations
    replacement = reg.uuid_of(doc_uid(rplc, "Replacement"))

    assert reg.status_of(original) == "Deprecated"
    assert reg.status_of(addendum) == "Deprecated"
    assert reg.status_of(replacement) == "Approved"
    members = reg.sql(
        "select target from associations where source = :f and association_type like '%HasMember'", f=folder_uuid
    )
    assert {m[0] for m in members} == {original, replacement}
    assert reg.sql("select last_update_time from folders")[0][0] == "20250202000000"


def test_transform_replace_also_deprecates(reg: RegistryHarness, patient: str) -> None:
    original = registered_doc(reg, patient)
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_document("New")
    b.relate("New", original, AssociationType.TRANSFORM_AND_REPLACE)
    assert reg.submit(b).accepted
    assert reg.status_of(original) == "Deprecated"


@pytest.mark.parametrize("atype", [AssociationType.REPLACE, AssociationType.APPEND, AssociationType.TRANSFORM])
def test_relationship_to_deprecated_document(reg: RegistryHarness, patient: str, atype: AssociationType) -> None:
    original = registered_doc(reg, patient)
    first = SubmissionBuilder(patient).with_submission_set()
    first.add_document("R1")
    first.relate("R1", original, AssociationType.REPLACE)
    assert reg.submit(first).accepted
    second = SubmissionBuilder(patient).with_submission_set()
    second.add_document("R2")
    second.relate("R2", original, atype)
    assert codes(reg.submit(second)) == [ErrorCode.XDSRegistryDeprecatedDocumentError]


def test_relationship_to_unknown_document(reg: RegistryHarness, patient: str) -> None:
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_document()
    b.relate("Document01", "urn:uuid:0a1b2c3d-0000-4000-8000-00000000dead", AssociationType.APPEND)
    assert codes(reg.submit(b)) == [ErrorCode.UnresolvedReferenceException]


def test_relationship_to_other_patient(reg: RegistryHarness, patient: str) -> None:
    """NIST 11998: the replacement must have the original's patientId."""
    other = new_patient_id()
    reg.feed(other)
    original = registered_doc(reg, other)
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_document()
    b.relate("Document01", original, AssociationType.REPLACE)
    assert codes(reg.submit(b)) == [ErrorCode.XDSPatientIdDoesNotMatch]
    assert reg.status_of(original) == "Approved"


def test_relationship_target_must_be_a_document(reg: RegistryHarness, patient: str) -> None:
    b = single_document(patient)
    b.add_folder()
    assert reg.submit(b).accepted
    folder_uuid = reg.sql("select uuid from objects where kind='FD'")[0][0]
    b2 = SubmissionBuilder(patient).with_submission_set()
    b2.add_document()
    b2.relate("Document01", folder_uuid, AssociationType.APPEND)
    assert codes(reg.submit(b2)) == [MD]


def test_submission_set_signature_is_registered(reg: RegistryHarness, patient: str) -> None:
    """ITI TF-1 37 (DSG): `signs` from the signature's DocumentEntry to its own SubmissionSet is kept."""
    b = single_document(patient)
    b.add_document("Signature01")
    b.link("Signature01", b.ss_id, "Original", AssociationType.SIGNS)
    out = reg.submit(b)
    assert out.accepted, out.violations
    ss_uuid = reg.sql("select uuid from objects where kind='SS'")[0][0]
    signature = reg.uuid_of(doc_uid(b, "Signature01"))
    stored = reg.sql("select uuid from objects where kind='AS'")
    xml = "".join(reg.stored_xml("uuid = :u", u=row[0]) for row in stored)
    assert f'sourceObject="{signature}"' in xml and f'targetObject="{ss_uuid}"' in xml and ":signs" in xml


def test_signs_an_earlier_submission_set_is_refused(reg: RegistryHarness, patient: str) -> None:
    assert reg.submit(single_document(patient)).accepted
    earlier = reg.sql("select uuid from objects where kind='SS'")[0][0]
    b = single_document(patient)
    b.add_document("Signature01")
    b.relate("Signature01", earlier, AssociationType.SIGNS)
    out = reg.submit(b)
    assert codes(out) == [MD] and "is not a DocumentEntry" in out.violations[0].context


def test_existing_document_added_to_existing_folder(reg: RegistryHarness, patient: str) -> None:
    """NIST 12326 / 12323: membership added later bumps the Folder's lastUpdateTime."""
    doc = registered_doc(reg, patient)
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_folder()
    reg.submit(b, now="20250101000000")
    folder_uuid = reg.sql("select uuid from objects where kind='FD'")[0][0]
    link = SubmissionBuilder(patient).with_submission_set()
    assoc = link.link(folder_uuid, doc, None)
    link.link(link.ss_id, assoc, None)
    out = reg.submit(link, now="20250303000000")
    assert out.accepted, out.violations
    assert reg.sql("select last_update_time from folders")[0][0] == "20250303000000"


def test_folder_membership_across_patients(reg: RegistryHarness, patient: str) -> None:
    """NIST 12002: a document of another patient cannot join the folder."""
    other = new_patient_id()
    reg.feed(other)
    doc = registered_doc(reg, other)
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_folder()
    b.link("Folder01", doc, None)
    assert codes(reg.submit(b)) == [ErrorCode.XDSPatientIdDoesNotMatch]


def test_reference_to_existing_document(reg: RegistryHarness, patient: str) -> None:
    doc = registered_doc(reg, patient)
    b = SubmissionBuilder(patient).with_submission_set()
    b.link(b.ss_id, doc, "Reference")
    assert reg.submit(b).accepted


def test_extra_metadata_kept(reg: RegistryHarness, patient: str) -> None:
    b = single_document(patient, extra_slots=(extra_slot("urn:example:extra", "v1", "v2"),))
    out = reg.submit(b)
    assert out.violations == []
    xml = reg.stored_xml("kind = 'DE'")
    assert 'name="urn:example:extra"' in xml and "v2" in xml


def test_extra_metadata_dropped_with_warning() -> None:
    reg = RegistryHarness(settings=RegisterSettings(PROFILE, keep_extra_metadata=False))
    pid = new_patient_id()
    reg.feed(pid)
    out = reg.submit(single_document(pid, extra_slots=(extra_slot("urn:example:extra", "v"),)))
    assert out.accepted
    assert codes(out) == [ErrorCode.XDSExtraMetadataNotSaved]
    assert out.violations[0].severity is Severity.WARNING
    assert "urn:example:extra" not in reg.stored_xml("kind = 'DE'")


def _race(reg: RegistryHarness, builders: list[SubmissionBuilder]) -> list[bool]:
    results: list[bool] = [False] * len(builders)
    barrier = threading.Barrier(len(builders))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = reg.submit(builders[i]).accepted

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(builders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "citus"])
def test_concurrent_submissions_of_one_unique_id(backend: str, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    """Eight sources race to register one uniqueId with different content: exactly one wins."""
    url = f"sqlite:///{tmp_path}/r.db" if backend == "sqlite" else request.getfixturevalue(
        {"postgresql": "pg_url", "citus": "citus_url"}[backend])
    reg = RegistryHarness(url)
    pid = new_patient_id()
    reg.feed(pid)
    uid = new_oid()
    builders = [single_document(pid, unique_id=uid, content=f"version {i}".encode()) for i in range(8)]
    assert sum(_race(reg, builders)) == 1
    assert len(reg.sql("select uuid from objects where unique_id = :u", u=uid)) == 1
    ss_uid = new_oid()
    builders = [SubmissionBuilder(pid).with_submission_set(unique_id=ss_uid) for _ in range(8)]
    for b in builders:
        b.add_document()
    assert sum(_race(reg, builders)) == 1
    reg.store.dispose()


@pytest.mark.parametrize("keep_extra", [True, False])
def test_final_ids_give_the_object_a_fresh_read_gives(keep_extra: bool) -> None:
    """register() sets the final ids on the typed objects it read (with_final_ids) instead of reading them
    again from the finalized RimObject (retype): both must give equal objects, for every kind."""
    from registry.app import new_uuid
    from registry.register import finalize, retype, with_final_ids
    from xdscore.rules.submission import is_symbolic

    pid = new_patient_id()
    b = single_document(pid, extra_slots=(extra_slot("urn:example:extra", "v"),))
    b.add_document()
    b.add_folder()
    b.link("Folder01", "Document01", None)
    b.relate("Document02", "Document01", AssociationType.APPEND)
    sub = b.submission()
    id_map = {o.entry_uuid: new_uuid() for o in sub.all_objects() if is_symbolic(o.entry_uuid)}
    kinds = set()
    for obj in sub.all_objects():
        rim, _ = finalize(obj, id_map, new_uuid, keep_extra, "20250101000000")
        assert with_final_ids(obj, rim) == retype(obj.kind, rim)
        kinds.add(obj.kind)
    assert len(kinds) == 4
