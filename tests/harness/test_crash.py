"""Short run of the crash-safety harness (harness.crash; the long run, 200 trials, is in docs/reliability.md):
the registry and the repository each killed (-9) under a stream of ITI-41 and ITI-42, on SQLite and on
PostgreSQL; nothing acknowledged is lost, nothing listed is unretrievable once the service is back."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness import crash
from harness.cluster import Cluster


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kill_9_loses_nothing_acknowledged_and_shows_nothing_unretrievable(database: str, tmp_path: Path,
                                                                          request: pytest.FixtureRequest) -> None:
    urls = {}
    if database == "postgresql":
        pg_url = request.getfixturevalue("pg_url")
        urls = {"registry": pg_url, "repository": request.getfixturevalue("pg_url")}
    cluster = Cluster(tmp_path, urls)
    cluster.start_all()
    rng = random.Random(16)
    try:
        trials = [crash.run_trial(cluster, rng, victim=victim) for victim in ("repository", "registry")]
    finally:
        cluster.stop()
    assert all(t.ok for t in trials), [t for t in trials if not t.ok]
    assert all(t.acknowledged > 0 for t in trials) and sum(t.visible for t in trials) > 0, trials
