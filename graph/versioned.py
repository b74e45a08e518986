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
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, Hashable, TypeVar

if TYPE_CHECKING:
    from graph.driver import Graph

T = TypeVar("T")
MAX_ENTRIES = 2000

_lock = threading.Lock()
_entries: "OrderedDict[Hashable, object]" = OrderedDict()


POLL_INTERVAL = 0.5
"""Seconds between two reads of the version tokens in one process. Caches keyed on them (read caches here,
the auth caches in app/auth/cache.py) therefore see another process's write within this time: a revoked
token, a disabled account or a changed role is refused by every worker within a second."""
VERSION_TTL = POLL_INTERVAL   # the older name, kept for callers and tests

_READ_VERSIONS = (
    "OPTIONAL MATCH (c:CatalogMeta {key: 'catalog'}) "
    "OPTIONAL MATCH (a:CatalogMeta {key: 'access'}) "
    "RETURN c.version AS catalog, a.version AS access"
)
_versions: dict[tuple[str, str], tuple[tuple[str | None, str | None], float]] = {}


def versions(graph: "Graph") -> tuple[str | None, str | None]:
    """(catalog version, access version): re-read from the graph at most every POLL_INTERVAL seconds.

    The catalog version changes with every ingest write (entities, groups, memberships); the access version
    with every write that changes who may do what outside the catalog (tokens revoked, accounts disabled or
    re-linked, role grants, identity bindings). One small read for both."""
    key = (graph.settings.uri, graph.database)
    known = _versions.get(key)
    now = time.monotonic()
    if known is not None and now - known[1] < POLL_INTERVAL:
        return known[0]
    records = graph.read(_READ_VERSIONS)
    pair = (records[0]["catalog"], records[0]["access"]) if records else (None, None)
    _versions[key] = (pair, now)
    return pair


def stamp(graph: "Graph") -> tuple:
    """What a cache entry derived from the graph is valid for: this server and database, the version tokens,
    and the local generation (bumped by `clear()`, e.g. when a test wipes the database behind our back)."""
    return (graph.settings.uri, graph.database, _generation, *versions(graph))


def catalog_version(graph: "Graph") -> str | None:
    return versions(graph)[0]


def set_version(graph: "Graph", version: str | None) -> None:
    """Called by the write path in this process: its own reads see the new version immediately."""
    key = (graph.settings.uri, graph.database)
    known = _versions.get(key)
    access = known[0][1] if known is not None else None
    _versions[key] = ((version, access), time.monotonic() if known is not None else 0.0)


def bump_access_version(graph: "Graph") -> str:
    """Give access a new version token after a write that changes who may do what, so every process drops
    its cached token checks, roles and account states within POLL_INTERVAL. Random, like the catalog's."""
    token = uuid.uuid4().hex
    graph.write("MERGE (m:CatalogMeta {key: 'access'}) SET m.version = $token, m.updated_at = timestamp()",
                token=token)
    key = (graph.settings.uri, graph.database)
    _versions.pop(key, None)   # this process re-reads both at once
    return token


def cached(graph: "Graph", version: str | None, key: Hashable, compute: Callable[[], T],
           *, store: "OrderedDict[Hashable, object] | None" = None, limit: int = MAX_ENTRIES,
           weigh: Callable[[T], int] | None = None, one_at_a_time: bool = False,
           carry: Callable[[T, frozenset[str]], bool] | None = None) -> T:
    """`compute()` once per (server, database, version, key); the least recently used go past `limit`.

    `store`: a separate LRU for a family of entries that must not evict the others (entity documents).
    `weigh`: for entries whose sizes differ by orders of magnitude (a walk of 3 entities or of 10,000), `limit`
    bounds the sum of `weigh(value)` over the store instead of the number of entries; a value heavier than
    `limit` on its own is computed and returned but not kept. Use one `weigh` per store.
    `one_at_a_time`: for a costly `compute()`, threads that ask for the same missing entry at once wait for the
    first one's answer instead of each computing it (right after an ingest, every open Impact tab asks).
    `carry` (with `weigh` and `store`): on a miss, the entry of the same key kept at an older version moves to
    this one when `carry(value, changed)` is true, `changed` being the refs every write since that version
    changed (`changes_between`); when that is unknown, the value is computed again."""
    if version is None:
        return compute()
    full = (graph.settings.uri, graph.database, _generation, version, key)
    if carry is not None:
        compute = _carrying(graph, full, store, compute, carry)   # type: ignore[arg-type]
    if not one_at_a_time:
        return _cached(full, compute, store, limit, weigh)
    with _lock:
        flight = _flights.setdefault(full, [threading.Lock(), 0])
        flight[1] += 1
    try:
        with flight[0]:   # the first computes; the others are handed its value (kept or too heavy to keep)
            if len(flight) == 3:
                return flight[2]
            value = _cached(full, compute, store, limit, weigh)
            flight.append(value)
            return value
    finally:
        with _lock:
            flight[1] -= 1
            if not flight[1]:
                del _flights[full]


def _carrying(graph: "Graph", full: tuple, store: "OrderedDict[Hashable, object]", compute: Callable[[], T],
              carry: Callable[[T, frozenset[str]], bool]) -> Callable[[], T]:
    """`compute`, preceded by moving the same key's entry from the version it was kept at to `full`'s when
    no change since then concerns it (the caller inserts the value under `full`, with its weight)."""
    def carried_or_computed() -> T:
        family = (id(store), *full[:3], full[4])
        with _lock:
            older = _latest.get(family)
            hit = store.get((*full[:3], older, full[4])) if older not in (None, full[3]) else None
        if hit is not None:
            changed = changes_between(graph, older, full[3])   # type: ignore[arg-type]
            if changed is not None and carry(hit[0], changed):  # type: ignore[index]
                with _lock:
                    if store.pop((*full[:3], older, full[4]), None) is not None:
                        _weights[id(store)] = _weights.get(id(store), 0) - hit[1]  # type: ignore[index]
                return hit[0]  # type: ignore[index]
        return compute()

    return carried_or_computed


