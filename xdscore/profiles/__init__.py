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

    def extended(self, name: str, rows: tuple[Row, ...] = (), value_sets: tuple[ValueSet, ...] = ()) -> Profile:
        """A profile with more rows (a row with the same rule_id replaces the base one) and value sets."""
        replaced = {r.rule_id for r in rows}
        base = tuple(r for r in self.rows if r.rule_id not in replaced)
        return Profile(name, base + rows, self.value_sets + value_sets)
