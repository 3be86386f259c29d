"""Validation rules, one module per rule family (ITI TF-3 4.1, 4.2; ITI TF-2b 3.42.4.1.3).

Rules never raise: they yield `Violation`s so that one response can list every error, in rule order.
Cardinality and value-set rules are data (`cardinality.Row`); cross-object rules are functions
(`submission.py`). Stateful rules (need the registry's content) live in `registry/`.
"""

from xdscore.errors import Violation

__all__ = ["Violation"]
