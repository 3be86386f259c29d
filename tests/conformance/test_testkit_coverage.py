"""Every element of every test plan of the NIST kit's `tests/` folder (the registry and repository tests,
138 of them) is understood by the kit: no step would fail "unsupported: …" for want of the kit.

Read in place from `../shared/testkits/nist-xdstools`; skipped when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.grading.contents import CONTENT_CHECKS
from conformance.testplan import TestKit
from conformance.transactions import KINDS

TESTKIT = Path(__file__).resolve().parents[2].parent / "shared" / "testkits" / "nist-xdstools"
needs_kit = pytest.mark.skipif(not (TESTKIT / "testkit" / "tests").is_dir(), reason=f"no NIST test kit at {TESTKIT}")


@needs_kit
def test_every_plan_element_is_understood() -> None:
    kit = TestKit(TESTKIT)
    unsupported: list[str] = []
    transactions: set[str] = set()
    for test_id in kit.test_ids():
        for name in kit.definition(test_id).section_names:
            section = kit.section(test_id, name)
            for step in section.steps:
                tx = step.transaction
                where = f"{section.label}/{step.id}"
                unsupported += [f"{where}: {u}" for u in step.unsupported + (tx.unsupported if tx else [])]
                if tx is None:
                    continue
                transactions.add(tx.kind)
                if tx.expected_contents is not None:
                    for check in tx.expected_contents:
                        if isinstance(check.tag, str) and check.tag not in CONTENT_CHECKS and check.tag != "DocumentEntries":
                            unsupported.append(f"{where}: ExpectedContents/{check.tag}")
                unsupported += [f"{where}: Report section {r.section}" for r in tx.reports
                                if r.section not in ("InputMetadata", "Result")]
    assert unsupported == []
    assert transactions <= set(KINDS)
    assert len(kit.test_ids()) >= 138