_CHANGES = """
MATCH (a:CatalogChange {version: $old})
MATCH (b:CatalogChange {version: $new})
OPTIONAL MATCH (c:CatalogChange) WHERE c.seq > a.seq AND c.seq <= b.seq
WITH a, b, count(c) AS found, sum(CASE WHEN c.complete THEN 0 ELSE 1 END) AS unknown,
     collect(c.refs) AS refs, sum(size(coalesce(c.refs, []))) AS total
RETURN b.seq - a.seq AS expected, found, unknown, total, CASE WHEN total <= $most THEN refs END AS refs
"""
_between: "OrderedDict[tuple, frozenset[str] | None]" = OrderedDict()
BETWEEN_KEPT = 16
MAX_CHANGED = 5_000
"""Refs one answer of `changes_between` may hold (more: unknown), so the answers a process keeps stay under
~BETWEEN_KEPT x MAX_CHANGED refs (a few MB), however many versions lie between."""


def changes_between(graph: "Graph", old: str, new: str) -> frozenset[str] | None:
    """The refs every catalog write from version `old` to version `new` changed (graph.write.bump_catalog_version
    records them per version), or None when that is not known: a version without a record (written before
    this release, or pruned), a gap in the sequence, a version that recorded "unknown" (a failed run, a bulk
    load), or more than MAX_CHANGED refs in all. Any process's writes count: the records are in the graph.
    Answers are kept (the last BETWEEN_KEPT pairs), so every kept walk of a process pays one read per new
    version."""
    key = (graph.settings.uri, graph.database, _generation, old, new)
    with _lock:
        if key in _between:
            return _between[key]
    records = graph.read(_CHANGES, old=old, new=new, most=MAX_CHANGED)
    answer = None
    if records:
        r = records[0]
        if (r["expected"] is not None and r["expected"] == r["found"] and r["found"] > 0 and not r["unknown"]
                and r["refs"] is not None):
            answer = frozenset(ref for refs in r["refs"] for ref in refs)
    with _lock:
        _between[key] = answer
        while len(_between) > BETWEEN_KEPT:
            _between.popitem(last=False)
    return answer


_latest: dict[tuple, str] = {}   # (id(store), uri, database, generation, key) -> version of its kept entry
_flights: dict[Hashable, list] = {}   # one_at_a_time entries asked for: [lock, threads asking, value once known]


def _cached(full: tuple, compute: Callable[[], T], store: "OrderedDict[Hashable, object] | None", limit: int,
            weigh: Callable[[T], int] | None) -> T:
    entries = _entries if store is None else store
    with _lock:
        if full in entries:
            entries.move_to_end(full)
            hit = entries[full]
            return hit[0] if weigh is not None else hit  # type: ignore[index,return-value]
    value = compute()
    with _lock:
        if weigh is None:
            entries[full] = value
            while len(entries) > limit:
                entries.popitem(last=False)
            return value
        weight = weigh(value)
        if weight > limit:
            return value
        total = _weights.get(id(entries), 0)
        previous = entries.pop(full, None)   # another thread computed it meanwhile
        if previous is not None:
            total -= previous[1]  # type: ignore[index]
        entries[full] = (value, weight)
        family = (id(entries), *full[:3], full[4])
        _latest[family] = full[3]
        total += weight
        while total > limit:
            gone, (_, gone_weight) = entries.popitem(last=False)  # type: ignore[misc]
            total -= gone_weight
            gone_family = (id(entries), *gone[:3], gone[4])
            if _latest.get(gone_family) == gone[3]:
                del _latest[gone_family]
        _weights[id(entries)] = total
    return value


def cached_many(graph: "Graph", version: str | None, keys: list[Hashable],
                compute: Callable[[list[Hashable]], dict], *, store: "OrderedDict[Hashable, object]",
                limit: int = MAX_ENTRIES) -> dict:
    """`cached` for many keys at once: `compute(missing)` is called once with every key not cached (one round
    trip for a page of entities, not one per entity) and returns {key: value}; keys it leaves out are
    cached as None. Returns {key: value} for every key."""
    if version is None:
        found = compute(list(keys))
        return {key: found.get(key) for key in keys}
    prefix = (graph.settings.uri, graph.database, _generation, version)
    out: dict = {}
    missing = []
    with _lock:
        for key in keys:
            full = (*prefix, key)
            if full in store:
                store.move_to_end(full)
                out[key] = store[full]
            else:
                missing.append(key)
    if missing:
        found = compute(missing)
        with _lock:
            for key in missing:
                out[key] = store[(*prefix, key)] = found.get(key)
            while len(store) > limit:
                store.popitem(last=False)
    return out


_weights: dict[int, int] = {}   # the current total weight of each store used with `weigh`, by id(store)


def weight(store: "OrderedDict[Hashable, object]") -> int:
    """The total weight held in a store used with `cached(weigh=...)` (for tests and benchmarks)."""
    with _lock:
        return _weights.get(id(store), 0)


def new_store() -> "OrderedDict[Hashable, object]":
    """A separate LRU for `cached(store=...)`, emptied by `clear()` with the others."""
    store: "OrderedDict[Hashable, object]" = OrderedDict()
    _stores.append(store)
    return store


_stores: list["OrderedDict[Hashable, object]"] = []


_generation = 0


def clear() -> None:
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()
        for store in _stores:
            store.clear()
        _weights.clear()
        _versions.clear()
        _latest.clear()
        _between.clear()
