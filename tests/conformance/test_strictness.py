"""The kit's strictness, tested by a corpus: one hand-made plan and canned answers per grading rule.

Each folder of `strictness_corpus/` (see its README) is run as a one-test kit against a fake SOAP endpoint
answering `response-N.xml` to the N-th request and a fake MLLP listener: every step but the last must pass,
the last must fail with the reason in `expect.txt` (the controls, `expect.txt` = PASS, must pass), and the
endpoint must have received exactly as many requests as there are responses (an unsupported step sends
nothing). A completeness test ties the corpus to the graders: every ExpectedContents check has its case.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from conformance.grading.contents import CONTENT_CHECKS
from conformance.runner import Endpoints, Runner
from conformance.testplan import TestKit
from tests.conformance.fakes import FakeMllpListener, FakeSoapEndpoint, Received, Reply

CORPUS = Path(__file__).parent / "strictness_corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_"))


def _run_case(case: str, tmp_path: Path) -> tuple[Runner, int, int]:
    test_dir = tmp_path / "kit" / "tests" / case
    shutil.copytree(CORPUS / "_templates", test_dir)
    shutil.copytree(CORPUS / case, test_dir, dirs_exist_ok=True)
    responses = [etree.fromstring(p.read_bytes()) for p in sorted(test_dir.glob("response-*.xml"))]
    answers = iter(responses)

    def handler(rec: Received) -> Reply:
        return Reply(next(answers))

    ack_file = test_dir / "ack.txt"
    ack = ack_file.read_text().strip() if ack_file.exists() else "AA"
    with FakeSoapEndpoint(handler) as ep, FakeMllpListener(ack) as feed:
        endpoints = Endpoints(registry=ep.url, repository=ep.url, feed_host="127.0.0.1", feed_port=feed.port)
        runner = Runner(TestKit(tmp_path / "kit"), endpoints, timeout=10)
        try:
            runner.run([case])
        finally:
            runner.close()
        received = len(ep.received)
    return runner, received, len(responses)


@pytest.mark.parametrize("case", CASES)
def test_each_rule_fails_its_step(case: str, tmp_path: Path) -> None:
    runner, received, expected_requests = _run_case(case, tmp_path)
    result = runner.results[case]
    expect = (CORPUS / case / "expect.txt").read_text().strip()
    assert received == expected_requests, f"{case}: the endpoint received {received} requests"
    steps = result.steps
    assert steps, result.error
    if expect == "PASS":
        assert result.passed, [s.failures for s in steps]
        return
    *before, last = steps
    assert all(s.passed for s in before), [s.failures for s in before]
    assert not last.passed and not result.passed
    assert any(expect in f for f in last.failures), last.failures


def test_every_content_check_has_a_case() -> None:
    missing = [name for name in CONTENT_CHECKS if f"contents-{name}" not in CASES]
    assert missing == []


def test_the_readme_lists_every_case() -> None:
    readme = (CORPUS / "README.md").read_text()
    assert [c for c in CASES if f"`{c}`" not in readme] == []
