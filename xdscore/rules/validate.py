"""Runs a profile's rules over a submission, in a fixed order: per object (object rules, cardinality
rows, value sets, the profile's object rules), then the cross-object rules and the profile's.
Returns every violation; raises nothing.
"""

from __future__ import annotations

from xdscore.errors import Violation
from xdscore.model import Submission
from xdscore.profiles import Profile
from xdscore.rules.cardinality import check_rows, check_value_sets
from xdscore.rules.objects import OBJECT_RULES
from xdscore.rules.submission import SUBMISSION_RULES


def validate_submission(sub: Submission, profile: Profile) -> list[Violation]:
    out: list[Violation] = []
    for obj in sub.all_objects():
        for rule in OBJECT_RULES:
            out.extend(rule(obj.rim, obj.kind))
        out.extend(check_rows(obj.rim, obj.kind, profile.rows))
        out.extend(check_value_sets(obj.rim, obj.kind, profile.value_sets))
        for rule in profile.object_rules:
            out.extend(rule(obj.rim, obj.kind))
    for sub_rule in (*SUBMISSION_RULES, *profile.submission_rules):
        out.extend(sub_rule(sub))
    return out
