"""Short run of the soak harness (harness.soak; the long run, 30 minutes, is in docs/reliability.md): 16
clients mixing ITI-41 (1 KB-5 MB), ITI-42, ITI-18 and ITI-43 against registry, repository and audit sink
for a few seconds, with no error, and the RSS of each service sampled."""

from __future__ import annotations

from pathlib import Path

from harness import soak


def test_sixteen_clients_mixing_every_transaction_meet_no_error(tmp_path: Path) -> None:
    report = soak.run(6, 16, tmp_path, patients=8, seed=16)
    assert report["errors"] == 0, report["first_errors"]
    transactions = report["transactions"]
    assert set(transactions) == {"ITI-41", "ITI-42", "ITI-18", "ITI-43"}, transactions  # type: ignore[arg-type]
    assert all(t["count"] > 0 for t in transactions.values())  # type: ignore[union-attr]
    assert set(report["rss_mb"]) == {"registry", "repository", "audit"}  # type: ignore[arg-type]


def test_growth_is_the_last_fifth_peak_against_the_second_fifth() -> None:
    flat = [(float(t), 100.0) for t in range(50)]
    assert soak.growth(flat) == 0.0
    leaking = [(float(t), 100.0 + t) for t in range(50)]  # +1 MB a second
    assert 0.29 < soak.growth(leaking) < 0.31  # 149 MB against a mean of 114.5
