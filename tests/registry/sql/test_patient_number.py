"""The 64-bit patient number (`registry.sql.patient_number`): computed from the text key, a number held by one
patient refused to another where a patient enters the registry, and an id whose number another patient holds
finding nothing."""

from __future__ import annotations

import pytest

from harness.builders import single_document
from registry.sql import patient_number, writes
from registry.sql.store import SqlRegistry
from tests.registry.helpers import RegistryHarness, tick
from xdscore.model import PatientKey
from xdscore.vocabulary import StoredQueryId

AA = "1.2.250.1.213.1.4.8"
A, B = PatientKey("A1", AA), PatientKey("B2", AA)
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


def test_the_number_is_64_bits_of_sha256_of_the_text_key() -> None:
    # sha256("A1^^^&1.2.250.1.213.1.4.8&ISO") starts with these 8 bytes (a fixed value: the function is frozen
    # in the stored data, and in migration 0006)
    assert patient_number.number(str(A)) == int.from_bytes(bytes.fromhex(
        __import__("hashlib").sha256(str(A).encode()).hexdigest()[:16]), "big", signed=True)
    assert patient_number.number(str(A)) != patient_number.number(str(B))
    assert -(2**63) <= patient_number.number(str(B)) < 2**63
    assert patient_number.number("") == patient_number.NONE == 0


def test_a_patient_whose_number_another_holds_is_refused_before_anything_is_written() -> None:
    store = SqlRegistry("sqlite://")
    store.migrate()
    same = patient_number.number(str(A))
    with store.write() as tx:
        assert writes.save_patient(tx.conn, A, str(A), {"name": "A"}, tick())
    with pytest.raises(patient_number.PatientNumberCollision, match="same 64-bit key"), store.write() as tx:
        writes.save_patient(tx.conn, B, str(B), {"name": "B"}, tick(), number=lambda _text: same)
    with store.write() as tx:  # A is untouched, B absent; A's own update still goes through
        assert tx.patient(A) is not None and tx.patient(A).demographics == {"name": "A"}  # type: ignore[union-attr]
        assert tx.patient(B) is None
        assert not writes.save_patient(tx.conn, A, str(A), {"name": "A2"}, tick(), number=lambda _text: same)
    with pytest.raises(patient_number.PatientNumberCollision, match="reserved"), store.write() as tx:
        writes.save_patient(tx.conn, B, str(B), {}, tick(), number=lambda _text: patient_number.NONE)
    store.dispose()


def test_an_id_whose_number_is_held_by_another_patient_finds_nothing_and_cannot_submit() -> None:
    """What an unfed id that collides with a fed one sees: here A's row is made to hold another text."""
    reg = RegistryHarness()
    cx = f"A1^^^&{AA}&ISO"
    reg.feed(cx)
    assert reg.submit(single_document(cx)).accepted
    find = {"$XDSDocumentEntryPatientId": cx, "$XDSDocumentEntryStatus": [APPROVED]}
    assert len(reg.ask(StoredQueryId.FindDocuments, find).patients) == 1
    with reg.store.write() as tx:
        tx.conn.exec_driver_sql("UPDATE patients SET key_text = 'Z9^^^&1.2.250.1.213.1.4.8&ISO'")
    outcome = reg.ask(StoredQueryId.FindDocuments, find)
    assert outcome.violations == [] and outcome.patients == [] and b"ExtrinsicObject" not in outcome.response
    rejected = reg.submit(single_document(cx))
    assert not rejected.accepted and [v.code.value for v in rejected.violations] == ["XDSUnknownPatientId"]
    reg.store.dispose()
