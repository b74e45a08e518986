"""Per-process caches of what an authenticated request would otherwise read from the graph every time: the
presented token's record, the subject's role and ownership claims, a local account's state.

Why they are safe to cache: every entry is stamped with `graph.versioned.stamp()`, which carries the catalog
version (bumped by every ingest write: groups, memberships and ownership claims come from the catalog) and
the access version (bumped by every write that changes who may do what outside the catalog: a token revoked,
an account disabled or re-linked, a role granted or revoked). Each process re-reads both at most every
`graph.versioned.POLL_INTERVAL` (0.5 s), so such a change is refused by every worker within a second
(tests/test_auth_cache.py drives two gunicorn workers). `MAX_AGE` bounds an entry's life anyway.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable, Hashable, TypeVar

from graph import versioned

if TYPE_CHECKING:
    from graph.driver import Graph

T = TypeVar("T")
MAX_AGE = 60.0
MAX_ENTRIES = 10_000


class StampedCache:
    """A dict of computed values, each valid while the graph's stamp is the one read before computing it."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[tuple, float, object]] = {}
        self._lock = threading.Lock()

    def get_or_compute(self, graph: "Graph", key: Hashable, compute: Callable[[], T],
                       keep: Callable[[T], bool] = lambda value: True) -> T:
        """The cached value for `key`, or `compute()` (stored when `keep(value)`).

        The stamp is read BEFORE computing: a change that lands while computing leaves an entry with the old
        stamp, which the next poll of the versions invalidates."""
        current = versioned.stamp(graph)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] == current and now - entry[1] < MAX_AGE:
            return entry[2]   # type: ignore[return-value]
        value = compute()
        if keep(value):
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (current, now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
