"""DMP operations over ITI-57 in the registry (TD3.3a-d): each new version or status change of a DocumentEntry
decided as the DMP operation it is, on the stored entry (registry.access.check_update)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lxml import etree

from harness.builders import DMP_CONF_N, INVISIBLE_PATIENT, MASQUE_PS, dmp_submission
from registry.access import AccessNote, Acting
from registry.app import Registry
from registry.sql.fragments import unpack
from tests.dmp_records import MemoryRecords
from tests.registry.test_access import AUTHOR, DMP_PATIENT, DOCTOR, call, errors, registry, submit, vihf
from xdscore import xmlsafe
from xdscore.access.record import Authorisation, PatientRecord
from xdscore.ebrim import document_entry, rim
from xdscore.model import Association, RimObject, RimSlot, Submission
from xdscore.principal import Principal
from xdscore.vocabulary import NS, Action, AssociationType, DmpStatus, Status

__all__ = ["registry"]
MT = "810000000002"
RECORD = PatientRecord(DMP_PATIENT, medecins_traitants=frozenset({MT}),
                       authorised=(Authorisation(AUTHOR), Authorisation(DOCTOR)))


def stored(reg: Registry, masked: bool = False) -> tuple[str, str]:
    """Register one document (and its signature entry) by the author; the document's entryUUID and lid."""
    codes = (DMP_CONF_N, MASQUE_PS) if masked else (DMP_CONF_N,)
    assert errors(submit(reg, vihf(AUTHOR), confidentiality_codes=codes)) == []
    with reg.store.read() as tx:  # newest first: the signature entry, then its document
        rows = list(tx.conn.exec_driver_sql("SELECT uuid, lid FROM objects WHERE kind = 'DE' ORDER BY seq DESC"))
    return rows[1][0], rows[1][1]


def new_version(reg: Registry, uuid: str, **changes: object) -> Submission:
    """ITI-57's new version of the stored entry `uuid`: the same metadata but `changes`, a new entryUUID."""
    with reg.store.read() as tx:
        [(fragment,)] = list(tx.conn.exec_driver_sql("SELECT fragment FROM objects WHERE uuid = ?", (uuid,)))
    old = document_entry.read(rim.read_object(xmlsafe.parse_bytes(unpack(fragment))))
    new_id = "urn:uuid:7e57a11e-0000-4000-8000-000000000002"
    de = replace(old, entry_uuid=new_id, rim=replace(old.rim, id=new_id), **changes)  # type: ignore[arg-type]
    return Submission(document_entries=(de,), submission_sets=dmp_submission().submission().submission_sets)


def status_change(uuid: str, original: str, new: str) -> Submission:
    sub = dmp_submission().submission()
    link = Association("urn:uuid:0b0e1b0e-0000-4000-8000-000000000001",
                       RimObject(tag="Association", id="urn:uuid:0b0e1b0e-0000-4000-8000-000000000001",
                                 slots=(RimSlot("OriginalStatus", (original,)), RimSlot("NewStatus", (new,)))),
                       AssociationType.UPDATE_AVAILABILITY_STATUS.value, "SubmissionSet01", uuid)
    return Submission(associations=(link,), submission_sets=sub.submission_sets)


def check(reg: Registry, who: Principal | None, sub: Submission) -> list[str]:
    assert reg.access is not None
    reg.access.records = MemoryRecords([RECORD])
    with reg.store.read() as tx:
        return [v.context for v in reg.access.check_update(Acting(who), sub, tx.conn, AccessNote())]


@pytest.mark.parametrize(
    ("who", "masked", "codes", "rule"),
    [
        (vihf(DOCTOR), False, (DMP_CONF_N, MASQUE_PS), None),  # TD3.3a: any PS masks
        (vihf(DOCTOR, access="bris_de_glace"), False, (DMP_CONF_N, MASQUE_PS), "rule 7"),
        (vihf(AUTHOR), True, (DMP_CONF_N,), None),  # unmask its own
        (vihf(MT), True, (DMP_CONF_N,), None),  # the médecin traitant unmasks any
        (vihf(DOCTOR), True, (DMP_CONF_N,), "rule 20"),  # cannot even see it
    ],
)
def test_mask_and_unmask(registry: Registry, who: Principal, masked: bool, codes: tuple[object, ...], rule: str | None) -> None:
    uuid, _ = stored(registry, masked)
    refused = check(registry, who, new_version(registry, uuid, confidentiality_codes=codes))
    assert (rule is None and refused == []) or (rule is not None and rule in refused[0]), refused


