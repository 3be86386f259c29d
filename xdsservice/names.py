"""Where a received body is parsed, so that names never seen before do not stay in memory (issue 16).

libxml2 keeps every name it parses in the parsing thread's dictionary for the thread's life (lxml gives
each thread one; the main thread's is the parent of the others): a stream of bodies with ever-new names
(10 x 200,000 took a registry from 109 to 297 MB) would grow the process for good. A dictionary goes with
its thread once the trees parsed there are gone. So a body is scanned first (`xdscore.names.tokens`):

- all its tokens are in `KNOWN` (a bounded process-wide set, learned from bodies that parsed): it is parsed
  where it was before, on the event loop (small) or a long-lived `tree_threads` thread (large), whose
  dictionaries therefore grow at most by what `KNOWN` holds;
- otherwise (or when the scan cannot tell) it is parsed on a `Disposable` thread of its own, which keeps
  the tree (work that changes it runs there: `DecodedRequest.in_tree_thread`) and exits when the request
  is over, taking the names with it; its tokens are then learned, while `KNOWN` has room.

An ordinary service's vocabulary (a few hundred element and attribute names, namespaces, indentation) is
learned in its first requests; after that only a body with new names pays for a thread (~0.1 ms).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from xdscore import names
from xdsservice import memory, tree_threads

T = TypeVar("T")

DEFAULT_KNOWN_LIMIT = 20_000
# A body with more new tokens than this teaches nothing: an envelope's vocabulary is a few hundred
# tokens, a body with thousands of new names is a stream to keep out of the set, not to learn.
LEARN_AT_MOST = 2_000
# After a disposable thread parsed this many new tokens, its memory is handed back once it is gone.
TRIM_AFTER_TOKENS = 1_000


class KnownNames:
    """Tokens whose names the long-lived threads may take: at most `limit`, learned, never forgotten."""

    def __init__(self, limit: int = DEFAULT_KNOWN_LIMIT) -> None:
        self.limit = limit
        self._known: set[bytes] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def has_all(self, tokens: frozenset[bytes] | None) -> bool:
        return tokens is not None and tokens <= self._known  # one C call under the GIL: safe while learning

    def learn(self, tokens: frozenset[bytes] | None) -> None:
        if tokens is None:
            return
        with self._lock:
            new = tokens - self._known
            if len(new) <= LEARN_AT_MOST and len(self._known) + len(new) <= self.limit:
                self._known |= new


KNOWN = KnownNames(int(os.environ.get("XDS_KNOWN_NAMES", DEFAULT_KNOWN_LIMIT)))


class Disposable(tree_threads.TreeThread):
    """A thread for one request: it parses the body, runs what changes its tree, and exits with `close`."""

    def __init__(self, name: str = "names") -> None:
        super().__init__(ThreadPoolExecutor(1, thread_name_prefix=f"{name}-own"))
        self.tokens = 0  # new tokens it parsed (for `close`: hand memory back after many)

    def call(self, work: Callable[[], T]) -> T:
        """Run `work` on this thread and wait for it (from a worker thread, never from the event loop)."""
        return self._executor.submit(work).result()

    def close_soon(self) -> None:
        """`close` without waiting for the thread (from the event loop)."""
        self._executor.shutdown(wait=False)

    def close(self) -> None:
        """The request is over: the thread exits (its dictionary goes once the trees parsed there are gone)."""
        self._executor.shutdown(wait=True)
        if self.tokens >= TRIM_AFTER_TOKENS:
            memory.trim()


def count(tokens: frozenset[bytes] | None, fallback: int) -> int:
    return len(tokens) if tokens is not None else fallback


async def parse(data: bytes, work: Callable[[], T], inline_bytes: int, name: str = "envelope",
                scanned: frozenset[bytes] | bool | None = False) -> tuple[T, tree_threads.TreeThread | None]:
    """`work()` (which parses `data`) where `data`'s names may go, and the thread that owns its tree (None:
    the event loop's). Known and at most `inline_bytes`: on the loop; known and larger: on a
    `tree_threads.PARSES` thread (scanned there too); else on a `Disposable` the caller must `close`.
    `scanned`: `names.tokens(data)` when the caller has it already (the envelope check scanned the body as
    it came: `xdscore.names.Scanner.tokens_of`), False when not."""
    if len(data) <= inline_bytes:
        tokens = names.tokens(data) if scanned is False else scanned
        if KNOWN.has_all(tokens):  # type: ignore[arg-type]  # not False: replaced above
            return work(), None
    else:
        owner = tree_threads.PARSES.pick()

        def known_work() -> tuple[bool, T | None, frozenset[bytes] | None]:
            found = names.tokens(data) if scanned is False else scanned
            return (True, work(), found) if KNOWN.has_all(found) else (False, None, found)  # type: ignore[arg-type,return-value]

        done, result, tokens = await owner.run(known_work)
        if done:
            return result, owner  # type: ignore[return-value]  # done: work() returned it
    own = Disposable(name)
    own.tokens = count(tokens, len(data) // 8)
    try:
        result = await own.run(work)
    except BaseException:
        await asyncio.to_thread(own.close)
        raise
    KNOWN.learn(tokens)
    return result, own


def parse_here(data: bytes, work: Callable[[], T], name: str = "record") -> T:
    """`work()` (which parses `data` and keeps no tree: it returns plain values) on this thread when
    `data`'s names are known, else on a `Disposable` thread, waited for (from a worker thread)."""
    tokens = names.tokens(data)
    if KNOWN.has_all(tokens):
        return work()
    own = Disposable(name)
    own.tokens = count(tokens, len(data) // 8)
    try:
        result = own.call(work)
    finally:
        own.close()
    KNOWN.learn(tokens)
    return result


async def release(thread: tree_threads.TreeThread | None) -> None:
    """Let a request's disposable thread go (a shared one stays)."""
    if isinstance(thread, Disposable):
        await asyncio.to_thread(thread.close)
