"""ITI-57 updates as DMP operations (TD3.3a-d)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.builders import DMP_CONF_N, INVISIBLE_PATIENT, MASQUE_PS, dmp_submission
from xdscore.access.matrix import Operation as Op
from xdscore.access.update import status_operation, version_operations
from xdscore.model import Code
from xdscore.vocabulary import DmpStatus, Status

BASE = dmp_submission().submission().document_entries[0]
SECRET = Code("INVISIBLE_REPRESENTANTS_LEGAUX", "1.2.250.1.213.1.1.4.13")
R = Code("R", "2.16.840.1.113883.5.25")


def with_codes(*codes: Code, **changes: object):  # type: ignore[no-untyped-def]
    return replace(BASE, confidentiality_codes=codes, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (with_codes(DMP_CONF_N), with_codes(DMP_CONF_N, MASQUE_PS), [Op.MASK]),
        (with_codes(DMP_CONF_N, MASQUE_PS), with_codes(DMP_CONF_N), [Op.UNMASK]),
        (with_codes(DMP_CONF_N, INVISIBLE_PATIENT), with_codes(DMP_CONF_N), [Op.SHOW_TO_PATIENT]),
        (with_codes(DMP_CONF_N, SECRET), with_codes(DMP_CONF_N), [Op.SHOW_TO_PATIENT]),
        (with_codes(DMP_CONF_N, MASQUE_PS, INVISIBLE_PATIENT), with_codes(DMP_CONF_N),
         [Op.UNMASK, Op.SHOW_TO_PATIENT]),
        (with_codes(DMP_CONF_N), with_codes(DMP_CONF_N, INVISIBLE_PATIENT), [Op.FEED]),
        (with_codes(DMP_CONF_N), with_codes(R), [Op.FEED]),
        (with_codes(DMP_CONF_N), with_codes(DMP_CONF_N, title="Another title"), [Op.FEED]),
        (with_codes(DMP_CONF_N), with_codes(DMP_CONF_N, MASQUE_PS, title="Another"), [Op.MASK, Op.FEED]),
        (with_codes(DMP_CONF_N), with_codes(DMP_CONF_N, entry_uuid="urn:uuid:new", version="2"), [Op.FEED]),
    ],
)
def test_version_operations(old, new, expected) -> None:  # type: ignore[no-untyped-def]
    assert version_operations(old, new) == expected


@pytest.mark.parametrize(
    ("original", "new", "expected"),
    [
        (Status.APPROVED.value, DmpStatus.DELETED.value, Op.DELETE),
        (DmpStatus.ARCHIVED.value, DmpStatus.DELETED.value, Op.DELETE),
        (Status.APPROVED.value, DmpStatus.ARCHIVED.value, Op.ARCHIVE),
        (DmpStatus.ARCHIVED.value, Status.APPROVED.value, Op.UNARCHIVE),
        (DmpStatus.DELETED.value, Status.APPROVED.value, Op.FEED),
        (Status.APPROVED.value, Status.DEPRECATED.value, Op.FEED),
    ],
)
def test_status_operation(original: str, new: str, expected: Op) -> None:
    assert status_operation(original, new) is expected