def test_other_metadata_changes_are_the_authors(registry: Registry) -> None:
    uuid, _ = stored(registry)
    assert "rule 4" in check(registry, vihf(DOCTOR), new_version(registry, uuid, title="Changed"))[0]
    assert check(registry, vihf(AUTHOR), new_version(registry, uuid, title="Changed")) == []


@pytest.mark.parametrize(
    ("who", "new", "rule"),
    [
        (vihf(AUTHOR), DmpStatus.DELETED.value, None),  # TD3.3c: its own document
        (vihf(DOCTOR), DmpStatus.DELETED.value, "rule 5"),
        (vihf(MT), DmpStatus.DELETED.value, "rule 5"),  # even the MT deletes only its own
        (vihf(MT), DmpStatus.ARCHIVED.value, None),  # TD3.3d: the MT archives any
        (vihf(DOCTOR), DmpStatus.ARCHIVED.value, "rule 6"),
        (None, DmpStatus.ARCHIVED.value, "no anonymous call"),
    ],
)
def test_status_changes(registry: Registry, who: Principal | None, new: str, rule: str | None) -> None:
    uuid, _ = stored(registry)
    refused = check(registry, who, status_change(uuid, Status.APPROVED.value, new))
    assert (rule is None and refused == []) or (rule is not None and rule in refused[0]), refused


def test_iti62_is_for_trusted_systems_only(registry: Registry) -> None:
    """The DMP deletes logically (TD3.3c); a professional's ITI-62 is refused and removes nothing."""
    uuid, _ = stored(registry)
    body = etree.Element(f"{{{NS.LCM}}}RemoveObjectsRequest", nsmap={"lcm": NS.LCM, "rim": NS.RIM})
    etree.SubElement(etree.SubElement(body, f"{{{NS.RIM}}}ObjectRefList"), f"{{{NS.RIM}}}ObjectRef", id=uuid)
    [refusal] = errors(call(registry.on_delete, body, Action.DELETE.value, vihf(AUTHOR)))
    assert "the DMP deletes a document logically" in refusal[1]
    with registry.store.read() as tx:
        assert list(tx.conn.exec_driver_sql("SELECT count(*) FROM objects WHERE uuid = ?", (uuid,))) == [(1,)]


def test_a_document_made_visible_to_the_patient_is_announced(registry: Registry) -> None:
    """TD3.3b by a professional: the stored document (not its signature entry) is listed for the patient's
    notification; nothing for another change, nor for a refused one."""
    assert errors(submit(registry, vihf(AUTHOR), confidentiality_codes=(DMP_CONF_N, INVISIBLE_PATIENT))) == []
    with registry.store.read() as tx:
        [(uuid, fragment)] = list(tx.conn.exec_driver_sql(
            "SELECT uuid, fragment FROM objects WHERE kind = 'DE' ORDER BY seq DESC LIMIT 1 OFFSET 1"))
    unique_id = document_entry.read(rim.read_object(xmlsafe.parse_bytes(unpack(fragment)))).unique_id

    def made_visible(who: Principal, codes: tuple[object, ...]) -> list[str]:
        assert registry.access is not None
        registry.access.records = MemoryRecords([RECORD])
        note = AccessNote()
        with registry.store.read() as tx:
            registry.access.check_update(Acting(who), new_version(registry, uuid, confidentiality_codes=codes), tx.conn, note)
        return [a.unique_id for a in note.made_visible]

    assert made_visible(vihf(DOCTOR), (DMP_CONF_N,)) == [unique_id]
    assert made_visible(vihf(DOCTOR), (DMP_CONF_N, INVISIBLE_PATIENT, MASQUE_PS)) == []  # a mask, still hidden
    assert made_visible(vihf(DOCTOR, access="bris_de_glace"), (DMP_CONF_N,)) == []  # refused (rule 8)
