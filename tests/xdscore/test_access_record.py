"""The DMP patient record model: TD0.2's authorisation answer, roles, patient keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from xdscore.access.record import (
    ActorKind,
    Authorisation,
    AuthorisationStatus,
    LegalRepresentative,
    PatientRecord,
    RecordStatus,
    patient_key,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PS, OTHER, MT, STRUCT = "899900063480", "810000000001", "810000000002", "499900063480001"


def record(**changes: object) -> PatientRecord:
    base = PatientRecord(
        patient_id="207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH",
        medecins_traitants=frozenset({MT}),
        authorised=(
            Authorisation(PS, granted_at=NOW - timedelta(days=10)),
            Authorisation(OTHER, expires_at=NOW - timedelta(days=1)),
            Authorisation(STRUCT, ActorKind.STRUCTURE),
        ),
        blocked=frozenset({"810000000009"}),
        legal_representatives=(LegalRepresentative("153078987658513^^^&1.2.250.1.213.1.4.10&ISO^NH"),),
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("professional", "structure", "expected"),
    [
        (PS, "", AuthorisationStatus.VALID),
        (OTHER, "", AuthorisationStatus.EXPIRED),
        ("810000000003", "", AuthorisationStatus.NONE),
        ("810000000009", "", AuthorisationStatus.FORBIDDEN),
        (MT, "", AuthorisationStatus.VALID),
        ("", STRUCT, AuthorisationStatus.VALID),
        ("810000000003", STRUCT, AuthorisationStatus.VALID),
        ("", "", AuthorisationStatus.NONE),
    ],
)
def test_authorisation_of(professional: str, structure: str, expected: AuthorisationStatus) -> None:
    assert record().authorisation_of(NOW, professional, structure) is expected


def test_blocked_wins_over_authorisation() -> None:
    assert record(blocked=frozenset({PS})).authorisation_of(NOW, PS) is AuthorisationStatus.FORBIDDEN
    assert record(blocked=frozenset({MT})).authorisation_of(NOW, MT) is AuthorisationStatus.FORBIDDEN


def test_roles_and_status() -> None:
    r = record()
    assert r.is_open and not record(status=RecordStatus.CLOSED).is_open
    assert r.is_medecin_traitant(MT) and not r.is_medecin_traitant(PS) and not r.is_medecin_traitant("")
    assert r.is_legal_representative("153078987658513^^^&1.2.250.1.213.1.4.10&ISO^NH")
    assert not r.is_legal_representative("")
    assert r.is_blocked("810000000009") and not r.is_blocked(PS)


def test_patient_key_ignores_type_code_and_spelling() -> None:
    key = "207058575627097^^^&1.2.250.1.213.1.4.10&ISO"
    assert patient_key("207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH") == key
    assert patient_key("207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH^^20100907") == key
    assert patient_key("207058575627097^^^1.2.250.1.213.1.4.10") == key
    assert patient_key("207058575627097^^^&1.2.250.1.213.1.4.11&ISO") != key
