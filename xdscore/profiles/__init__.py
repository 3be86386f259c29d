"""Validation profiles: the IHE base rules plus an affinity domain's value sets (ITI TF-1 10.4.2).

A profile is data: cardinality rows and value sets. `ihe` is the base; `nist` adds the NIST test kit's
codes.xml; `cisis` (the French CI-SIS / DMP affinity domain) plugs in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdscore.rules.cardinality import Row, ValueSet


@dataclass(frozen=True)
class Profile:
    name: str
    rows: tuple[Row, ...]
    value_sets: tuple[ValueSet, ...] = ()
    # availabilityStatus values beyond Approved / Deprecated that ITI-57 UpdateAvailabilityStatus may set
    # (the DMP's Archived and Deleted), and those of them that a stored query returns only when it asks
    # for that status by name (ITI TF-2b 3.57.4.1.3.3.2; CI-SIS: a deleted document is hidden).
    statuses: tuple[str, ...] = ()
    hidden_statuses: frozenset[str] = frozenset()

    def extended(
        self,
        name: str,
        rows: tuple[Row, ...] = (),
        value_sets: tuple[ValueSet, ...] = (),
        statuses: tuple[str, ...] = (),
        hidden_statuses: frozenset[str] = frozenset(),
    ) -> Profile:
        """A profile with more rows (a row with the same rule_id replaces the base one), value sets and
        statuses."""
        replaced = {r.rule_id for r in rows}
        base = tuple(r for r in self.rows if r.rule_id not in replaced)
        return Profile(name, base + rows, self.value_sets + value_sets, self.statuses + statuses,
                       self.hidden_statuses | hidden_statuses)
