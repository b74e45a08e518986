"""Read caches keyed on the catalog version token (see graph.write.bump_catalog_version).

Why: totals and facet counts need a pass over every matching entity; the catalog changes only when an
ingest runs, so such answers are computed once per version and reused. Each process keeps its own small
LRU; the version is read from the graph on every call (one cheap index seek), so a write in any process
expires every cache. No version token (a fresh or wiped database) means no caching.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, Hashable, TypeVar

if TYPE_CHECKING:
    from graph.driver import Graph

T = TypeVar("T")
MAX_ENTRIES = 2000

_lock = threading.Lock()
_entries: "OrderedDict[Hashable, object]" = OrderedDict()


def catalog_version(graph: "Graph") -> str | None:
    records = graph.read("OPTIONAL MATCH (m:CatalogMeta {key: 'catalog'}) RETURN m.version AS v")
    return records[0]["v"] if records else None


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
