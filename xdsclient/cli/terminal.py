"""What the `xds` command shows: plain-text tables and a one-line progress bar (on a terminal).

A few lines of our own rather than a dependency: the tables are columns padded to their widest cell,
the progress bar one carriage-returned line on stderr.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import TextIO


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], max_width: int = 60) -> str:
    """Rows as aligned columns under a header and a rule; cells longer than `max_width` are cut with …"""
    cells = [[str(c) if len(str(c)) <= max_width else str(c)[: max_width - 1] + "…" for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


class Progress:
    """`[#####-----] 12/78 name` rewritten in place on `stream`; silent when disabled."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.done = 0

    def step(self, label: str) -> None:
        if not self.enabled:
            return
        columns = shutil.get_terminal_size((80, 20)).columns
        bar_width = 30
        filled = bar_width * self.done // max(self.total, 1)
        line = f"[{'#' * filled}{'-' * (bar_width - filled)}] {self.done}/{self.total} {label}"
        self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
        self.stream.flush()

    def advance(self, label: str = "") -> None:
        self.done += 1
        self.step(label)

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
