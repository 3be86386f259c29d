"""Fuzz invariant of ITI-18 on the registry side: a decoded query, however odd its values, is answered
(registry.query.answer over a real SQL store) with a response or an XDSRegistryError, never an exception.

The requests are the seeded random mutants of tests/xdscore/test_queries.py, with valid-looking values of
every kind mixed in so that many reach the SQL finders (`XDS_FUZZ_SEEDS=1-500` explores further).
"""

from __future__ import annotations

import random

import pytest
from lxml import etree

from harness.builders import SubmissionBuilder, new_patient_id
from registry.query import answer
from registry.sql.queries import QuerySql
from tests.registry.helpers import RegistryHarness
from tests.xdscore.test_queries import TOKENS, VALID, _request, _seeds
from xdscore.model import Author
from xdscore.queries import SPECS, Limits
from xdscore.vocabulary import NS

PATIENT = new_patient_id()
EXTRA_TOKENS = [f"'{PATIENT}'", f"('{PATIENT}')", "'%'", "('%\\\\%')", "('_')", "'\\'", *VALID.values()]


@pytest.fixture(scope="module")
def harness() -> RegistryHarness:
    h = RegistryHarness()
    h.feed(PATIENT)
    b = SubmissionBuilder(PATIENT).with_submission_set()
    b.add_document("Doc1", authors=(Author(person="^Back\\slash^^^^"),))
    b.add_document("Doc2")
    b.add_folder("Folder01")
    assert h.submit(b).violations == []
    return h


@pytest.mark.parametrize("seed", _seeds())
def test_answers_are_responses(harness: RegistryHarness, seed: int) -> None:
    rng = random.Random(seed)
    tokens = TOKENS + EXTRA_TOKENS * 3
    for _ in range(20):
        spec = rng.choice(list(SPECS.values()))
        names = [p.name for p in spec.params]
        extra = [(rng.choice(names), rng.choice(tokens)) for _ in range(rng.randint(0, 5))]
        request = _request(spec, extra=extra)
        with harness.store.read() as tx:
            outcome = answer(request, QuerySql(tx.conn, 50), Limits(values=8, slots=3, parameters=12))
        body = etree.fromstring(outcome.response)
        assert body.tag == f"{{{NS.QUERY}}}AdhocQueryResponse"
        assert all(v.location or v.code for v in outcome.violations)
