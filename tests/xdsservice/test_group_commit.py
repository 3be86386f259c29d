"""Group commit (xdsservice.group_commit): concurrent ITI-42 writes share one durable commit, and each
keeps its own all-or-nothing outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from harness.builders import SubmissionBuilder, new_oid, new_patient_id, single_document
from registry.app import new_uuid
from registry.register import RegisterOutcome, lock_keys, register
from registry.sql.store import RegistryTx
from tests.registry.helpers import RegistryHarness, tick
from xdscore.vocabulary import ErrorCode


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request: pytest.FixtureRequest, tmp_path: Any) -> RegistryHarness:
    url = f"sqlite:///{tmp_path}/r.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    harness = RegistryHarness(url, writers=1)  # one writer: what is submitted together is one batch
    yield harness  # type: ignore[misc]
    harness.writer.close()
    harness.store.dispose()


def registration(reg: RegistryHarness, builder: SubmissionBuilder, then: Any = None) -> tuple[Any, list[str]]:
    """The writer job of one ITI-42 (as `registry.app` makes it); `then(tx)` runs after its writes."""
    sub = builder.submission()
    now = tick()

    def work(tx: RegistryTx) -> RegisterOutcome:
        outcome = register(sub, tx, reg.settings, now, new_uuid)
        if outcome.changes is not None:
            tx.apply(outcome.changes, now)
        if then is not None:
            then(tx)
        return outcome

    return work, lock_keys(sub)


def held_writer(reg: RegistryHarness) -> tuple[threading.Event, Future[Any]]:
    """Occupy the writer with a job that waits, so that what is submitted next lands in one batch."""
    release, started = threading.Event(), threading.Event()

    def wait(_tx: RegistryTx) -> None:
        started.set()
        assert release.wait(30)

    future = reg.writer.submit(wait)
    assert started.wait(30)
    return release, future


def count(reg: RegistryHarness, unique_id: str) -> int:
    return len(reg.sql("select uuid from objects where unique_id = :u", u=unique_id))


def test_concurrent_registrations_share_commits(reg: RegistryHarness) -> None:
    patient = new_patient_id()
    reg.feed(patient)
    release, first = held_writer(reg)
    builders = [single_document(patient) for _ in range(20)]
    futures = [reg.writer.submit(*registration(reg, b)) for b in builders]
    batches_before = reg.writer.batches
    release.set()
    first.result(30)
    assert all(f.result(30).accepted for f in futures)
    assert reg.writer.batches - batches_before <= 2  # the twenty waited together: one commit (two at most)
    assert reg.count("DE") == 20 and reg.count("SS") == 20


def test_a_refused_and_a_failing_registration_leave_their_neighbours_alone(reg: RegistryHarness) -> None:
    patient = new_patient_id()
    reg.feed(patient)
    good1, unknown, failing, good2 = (single_document(patient), single_document(new_patient_id()),
                                      single_document(patient), single_document(patient))

    def explode(_tx: RegistryTx) -> None:
        raise RuntimeError("fails after writing its rows")

    release, first = held_writer(reg)
    futures = [reg.writer.submit(*registration(reg, good1)), reg.writer.submit(*registration(reg, unknown)),
               reg.writer.submit(*registration(reg, failing, then=explode)), reg.writer.submit(*registration(reg, good2))]
    release.set()
    first.result(30)
    assert futures[0].result(30).accepted and futures[3].result(30).accepted
    assert [v.code for v in futures[1].result(30).violations] == [ErrorCode.XDSUnknownPatientId]
    with pytest.raises(RuntimeError):
        futures[2].result(30)
    uids = [b.get("Document01").external_identifiers[-1].value for b in (good1, unknown, failing, good2)]
    assert [count(reg, u) for u in uids] == [1, 0, 0, 1]  # the failing one's rows are gone, nothing half-stored
    assert reg.count("SS") == 2


def test_one_unique_id_twice_in_one_batch_registers_once(reg: RegistryHarness) -> None:
    patient = new_patient_id()
    reg.feed(patient)
    uid = new_oid()
    release, first = held_writer(reg)
    builders = [single_document(patient, unique_id=uid, content=f"version {i}".encode()) for i in range(4)]
    futures = [reg.writer.submit(*registration(reg, b)) for b in builders]
    release.set()
    first.result(30)
    outcomes = [f.result(30) for f in futures]
    assert [o.accepted for o in outcomes] == [True, False, False, False]
    assert all(o.violations[0].code is ErrorCode.XDSNonIdenticalHash for o in outcomes[1:])
    assert count(reg, uid) == 1


def test_a_batch_whose_commit_fails_is_retried_one_by_one(tmp_path: Any) -> None:
    """SQLite checks a deferred foreign key at COMMIT: one job of the batch makes the COMMIT fail. Every
    other job is then committed alone and succeeds; the culprit alone gets the error."""
    reg = RegistryHarness(f"sqlite:///{tmp_path}/r.db")
    patient = new_patient_id()
    reg.feed(patient)

    def dangling_reference(tx: RegistryTx) -> None:
        tx.conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY)")
        tx.conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS child (p INTEGER REFERENCES parent (id)"
                                " DEFERRABLE INITIALLY DEFERRED)")
        tx.conn.exec_driver_sql("INSERT INTO child VALUES (42)")

    builders = [single_document(patient) for _ in range(3)]
    release, first = held_writer(reg)
    futures = [reg.writer.submit(*registration(reg, builders[0])),
               reg.writer.submit(*registration(reg, builders[1], then=dangling_reference)),
               reg.writer.submit(*registration(reg, builders[2]))]
    release.set()
    first.result(30)
    assert futures[0].result(30).accepted and futures[2].result(30).accepted
    with pytest.raises(IntegrityError):
        futures[1].result(30)
    uids = [b.get("Document01").external_identifiers[-1].value for b in builders]
    assert [count(reg, u) for u in uids] == [1, 0, 1]
    assert not reg.sql("select name from sqlite_master where name = 'child'")
    reg.writer.close()
    reg.store.dispose()


def test_a_cancelled_request_is_not_written(reg: RegistryHarness) -> None:
    patient = new_patient_id()
    reg.feed(patient)
    builder = single_document(patient)
    release, first = held_writer(reg)
    future = reg.writer.submit(*registration(reg, builder))
    assert future.cancel()  # what asyncio.wrap_future does when the request's coroutine is cancelled
    release.set()
    first.result(30)
    reg.writer.submit(lambda tx: None).result(30)  # the writer has gone past it
    assert count(reg, builder.get("Document01").external_identifiers[-1].value) == 0


def test_a_deadlock_victim_is_run_again_alone(pg_url: str) -> None:
    """Two writers' transactions lock two rows in opposite orders: PostgreSQL cancels one of them as a
    deadlock victim (SQLSTATE 40P01). Its job wrote nothing, so the writer runs it again alone and both
    registrations are answered and stored once (on Citus the same happens on its shard locks)."""
    reg = RegistryHarness(pg_url, writers=2)
    with reg.store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (id int PRIMARY KEY, n int)")
        conn.exec_driver_sql("INSERT INTO probe VALUES (1, 0), (2, 0)")
    patient = new_patient_id()
    reg.feed(patient)
    both_locked_first = threading.Barrier(2, timeout=30)
    attempts = {"a": 0, "b": 0}

    def lock_in_order(name: str, first: int, second: int) -> Any:
        def then(tx: RegistryTx) -> None:
            attempts[name] += 1
            tx.conn.exec_driver_sql(f"UPDATE probe SET n = n + 1 WHERE id = {first}")
            if attempts[name] == 1:  # the first attempts meet; a retry runs alone
                both_locked_first.wait()
            tx.conn.exec_driver_sql(f"UPDATE probe SET n = n + 1 WHERE id = {second}")
        return then

    builders = [single_document(patient), single_document(patient)]
    futures = [reg.writer.submit(*registration(reg, builders[0], then=lock_in_order("a", 1, 2)))]
    while attempts["a"] == 0:  # a holds the first writer, so b goes to the second (not into a's batch)
        time.sleep(0.005)
    futures.append(reg.writer.submit(*registration(reg, builders[1], then=lock_in_order("b", 2, 1))))
    assert all(f.result(60).accepted for f in futures)
    assert sorted(attempts.values()) == [1, 2]  # one victim, run again once
    uids = [b.get("Document01").external_identifiers[-1].value for b in builders]
    assert [count(reg, u) for u in uids] == [1, 1]
    assert reg.sql("select n from probe order by id") == [(2,), (2,)]
    reg.writer.close()
    reg.store.dispose()
