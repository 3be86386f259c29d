"""Concurrent ITI-57 new versions and ITI-62 removals of one object end with exactly one winner, on SQLite
and PostgreSQL (advisory locks on the logical ids and targets, the unique (lid, version) index behind them)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from harness.builders import new_oid, new_patient_id, single_document
from tests.registry.helpers import RegistryHarness
from tests.registry.lifecycle import new_version, update_request

RACERS = 8


def race(attempts: list[Callable[[], bool]]) -> list[bool]:
    results = [False] * len(attempts)
    barrier = threading.Barrier(len(attempts))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = attempts[i]()
        except IntegrityError:  # what the service answers with XDSMetadataVersionError
            results[i] = False

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> RegistryHarness:
    url = f"sqlite:///{tmp_path}/r.db" if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))
    harness = RegistryHarness(url)
    request.addfinalizer(harness.store.dispose)
    return harness


def test_concurrent_new_versions_of_one_document(reg: RegistryHarness) -> None:
    patient, uid = new_patient_id(), new_oid()
    reg.feed(patient)
    assert reg.submit(single_document(patient, unique_id=uid)).accepted
    lid = reg.uuid_of(uid)
    builders = []
    for i in range(RACERS):
        b = update_request(patient)
        new_version(b, lid, uid, title=f"edit {i}")
        builders.append(b)
    results = race([lambda b=b: reg.update(b).accepted for b in builders])
    assert sum(results) == 1
    rows = reg.sql("select version, status from objects where lid = :l order by version", l=lid)
    assert [(v, s.rsplit(":", 1)[1]) for v, s in rows] == [(1, "Deprecated"), (2, "Approved")]
    assert reg.count("SS") == 2  # the winner's SubmissionSet only: the losers wrote nothing


def test_concurrent_removals_of_one_submission(reg: RegistryHarness) -> None:
    patient = new_patient_id()
    reg.feed(patient)
    assert reg.submit(single_document(patient)).accepted
    ids = [r[0] for r in reg.sql("select uuid from objects")]
    results = race([lambda: reg.remove(ids).accepted for _ in range(RACERS)])
    assert sum(results) == 1
    assert reg.count() == 0
