"""xdsservice.serve: once the app is built, its objects are left out of garbage collections, and garbage made
afterwards is still collected (run in a child process: the freeze is for the process's life)."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc, weakref
from xdsservice.serve import GC_THRESHOLDS, settle_garbage_collection
class Node: pass
built = [Node() for _ in range(1000)]  # what the app holds
settle_garbage_collection()
assert gc.get_freeze_count() >= 1000, gc.get_freeze_count()
assert gc.get_threshold() == GC_THRESHOLDS
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made while serving: only the collector frees it
gone = weakref.ref(a)
del a, b
gc.collect()
assert gone() is None
print("ok")
"""


def test_startup_objects_frozen_later_garbage_collected() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
