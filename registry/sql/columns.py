"""How registry values become column values, shared by the writes and the stored-query SQL.

Coded values are stored as `code^^codingScheme` (the stored-query encoding, ITI TF-2a 3.18.4.1.2.3.7),
times padded to 14 digits so that string order is time order, object kinds as two-letter codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from xdscore.model import Code, ObjectKind

KIND_CODES = {
    ObjectKind.DOCUMENT_ENTRY: "DE",
    ObjectKind.SUBMISSION_SET: "SS",
    ObjectKind.FOLDER: "FD",
    ObjectKind.ASSOCIATION: "AS",
}
KINDS = {v: k for k, v in KIND_CODES.items()}
CHUNK = 500  # bound IN-lists (SQLite's variable limit)


def code_value(code: Code | None) -> str | None:
    return f"{code.code}^^{code.scheme}" if code else None


def pad_time(value: str | None) -> str | None:
    """DTM → 14 digits, so that string comparison is time comparison at any precision."""
    return value.strip().ljust(14, "0")[:14] if value else None


def chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """The distinct non-empty values, in lists short enough for one IN (...) of bound parameters."""
    items = list(dict.fromkeys(v for v in values if v))
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]
