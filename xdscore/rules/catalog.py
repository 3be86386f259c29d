"""The rule catalog: every check that answers with an IHE error code, with its id, its codes and the TF section
it implements, next to its function (ITI TF-3 4.2.4 for the codes).

A rule registers where it is written, with one decorator line:

    @RULES.rule("SUB-one-submission-set", ErrorCode.XDSRegistryMetadataError, ref="ITI TF-3 4.1.4", family="submission")
    def one_submission_set(sub: Submission) -> Iterator[Violation]: ...

The catalog drives what runs where a family is a list: `objects.OBJECT_RULES` and
`submission.SUBMISSION_RULES` are `RULES.family(...)`, in registration order, so a rule removed from the
catalog no longer runs. Rules that a transaction calls at a given stage with its own arguments (the
registry's stateful checks, the repository's, the stored-query decoder) register with their family so
that the catalog knows every code the services can answer; cardinality and value-set rules are data rows
(`cardinality.Row`) carrying the same three facts. The completeness test (tests/test_completeness.py)
reads the catalog and the profiles' rows, not the source text: a code no registered rule raises is a
failure unless it is listed as "not raised, because".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from xdscore.vocabulary import ErrorCode

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    rule_id: str
    codes: tuple[ErrorCode, ...]  # what it may answer
    reference: str  # the TF section it implements, e.g. "ITI TF-3 4.2.3.2.26"
    family: str  # where it runs: "object", "submission", "ITI-42 registry", "ITI-41 repository", ...
    check: Callable[..., Any]


class Catalog:
    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def rule(self, rule_id: str, *codes: ErrorCode, ref: str, family: str) -> Callable[[F], F]:
        """Register the decorated function as rule `rule_id`; it is returned unchanged."""
        if not codes:
            raise ValueError(f"rule {rule_id} names no error code")

        def register(check: F) -> F:
            if rule_id in self._rules and self._rules[rule_id].check is not check:
                raise ValueError(f"two rules have the id {rule_id}")
            self._rules[rule_id] = Rule(rule_id, codes, ref, family, check)
            return check

        return register

    def family(self, name: str) -> tuple[Callable[..., Any], ...]:
        """The functions of one family, in the order they were registered (the order they run in)."""
        return tuple(r.check for r in self._rules.values() if r.family == name)

    def __iter__(self) -> Iterator[Rule]:
        return iter(tuple(self._rules.values()))

    def __len__(self) -> int:
        return len(self._rules)

    def without(self, rule_id: str) -> Catalog:
        """A copy without one rule (what the completeness test would see if it were removed)."""
        copy = Catalog()
        copy._rules = {k: v for k, v in self._rules.items() if k != rule_id}
        return copy

    def codes(self) -> set[ErrorCode]:
        return {code for r in self._rules.values() for code in r.codes}


RULES = Catalog()
