"""Read caches keyed on the catalog version token (see graph.write.bump_catalog_version).

Why: totals and facet counts need a pass over every matching entity; the catalog changes only when an
ingest runs, so such answers are computed once per version and reused. Each process keeps its own small
LRU. The version token itself is re-read from the graph at most every VERSION_TTL seconds (a write in this
process refreshes it at once), so a write in another process expires these caches within that time, and a
page does not pay a round trip for it. No version token (a fresh or wiped database) means no caching.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, Hashable, TypeVar

if TYPE_CHECKING:
    from graph.driver import Graph

T = TypeVar("T")
MAX_ENTRIES = 2000

_lock = threading.Lock()
_entries: "OrderedDict[Hashable, object]" = OrderedDict()


VERSION_TTL = 1.0
_versions: dict[tuple[str, str], tuple[str | None, float]] = {}


def catalog_version(graph: "Graph") -> str | None:
    key = (graph.settings.uri, graph.database)
    known = _versions.get(key)
    now = time.monotonic()
    if known is not None and now - known[1] < VERSION_TTL:
        return known[0]
    records = graph.read("OPTIONAL MATCH (m:CatalogMeta {key: 'catalog'}) RETURN m.version AS v")
    version = records[0]["v"] if records else None
    _versions[key] = (version, now)
    return version


def set_version(graph: "Graph", version: str | None) -> None:
    """Called by the write path in this process: its own reads see the new version immediately."""
    _versions[(graph.settings.uri, graph.database)] = (version, time.monotonic())


def cached(graph: "Graph", version: str | None, key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()` once per (server, database, version, key)."""
    if version is None:
        return compute()
    full = (graph.settings.uri, graph.database, version, key)
    with _lock:
        if full in _entries:
            _entries.move_to_end(full)
            return _entries[full]  # type: ignore[return-value]
    value = compute()
    with _lock:
        _entries[full] = value
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def clear() -> None:
    with _lock:
        _entries.clear()
        _versions.clear()
