"""xdscore.ebrim.limits: registry objects, Slots and Slot values of one SubmitObjectsRequest, each exact at
its limit, one XDSRegistryMetadataError naming the setting one step over."""

from __future__ import annotations

import pytest
from lxml import etree

from harness.builders import extra_slot, new_patient_id, single_document
from xdscore.ebrim import limits
from xdscore.ebrim.limits import SubmissionLimits
from xdscore.vocabulary import NS, ErrorCode

RIM = f"{{{NS.RIM}}}"


def counts(request: etree._Element) -> tuple[int, int, int]:
    objects = len(request.find(f"{RIM}RegistryObjectList"))
    return objects, len(list(request.iter(f"{RIM}Slot"))), len(list(request.iter(f"{RIM}Value")))


def request() -> etree._Element:
    b = single_document(new_patient_id())
    b.add_document(extra_slots=(extra_slot("urn:x:many", *[str(i) for i in range(50)]),))
    return b.xml()


@pytest.mark.parametrize("which,setting", [(0, "submission_max_objects"), (1, "submission_max_slots"),
                                           (2, "submission_max_values")])
def test_each_limit_is_exact(which: int, setting: str) -> None:
    body = request()
    found = counts(body)
    at_limit = [10**9, 10**9, 10**9]
    at_limit[which] = found[which]
    assert limits.violations(body, SubmissionLimits(*at_limit)) == []
    at_limit[which] = found[which] - 1
    refused = limits.violations(body, SubmissionLimits(*at_limit))
    assert [v.code for v in refused] == [ErrorCode.XDSRegistryMetadataError]
    assert setting in refused[0].context and str(found[which] - 1) in refused[0].context


def test_defaults_take_a_usual_submission() -> None:
    assert limits.violations(request(), SubmissionLimits()) == []
