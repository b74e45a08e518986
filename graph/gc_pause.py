"""One pause of Python's cyclic garbage collector, shared by everything that builds many objects at once.

Why: a blast-radius walk builds ~6,000 steps and as many rows from the driver in a few milliseconds; those
allocations trigger collections, and every so often a full one walks every container of the process (~20 ms
on a loaded 2-core machine, more in a portal holding caches): the p95 of a cold walk was mostly that. An ingest
run does the same at a larger scale. Nothing they build makes reference cycles, so reference counting frees it;
the few cycles other code makes meanwhile wait for the next collection.

The pause is counted, not a bare `gc.disable()`/`gc.enable()` pair: threads of one process (a walk during an
ingest in the portal) overlap, and the collector comes back on only when the last of them leaves, and only if
it was on when the first came in.
"""
from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block (in any thread of the process) until every holder has left."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
