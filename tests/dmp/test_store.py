"""dmp.sql: the record store on SQLite and PostgreSQL: the migrations match the schema module and go down
and up, a record with its professionals, structures and history is stored and read back, the TD0.4 reads
by professional and by structure, and `record_for` gives the access rules' PatientRecord."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from dmp.model import Actor, Change, HistoryEntry, StoredRecord, Who
from dmp.sql import schema
from dmp.sql.migrate import MIGRATIONS, downgrade, upgrade
from dmp.sql.store import SqlRecords
from registry.sql.migrate import upgrade as registry_upgrade
from tests.dmp.messages import OTHER, PATIENT, cx, key
from xdscore.access.record import ActorKind, AuthorisationStatus, RecordStatus
from xdscore.dmpws.gdp import Name, Person, Relationship
from xdscore.dmpws.vocabulary import AuthorizationMode
from xdsservice.database import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path}/registry.db"


def test_migrations_match_the_schema_beside_the_registry_and_go_down(url: str) -> None:
    engine = make_engine(url)
    registry_upgrade(engine)  # the registry's tables and version table are there too, untouched
    upgrade(engine)
    with engine.connect() as conn:
        ours = set(schema.metadata.tables)  # the registry's tables and both version tables are not ours to compare
        context = MigrationContext.configure(conn, opts={"include_name": lambda name, kind, _p: kind != "table" or
                                                         name in ours})
        assert compare_metadata(context, schema.metadata) == []
        tables = set(inspect(conn).get_table_names())
    assert {"dmp_records", "dmp_actors", "dmp_history", MIGRATIONS.version_table, "alembic_version"} <= tables
    downgrade(engine, "base")
    with engine.connect() as conn:
        left = set(inspect(conn).get_table_names())
    assert not left & set(schema.metadata.tables) and "objects" in left
    upgrade(engine)
    engine.dispose()


NOW = "20261201120000"


def _actor(actor_id: str, kind: ActorKind = ActorKind.PROFESSIONAL, **kw: object) -> Actor:
    return Actor(kind, actor_id, first_name="MAX", last_name="LIBRE", specialities=(("G15_10/SM26", "Médecin"),),
                 structure_id="499900063480001", authorised_at=NOW, last_action_at=NOW, **kw)  # type: ignore[arg-type]


def test_a_record_its_actors_and_history_round_trip(url: str) -> None:
    store = SqlRecords(make_engine(url))
    store.migrate()
    person = Person(Name("PATB-QUATRE", ("LAURENCE",), "MME"), "F", "19070525",
                    relationships=(Relationship("FTH", Name("REPLEG", ("Jean",)), id="153078987658513"),))
    record = StoredRecord(key(PATIENT), opposes_centre_15=True, person=person, created_at=NOW, updated_at=NOW)
    with store.write(key(PATIENT)) as tx:
        tx.save(record)
        tx.save_actor(key(PATIENT), _actor("899900063480", medecin_traitant=True))
        tx.save_actor(key(PATIENT), _actor("10B0012345", ActorKind.STRUCTURE))
        tx.save_actor(key(PATIENT), Actor(ActorKind.PROFESSIONAL, "810000000001", AuthorizationMode.INTERDITE))
        tx.log(HistoryEntry(key(PATIENT), NOW, Change.CREATED, Who("899900063480", "MAX LIBRE", "TD1.1"), {"a": 1}))
    with store.write(key(PATIENT)) as tx:  # an update replaces, never duplicates
        tx.save(record)
        tx.save_actor(key(PATIENT), _actor("899900063480", medecin_traitant=True, last_access_at="20261202000000"))
    with store.read() as tx:
        assert tx.record(key(PATIENT)) == record
        actors = tx.actors(key(PATIENT))
        assert [(a.actor_id, a.kind, a.mode, a.medecin_traitant) for a in actors] == [
            ("899900063480", ActorKind.PROFESSIONAL, AuthorizationMode.ACTIVE, True),
            ("10B0012345", ActorKind.STRUCTURE, AuthorizationMode.ACTIVE, False),
            ("810000000001", ActorKind.PROFESSIONAL, AuthorizationMode.INTERDITE, False)]
        assert actors[0].specialities == (("G15_10/SM26", "Médecin"),) and actors[0].last_access_at == "20261202000000"
        assert tx.history(key(PATIENT)) == [
            HistoryEntry(key(PATIENT), NOW, Change.CREATED, Who("899900063480", "MAX LIBRE", "TD1.1"), {"a": 1})]
        assert tx.record(key(OTHER)) is None
    view = store.record_for(cx(PATIENT))  # the CX with ^NH names the same patient
    assert view is not None and view.status is RecordStatus.OPEN and view.opposes_centre_15
    assert view.medecins_traitants == {"899900063480"} and view.blocked == {"810000000001"}
    assert {(a.actor_id, a.actor_kind) for a in view.authorised} == {
        ("899900063480", ActorKind.PROFESSIONAL), ("10B0012345", ActorKind.STRUCTURE)}
    assert [(r.person_id, r.name, r.relationship) for r in view.legal_representatives] == [
        ("153078987658513", "Jean REPLEG", "FTH")]
    at = datetime(2026, 12, 2, tzinfo=UTC)
    assert view.authorisation_of(at, "810000000001") is AuthorisationStatus.FORBIDDEN
    assert view.authorisation_of(at, "", "10B0012345") is AuthorisationStatus.VALID
    assert store.record_for(cx(OTHER)) is None
    store.engine.dispose()


def test_authorisations_expire_with_the_platform_lifetime(url: str) -> None:
    store = SqlRecords(make_engine(url), authorisation_days=30)
    store.migrate()
    with store.write() as tx:
        tx.save(StoredRecord(key(PATIENT), created_at=NOW, updated_at=NOW))
        tx.save_actor(key(PATIENT), _actor("899900063480"))
    view = store.record_for(cx(PATIENT))
    assert view is not None
    granted = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert view.authorisation_of(granted + timedelta(days=29), "899900063480") is AuthorisationStatus.VALID
    assert view.authorisation_of(granted + timedelta(days=30), "899900063480") is AuthorisationStatus.EXPIRED
    store.engine.dispose()


def test_records_of_a_professional_and_of_a_structure(url: str) -> None:
    store = SqlRecords(make_engine(url))
    store.migrate()
    with store.write() as tx:
        for patient in (PATIENT, OTHER):
            tx.save(StoredRecord(key(patient), created_at=NOW, updated_at=NOW, status=RecordStatus.OPEN))
        tx.save_actor(key(PATIENT), _actor("899900063480"))
        tx.save_actor(key(OTHER), _actor("899900000002"))  # another doctor of the same structure
        tx.save_actor(key(OTHER), Actor(ActorKind.PROFESSIONAL, "899900063480", AuthorizationMode.INTERDITE))
    with store.read() as tx:
        mine = tx.records_of(ActorKind.PROFESSIONAL, ["899900063480"])
        assert [(r.patient, a.actor_id) for r, a in mine] == [(key(PATIENT), "899900063480")]  # blocked: not listed
        by_structure = tx.records_of(ActorKind.STRUCTURE, ["499900063480001"], structure_id="499900063480001")
        assert sorted(r.patient for r, _ in by_structure) == sorted([key(PATIENT), key(OTHER)])
        assert tx.records_of(ActorKind.PROFESSIONAL, []) == []
    store.engine.dispose()


def test_another_process_reads_the_registry_s_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository's access rules open the registry's database: `dmp.sql.store:from_environment`."""
    from dmp.sql.store import from_environment

    monkeypatch.delenv("XDS_REGISTRY_DATABASE_URL", raising=False)
    monkeypatch.delenv("XDS_REGISTRY_DATA_DIR", raising=False)
    monkeypatch.setenv("XDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XDS_DMP_AUTHORIZATION_DAYS", "7")
    writer = SqlRecords(make_engine(f"sqlite:///{tmp_path}/registry/registry.db"))
    writer.migrate()
    with writer.write() as tx:
        tx.save(StoredRecord(key(PATIENT), status=RecordStatus.CLOSED, created_at=NOW, updated_at=NOW))
    reader = from_environment()
    view = reader.record_for(cx(PATIENT))
    assert reader.authorisation_days == 7 and view is not None and view.status is RecordStatus.CLOSED
    writer.engine.dispose()
    reader.engine.dispose()
