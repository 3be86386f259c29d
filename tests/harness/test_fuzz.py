"""Short run of the fuzz harness (harness.fuzz; the long run, 100,000 inputs per target, is in
docs/reliability.md): a few hundred hostile inputs to every parser that takes network input, each answered
as the protocol says (a fault, an error response, an ACK AE/AR, a rejected record), none slower than 5 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fuzz import fuzz
from harness.fuzz.targets import TARGETS


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_hostile_input_gets_its_protocol_answer(target: str, tmp_path: Path) -> None:
    report = fuzz(target, 150, tmp_path, seed=16)
    assert report.failure is None, report.failure
    assert report.inputs >= 150 and report.slowest_seconds < 5.0, report.as_dict()
    assert len(report.outcomes) >= 2, report.outcomes  # the mutants reach more than one answer

