"""The registry's tables keyed by patient: hash-partitioned on PostgreSQL, distributed and co-located on Citus
(`registry.sql.schema`, migration 0005); identifiers found through `registry_ids`; a patient's query routed to
one shard; uniqueIds unique across patients when submissions of different patients race."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from harness.builders import CONF_N, INVISIBLE_PATIENT, SubmissionBuilder, new_oid, new_patient_id, single_document
from registry import announce
from registry.sql import patient_number, queries, schema
from registry.sql.migrate import downgrade, upgrade
from tests.registry.helpers import RegistryHarness
from tests.registry.test_register import _race
from xdscore.access.decide import DEFAULT_POLICY
from xdscore.clock import dtm
from xdscore.model import PatientKey
from xdsservice.database import make_engine

PATIENT_TABLES = [t.name for t in schema.PATIENT_TABLES]


def _driver_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_on_postgresql_every_table_is_hash_partitioned_by_its_key(pg_url: str) -> None:
    RegistryHarness(pg_url).store.dispose()
    with psycopg.connect(_driver_url(pg_url)) as conn:
        keys = dict(conn.execute(
            "SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        ).fetchall())
    assert keys == {**dict.fromkeys(PATIENT_TABLES, "HASH (patient)"), "registry_ids": "HASH (ident)"}


@pytest.fixture
def citus(citus_url: str) -> RegistryHarness:
    return RegistryHarness(citus_url)


def test_on_citus_every_patient_table_is_distributed_by_patient_and_colocated(citus: RegistryHarness) -> None:
    rows = citus.sql("SELECT logicalrelid::text AS t, column_to_column_name(logicalrelid, partkey) AS c, colocationid AS g"
                     " FROM pg_dist_partition")
    by_table = {r[0]: (r[1], r[2]) for r in rows}
    assert {name: by_table[name][0] for name in PATIENT_TABLES} == dict.fromkeys(PATIENT_TABLES, "patient")
    assert len({by_table[name][1] for name in PATIENT_TABLES}) == 1  # one co-location group
    assert by_table["registry_ids"][0] == "ident"
    citus.store.dispose()


def _worker_of(reg: RegistryHarness, table: str, key: int) -> int:
    return int(reg.sql("SELECT nodeport FROM citus_shards WHERE shardid = get_shard_id_for_distribution_column(CAST(:t AS regclass), CAST(:k AS bigint))",
                       t=table, k=key)[0][0])


def _number(pid: str) -> int:
    key = PatientKey.parse(pid)
    assert key is not None
    return patient_number.of(key)


def _spread(reg: RegistryHarness, n: int) -> list[str]:
    """n new patient ids whose rows land on both workers (ids are random: draw until they do)."""
    while True:
        patients = [new_patient_id() for _ in range(n)]
        if len({_worker_of(reg, "objects", _number(p)) for p in patients}) == 2:
            return patients


def test_on_citus_a_patients_rows_live_on_one_worker_and_its_query_is_routed_there(citus: RegistryHarness) -> None:
    pid = new_patient_id()
    citus.feed(pid)
    b = single_document(pid)
    b.add_folder("Folder01", unique_id=new_oid())
    assert citus.submit(b).accepted
    patient = _number(pid)
    workers = {_worker_of(citus, name, patient) for name in PATIENT_TABLES}
    assert len(workers) == 1
    counts = {name: citus.sql(f"SELECT count(*) FROM {name} WHERE patient = :p", p=patient)[0][0] for name in PATIENT_TABLES}
    # SubmissionSet, DocumentEntry, Folder and their two HasMember associations
    assert counts["objects"] == 5 and counts["documents"] == 1 and counts["associations"] == 2 and counts["folders"] == 1
    plan = "\n".join(r[0] for r in citus.sql(
        "EXPLAIN SELECT o.uuid FROM objects o JOIN documents d ON d.patient = o.patient AND d.uuid = o.uuid"
        " WHERE o.patient = :p AND o.kind = 'DE' ORDER BY o.seq LIMIT 101", p=patient))
    assert "Task Count: 1" in plan, plan
    # the registry's own FindDocuments statement, with its check of the patient's text key (patient_number)
    stmt = queries._documents_statement(("patient", "patient_text", "statuses", "class_codes"), (0, 0, 0), 0).limit(101)
    sql = stmt.params(patient=patient, patient_text=str(PatientKey.parse(pid)), statuses=[APPROVED], class_codes=["c^^s"])
    with citus.store.engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(sql.compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))))
    assert "Task Count: 1" in plan and "patients_" in plan, plan
    citus.store.dispose()


def test_on_citus_get_by_id_finds_the_patient_through_registry_ids(citus: RegistryHarness) -> None:
    pid = new_patient_id()
    citus.feed(pid)
    b = single_document(pid)
    assert citus.submit(b).accepted
    patient = _number(pid)
    uuid, unique_id = citus.sql("SELECT uuid, unique_id FROM objects WHERE patient = :p AND kind = 'DE'", p=patient)[0]
    assert citus.sql("SELECT kind, patient FROM registry_ids WHERE ident = :u", u=uuid) == [("U", patient)]
    assert citus.sql("SELECT kind, patient FROM registry_ids WHERE ident = :u", u=unique_id) == [("D", patient)]
    with citus.store.read() as reader:
        assert {u: r.patient for u, r in reader.refs([uuid]).items()} == {uuid: str(PatientKey.parse(pid))}
    citus.store.dispose()


def test_on_citus_the_lookup_table_keeps_an_entry_uuid_unique_across_patients(citus: RegistryHarness) -> None:
    """The last line of defence under the advisory locks: a SubmissionSet uniqueId (or an entryUUID) held by
    one patient cannot be given to another, whichever shards their rows are on."""
    engine = citus.store.engine
    insert = text("INSERT INTO registry_ids (ident, kind, patient) VALUES (:i, :k, :p)")
    with engine.begin() as conn:
        conn.execute(insert, {"i": "1.2.3.4", "k": "S", "p": 1})
        conn.execute(insert, {"i": "1.2.3.5", "k": "D", "p": 1})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"i": "1.2.3.4", "k": "S", "p": 2})
    with engine.begin() as conn:  # a DocumentEntry uniqueId may be held twice (resubmission): the rules decide
        conn.execute(insert, {"i": "1.2.3.5", "k": "D", "p": 2})
    citus.store.dispose()


def test_on_citus_racing_submissions_of_different_patients_keep_a_submission_set_unique_id_unique(
    citus: RegistryHarness,
) -> None:
    patients = _spread(citus, 6)
    for pid in patients:
        citus.feed(pid)
    ss_uid = new_oid()
    builders = []
    for pid in patients:
        b = SubmissionBuilder(pid).with_submission_set(unique_id=ss_uid)
        b.add_document()
        builders.append(b)
    assert sum(_race(citus, builders)) == 1
    assert len(citus.sql("SELECT patient FROM registry_ids WHERE ident = :u", u=ss_uid)) == 1
    assert len(citus.sql("SELECT uuid FROM objects WHERE unique_id = :u", u=ss_uid)) == 1
    doc_uid = new_oid()  # one DocumentEntry uniqueId, different content, different patients
    builders = [single_document(pid, unique_id=doc_uid, content=f"version {i}".encode()) for i, pid in enumerate(patients)]
    assert sum(_race(citus, builders)) == 1
    assert len(citus.sql("SELECT uuid FROM objects WHERE unique_id = :u", u=doc_uid)) == 1
    citus.store.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "citus"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/registry.db"
    return str(request.getfixturevalue({"postgresql": "pg_url", "citus": "citus_url"}[request.param]))


APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
P = "p1^^^&1.2.250.1.213.1.4.8&ISO"
V4_ROWS = {  # a registry as revision 0004 left it: one submission of one document in a folder, a version 2
    "patients": [("p1", "1.2.250.1.213.1.4.8", P, "{}", None, "20250101000000")],
    "objects": [
        ("u-ss", "SS", "u-ss", 1, APPROVED, P, "1.1", None),
        ("u-de", "DE", "u-de", 1, APPROVED, P, "1.2", "stable"),
        ("u-fd", "FD", "u-fd", 1, APPROVED, P, "1.3", None),
        ("u-as", "AS", "u-as", 1, APPROVED, None, None, None),
        ("u-de2", "DE", "u-de", 2, APPROVED, P, "1.2", "stable"),
    ],
    "documents": [("u-de", "c^^s"), ("u-de2", "c^^s")],
    "associations": [("u-as", "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember", "u-ss", "u-de")],
    "dmp_announcements": [("u-de", "20250101000000")],
}


def _fill_v4(conn) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("INSERT INTO patients (pid, authority, cx, demographics, merged_into, updated_at)"
                      " VALUES (:a, :b, :c, :d, :e, :f)"), [dict(zip("abcdef", r, strict=True)) for r in V4_ROWS["patients"]])
    conn.execute(text("INSERT INTO objects (uuid, kind, lid, version, status, patient, unique_id, object_type, fragment,"
                      " registered_at) VALUES (:a, :b, :c, :d, :e, :f, :g, :h, :x, '20250101000000')"),
                 [{**dict(zip("abcdefgh", r, strict=True)), "x": b"\x01"} for r in V4_ROWS["objects"]])
    conn.execute(text("INSERT INTO documents (uuid, class_code) VALUES (:a, :b)"),
                 [dict(zip("ab", r, strict=True)) for r in V4_ROWS["documents"]])
    conn.execute(text("INSERT INTO associations (uuid, association_type, source, target) VALUES (:a, :b, :c, :d)"),
                 [dict(zip("abcd", r, strict=True)) for r in V4_ROWS["associations"]])
    conn.execute(text("INSERT INTO dmp_announcements (lid, notice_at) VALUES (:a, :b)"),
                 [dict(zip("ab", r, strict=True)) for r in V4_ROWS["dmp_announcements"]])


def _v4_contents(conn) -> dict[str, set[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    return {
        "patients": set(conn.execute(text("SELECT pid, authority, cx, demographics, merged_into, updated_at FROM patients"))),
        "objects": set(conn.execute(text("SELECT uuid, kind, lid, version, status, patient, unique_id, object_type FROM objects"))),
        "documents": set(conn.execute(text("SELECT uuid, class_code FROM documents"))),
        "associations": set(conn.execute(text("SELECT uuid, association_type, source, target FROM associations"))),
        "dmp_announcements": set(conn.execute(text("SELECT lid, notice_at FROM dmp_announcements"))),
    }


def _keyed_by(conn, p: object) -> None:  # type: ignore[no-untyped-def]
    """The 0004 rows keyed by patient `p` (0005: the text key, 0006: its number)."""
    assert set(conn.execute(text("SELECT uuid, patient FROM objects"))) == {
        (u, p) for u in ("u-ss", "u-de", "u-fd", "u-as", "u-de2")}  # the association takes its ends' patient
    assert set(conn.execute(text("SELECT patient, uuid FROM documents"))) == {(p, "u-de"), (p, "u-de2")}
    assert set(conn.execute(text("SELECT patient, lid FROM dmp_announcements"))) == {(p, "u-de")}
    assert set(conn.execute(text("SELECT patient, pid FROM patients"))) == {(p, "p1")}
    assert set(conn.execute(text("SELECT ident, kind, patient FROM registry_ids"))) == {
        *((u, "U", p) for u in ("u-ss", "u-de", "u-fd", "u-as", "u-de2")),
        ("u-de", "L", p), ("1.1", "S", p), ("1.2", "D", p), ("1.3", "F", p)}


def test_0005_and_0006_key_an_existing_registry_by_patient_then_by_number_and_downgrades_restore_it(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine, "0004")
    with engine.begin() as conn:
        _fill_v4(conn)
    upgrade(engine, "0005")
    with engine.connect() as conn:
        _keyed_by(conn, P)
    upgrade(engine, "0006")
    with engine.connect() as conn:
        number = patient_number.number(P)
        _keyed_by(conn, number)  # the number computed in SQL (PostgreSQL, Citus) is Python's
        assert set(conn.execute(text("SELECT patient, key_text, cx FROM patients"))) == {(number, P, P)}
    downgrade(engine, "0005")
    with engine.connect() as conn:
        _keyed_by(conn, P)
    downgrade(engine, "0004")
    with engine.connect() as conn:
        contents = _v4_contents(conn)
    engine.dispose()
    assert contents == {name: set(rows) for name, rows in V4_ROWS.items()}


def test_on_citus_the_dmp_announcement_job_finds_what_is_due_across_workers(citus: RegistryHarness) -> None:
    """registry.announce's query groups and joins on the patient: Citus runs it on every worker at once."""
    start = datetime.now(UTC)
    patients = _spread(citus, 4)
    for pid in patients:
        citus.feed(pid)
        b = single_document(pid, confidentiality_codes=(CONF_N, INVISIBLE_PATIENT))
        assert citus.submit(b, now=dtm(start)).accepted
        assert citus.submit(single_document(pid), now=dtm(start)).accepted  # visible: never announced
    with citus.store.write() as tx:
        assert announce.due(tx.conn, start + timedelta(days=13), DEFAULT_POLICY) == []
        notices = announce.due(tx.conn, start + timedelta(days=15), DEFAULT_POLICY)
        assert sorted(n.patient_id for n in notices) == sorted(patients)
        assert {n.kind for n in notices} == {announce.NOTICE}
        announce.mark(tx.conn, notices, start + timedelta(days=15))
    with citus.store.write() as tx:
        assert announce.due(tx.conn, start + timedelta(days=16), DEFAULT_POLICY) == []
        assert {a.kind for a in announce.due(tx.conn, start + timedelta(days=31), DEFAULT_POLICY)} == {announce.ANNOUNCED}
    citus.store.dispose()


def test_on_citus_a_registration_takes_no_shard_lock(citus: RegistryHarness) -> None:
    """A submission's rows go as INSERT ... VALUES routed to one shard each (registry.sql.writes.is_citus): no
    ShareUpdateExclusiveLock on a shard (Citus's advisory lock class 5), which the one-statement INSERT ...
    SELECT took on every shard it wrote until the commit, serializing and deadlocking concurrent writers."""
    from tests.xdsservice.test_group_commit import registration

    pid = new_patient_id()
    citus.feed(pid)
    held: list[int] = []

    def shard_locks(tx) -> None:  # type: ignore[no-untyped-def]
        held.append(tx.conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'"
            " AND objsubid = 5 AND mode = 'ShareUpdateExclusiveLock'").scalar())

    for builder in (single_document(pid), single_document(pid)):
        outcome = citus.writer.submit(*registration(citus, builder, then=shard_locks)).result(60)
        assert outcome.accepted
    assert held == [0, 0]
    citus.writer.close()
    citus.store.dispose()
