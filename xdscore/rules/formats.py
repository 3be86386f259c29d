"""Value formats of XDS metadata (ITI TF-3 4.2.3.1: DTM, CX, OID, XCN, hash, size, languageCode...).

Each checker takes the wire string and returns True when it is well formed. No exceptions.
"""

from __future__ import annotations

import re

from xdscore.model import PatientKey

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID_URN = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HASH = re.compile(r"^[0-9a-fA-F]{40}$")
_SIZE = re.compile(r"^[0-9]{1,19}$")
_LANGUAGE = re.compile(r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$")
_MIME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*(\s*;.*)?$")
# ASCII digits only, and no trailing newline (`$` would allow one): the value is compared as text in SQL.
_DTM = re.compile(r"[0-9]{4}([0-9]{2}([0-9]{2}([0-9]{2}([0-9]{2}([0-9]{2})?)?)?)?)?\Z")
_PID_FIELD = re.compile(r"^PID-\d+\|")
_DTM_RANGES = ((4, 6, 1, 12), (6, 8, 1, 31), (8, 10, 0, 23), (10, 12, 0, 59), (12, 14, 0, 59))


def is_oid(value: str, max_length: int = 64) -> bool:
    return len(value) <= max_length and bool(_OID.match(value))


def is_uuid_urn(value: str) -> bool:
    return bool(_UUID_URN.match(value))


def is_dtm(value: str) -> bool:
    """HL7 DTM as XDS uses it: YYYY[MM[DD[hh[mm[ss]]]]], UTC, no fraction or zone."""
    if not _DTM.match(value):
        return False
    for start, end, low, high in _DTM_RANGES:
        if len(value) >= end and not low <= int(value[start:end]) <= high:
            return False
    return True


def is_hash(value: str) -> bool:
    return bool(_HASH.match(value))


def is_size(value: str) -> bool:
    return bool(_SIZE.match(value))


def is_language(value: str) -> bool:
    return bool(_LANGUAGE.match(value))


def is_mime_type(value: str) -> bool:
    return bool(_MIME.match(value))


def is_patient_cx(value: str) -> bool:
    """patientId: CX.1 and an ISO assigning authority in CX.4 (`id^^^&1.2.3&ISO`), other parts tolerated."""
    parts = value.split("^")
    if len(parts) < 4 or not parts[0] or any(c.isspace() for c in parts[0]):
        return False
    hd = parts[3].split("&")
    return len(hd) == 3 and is_oid(hd[1]) and hd[2] == "ISO"


def is_cx_with_authority(value: str) -> bool:
    """sourcePatientId: CX.1 and some assigning authority."""
    return PatientKey.parse(value) is not None


def is_document_unique_id(value: str) -> bool:
    return 0 < len(value) <= 128 and not any(c.isspace() for c in value)


def is_source_patient_info(value: str) -> bool:
    return bool(_PID_FIELD.match(value))


def is_xcn(value: str) -> bool:
    """XCN: at least an id (XCN.1) or a family name (XCN.2); components separated by ^."""
    parts = value.split("^")
    return bool(parts[0].strip()) or (len(parts) > 1 and bool(parts[1].strip()))


def is_nonempty(value: str) -> bool:
    return bool(value.strip())
