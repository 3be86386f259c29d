"""Threads that own the XML trees they parse (issue 16).

lxml gives each thread its own libxml2 string dictionary, and a parsed tree's element and attribute names
live in the dictionary of the thread that parsed it. That thread goes on parsing other requests, so the
dictionary keeps growing under it. Another thread may read the tree; a thread that adds to it (an element,
an attribute, an ID registered by xmlsec) writes into that dictionary, which has no lock: two writers
corrupt it, and a tree whose names came from several threads' dictionaries is freed wrongly (the process
aborted on `free(): invalid pointer` when one MTOM root part was fed to its parser by several pool threads,
found by harness.fuzz).

So work on a tree runs in the thread that parsed it. A `Pool` is a few long-lived threads, each running
one piece of work at a time: a tree parsed by `run` on a thread that `pick` chose is changed later on the
same thread (`xdsservice.soapapp.DecodedRequest.in_tree_thread`), and the envelope check feeds its pull
parser from one thread per request (`xdsservice.early_security`). A few threads rather than one per
request: a new thread per request cost its start and spread the requests' allocations over every glibc
arena (the repository's RSS crept up in the soak).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class TreeThread:
    """One thread of a `Pool`: `run` work on it, in order."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor

    async def run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)


class Pool:
    def __init__(self, name: str, size: int) -> None:
        self.threads = [TreeThread(ThreadPoolExecutor(1, thread_name_prefix=f"{name}-{i}")) for i in range(size)]
        self._next = itertools.count()

    def pick(self) -> TreeThread:
        """The next thread, round robin."""
        return self.threads[next(self._next) % len(self.threads)]


# The WS-Security gates' pull parsers (xdsservice.early_security), and the envelopes too large to parse on
# the event loop (xdsservice.soapapp, repository.intake): apart, so that no gate waits behind a long parse.
GATES = Pool("envelope-check", 4)
PARSES = Pool("envelope-parse", 4)
