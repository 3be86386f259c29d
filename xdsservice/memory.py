"""Memory handed back to the system after a large request (issue 16: after one 60 MB request a registry
kept 1.7 GB for good).

Parsing a large body makes lxml allocate its tree in many small blocks; when the tree is freed, glibc's
allocator keeps the pages in its arenas (one per thread that parsed) and the process's RSS stays at its
peak. `malloc_trim(0)` returns the free pages of every arena to the system (glibc ≥ 2.8 also releases
free pages inside the heap, not only at its top). `xdsservice.soapapp` calls `trim()` in a worker thread
once a request whose body was at least `TRIM_AFTER_BYTES` is over and its tree freed (`should_trim`): a
few milliseconds, only after large requests. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable

log = logging.getLogger("xds.memory")

TRIM_AFTER_BYTES = 4 * 1024 * 1024


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _malloc_trim()

# glibc gives each new thread an arena of its own, up to 8 per core; memory freed in one is kept there, and
# the next thread given that arena pins its pages with a few live blocks. Requests with new names are parsed
# on threads of their own (xdsservice.names), so a stream of them spread its memory over every arena: a
# registry kept +54 MB after 700,000 names with the default, +13 MB with two arenas (issue 16). Two: one
# per core of the machine this was measured on. MALLOC_ARENA_MAX in the environment wins (glibc reads it).
ARENAS = 2
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas (before threads start); False where that is not glibc or the environment set it."""
    if _TRIM is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


limit_arenas()


def trim() -> bool:
    """Return the allocator's free memory to the system; False where that is not available."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def should_trim(body_bytes: int) -> bool:
    return body_bytes >= TRIM_AFTER_BYTES
