"""What every SQL module of the registry shares: the object kind codes and bounded IN-lists."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from xdscore.model import ObjectKind

KIND_CODES = {
    ObjectKind.DOCUMENT_ENTRY: "DE",
    ObjectKind.SUBMISSION_SET: "SS",
    ObjectKind.FOLDER: "FD",
    ObjectKind.ASSOCIATION: "AS",
}
KINDS = {v: k for k, v in KIND_CODES.items()}
_CHUNK = 500  # bound IN-lists (SQLite's variable limit)


def chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """The distinct non-empty values, in lists short enough for one IN (...) of bound parameters."""
    items = list(dict.fromkeys(v for v in values if v))
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
