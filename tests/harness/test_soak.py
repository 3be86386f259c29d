"""Short run of the soak harness (harness.soak; the long run, 30 minutes, is in docs/reliability.md): 16
clients mixing ITI-41 (1 KB-5 MB), ITI-42, ITI-18 and ITI-43 against registry, repository and audit sink
for a few seconds, with no error, and the RSS of each service sampled."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from harness import soak


def test_sixteen_clients_mixing_every_transaction_meet_no_error(tmp_path: Path) -> None:
    report = soak.run(6, 16, tmp_path, patients=8, seed=16)
    assert report["errors"] == 0, report["first_errors"]
    transactions = report["transactions"]
    assert set(transactions) == {"ITI-41", "ITI-42", "ITI-18", "ITI-43"}, transactions  # type: ignore[arg-type]
    assert all(t["count"] > 0 for t in transactions.values())  # type: ignore[union-attr]
    assert set(report["rss_mb"]) == {"registry", "repository", "audit"}  # type: ignore[arg-type]
    assert report["stopped_low_disk"] is None


def test_the_run_stops_before_the_disk_is_full(tmp_path: Path) -> None:
    # At full speed the soak stores ITI-41 documents at ~40 MB/s: a quiet 30-minute run once filled this
    # machine's disk. Asking for more free space than there is stops it at its first sample.
    free_gb = shutil.disk_usage(tmp_path).free / 1e9
    report = soak.run(30, 4, tmp_path, patients=4, seed=3, min_free_gb=free_gb + 1)
    assert report["stopped_low_disk"] is not None and "GB free" in report["stopped_low_disk"]  # type: ignore[operator]
    assert report["seconds"] < 10  # type: ignore[operator]
    assert report["errors"] == 0, report["first_errors"]


def test_store_mb_s_paces_the_documents_and_not_the_rest(tmp_path: Path) -> None:
    # Unpaced, 4 clients store tens of MB a second here; paced at 0.5 MB/s, at most the budget of the run
    # plus one document overdrawn (5 MB at most), while the other transactions go on.
    report = soak.run(5, 4, tmp_path, patients=4, seed=5, store_mb_s=0.5)
    assert report["errors"] == 0, report["first_errors"]
    assert report["stored_mb"] <= 0.5 * report["seconds"] + 0.5 + 5.3, report  # type: ignore[operator]
    transactions = report["transactions"]
    assert transactions["ITI-18"]["count"] > 20, transactions  # type: ignore[index]


def test_pacer_lets_a_document_go_while_the_budget_lasts() -> None:
    pacer = soak.Pacer(1e6)
    time.sleep(0.2)  # 200 KB saved
    assert pacer.take(5_000_000)  # overdrawn by one large document
    assert not pacer.take(1)  # then nothing until the debt (4.8 MB, ~4.8 s) clears


def test_growth_is_the_last_fifth_peak_against_the_second_fifth() -> None:
    flat = [(float(t), 100.0) for t in range(50)]
    assert soak.growth(flat) == 0.0
    leaking = [(float(t), 100.0 + t) for t in range(50)]  # +1 MB a second
    assert 0.29 < soak.growth(leaking) < 0.31  # 149 MB against a mean of 114.5
