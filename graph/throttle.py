"""Sign-in failure counters in Neo4j, so every gunicorn worker (and every host) sees the same counts.

One `(:SigninThrottle {key})` node per throttled key (`user:<name>` or `ip:<address>`) holds the epoch-ms
times of recent failures; each write drops the ones that left the sliding window, so the list stays short.
Nodes whose newest failure is older than the window are deleted in small batches as failures come in.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

MAX_KEPT = 100   # failures kept per key (more than any sane limit)

_RECORD = """
MERGE (t:SigninThrottle {key: $key})
SET t.failures = ([f IN coalesce(t.failures, []) WHERE f > $since] + [$now])[-$keep..],
    t.updated_at = $now
RETURN t.failures AS failures
"""
_READ = """
UNWIND $keys AS key
MATCH (t:SigninThrottle {key: key})
RETURN t.key AS key, [f IN t.failures WHERE f > $since] AS failures
"""
_CLEAR = "MATCH (t:SigninThrottle {key: $key}) DELETE t"
_PRUNE = "MATCH (t:SigninThrottle) WHERE t.updated_at < $before WITH t LIMIT 500 DELETE t"


def now_ms() -> int:
    return int(time.time() * 1000)


def record_failure(graph: "Graph", key: str, window_ms: int, *, now: int | None = None) -> list[int]:
    """Add one failure to `key`; returns the failure times still inside the window (oldest first)."""
    now = now_ms() if now is None else now
    rows = _write_returning(graph, _RECORD, key=key, since=now - window_ms, now=now, keep=MAX_KEPT)
    graph.write(_PRUNE, before=now - window_ms)
    return list(rows[0]["failures"]) if rows else [now]


def failures(graph: "Graph", keys: list[str], window_ms: int, *, now: int | None = None) -> dict[str, list[int]]:
    """Failure times inside the window per key (keys without any are absent)."""
    now = now_ms() if now is None else now
    return {r["key"]: list(r["failures"]) for r in graph.read(_READ, keys=list(keys), since=now - window_ms)}


def clear(graph: "Graph", key: str) -> None:
    """Forget every failure of `key` (a successful sign-in clears its username's counter)."""
    graph.write(_CLEAR, key=key)


def _write_returning(graph: "Graph", query: str, **params) -> list[dict]:
    def work(tx) -> list[dict]:
        return [dict(r) for r in tx.run(query, **params)]

    return graph.write_tx(work)
