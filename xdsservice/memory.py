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
# registry kept +54 MB after 700,000 names with the default, +13 MB with two arenas on two cores (issue 16).
# One per core. MALLOC_ARENA_MAX in the environment wins (glibc reads it).
ARENAS = os.cpu_count() or 2
M_ARENA_MAX = -8  # glibc's mallopt parameters
M_MMAP_THRESHOLD = -3

# Blocks of at least this size are mapped on their own and unmapped when freed. glibc's default threshold
# moves: each time a mapped block is freed it rises to that block's size (up to 32 MB), after which bodies
# and documents of a few MB come from the arenas, where what a later small block pins stays resident. Request
# bodies of 1 KB to 5 MB made the repository's RSS creep over the 30-minute soak (+13 % after warm-up);
# in process the same pattern grew 30 -> 110 MB with the moving threshold and stayed at 16 MB with a fixed one
# (tests/xdsservice/test_memory.py). Setting it fixes it. MALLOC_MMAP_THRESHOLD_ in the environment wins.
MMAP_THRESHOLD = 256 * 1024


def _mallopt(param: int, value: int, env: str) -> bool:
    if _TRIM is None or env in os.environ:
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(param, value))


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas (before threads start); False where that is not glibc or the environment set it."""
    return _mallopt(M_ARENA_MAX, arenas, "MALLOC_ARENA_MAX")


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Map every block of `size` bytes or more on its own, for good; False where not glibc or set by the environment."""
    return _mallopt(M_MMAP_THRESHOLD, size, "MALLOC_MMAP_THRESHOLD_")


limit_arenas()
fix_mmap_threshold()


def trim() -> bool:
    """Return the allocator's free memory to the system; False where that is not available."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def should_trim(body_bytes: int) -> bool:
    return body_bytes >= TRIM_AFTER_BYTES
