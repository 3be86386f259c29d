"""Validation profiles: the IHE base rules plus an affinity domain's value sets (ITI TF-1 10.4.2).

A profile is data: cardinality rows and value sets, plus the rule functions an affinity domain adds (run
after the IHE ones, in the order given). `ihe` is the base; `nist` adds the NIST test kit's codes.xml;
`dmp` (the French DMP affinity domain, CI-SIS) adds its JDV value sets, INS patient ids, confidentiality,
author shapes and the signature of the submission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from xdscore.errors import Violation
from xdscore.model import ObjectKind, RimObject, Submission
from xdscore.rules.cardinality import Row, ValueSet
from xdscore.vocabulary import Status

ObjectRule = Callable[[RimObject, ObjectKind], Iterator[Violation]]
SubmissionRule = Callable[[Submission], Iterator[Violation]]

IHE_STATUSES = frozenset({Status.APPROVED.value, Status.DEPRECATED.value})


@dataclass(frozen=True)
class Profile:
    name: str
    rows: tuple[Row, ...]
    value_sets: tuple[ValueSet, ...] = ()
    object_rules: tuple[ObjectRule, ...] = ()  # per object, after the IHE object rules
    submission_rules: tuple[SubmissionRule, ...] = ()  # after the IHE cross-object rules
    statuses: frozenset[str] = IHE_STATUSES  # availabilityStatus values the registry may hold and query
    # Statuses a stored query returns only when it asks for them by name (CI-SIS: archived and deleted
    # documents are hidden from an ordinary consultation); ITI-57 UpdateAvailabilityStatus may set any of
    # `statuses` (ITI TF-2b 3.57.4.1.3.3.2).
    hidden_statuses: frozenset[str] = frozenset()

    def extended(
        self,
        name: str,
        rows: tuple[Row, ...] = (),
        value_sets: tuple[ValueSet, ...] = (),
        object_rules: tuple[ObjectRule, ...] = (),
        submission_rules: tuple[SubmissionRule, ...] = (),
        statuses: frozenset[str] = frozenset(),
        hidden_statuses: frozenset[str] = frozenset(),
    ) -> Profile:
        """A profile with more rows (a row with the same rule_id replaces the base one), value sets, rules
        and statuses."""
        replaced = {r.rule_id for r in rows}
        base = tuple(r for r in self.rows if r.rule_id not in replaced)
        return Profile(
            name,
            base + rows,
            self.value_sets + value_sets,
            self.object_rules + object_rules,
            self.submission_rules + submission_rules,
            self.statuses | statuses,
            self.hidden_statuses | hidden_statuses,
        )
