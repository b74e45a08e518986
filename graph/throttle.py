"""Sign-in failure counters in Neo4j, so every gunicorn worker (and every host) sees the same counts.

One `(:SigninThrottle {key})` node per throttled key (`user:<name>` or `ip:<address>`) holds the epoch-ms
times of recent attempts that count as failures; each write drops the ones that left the sliding window, so
the list stays short. `reserve` is check-and-count in one transaction (the first SET write-locks the node until
commit), so parallel guesses cannot all slip past the check before any of them is counted; a successful
sign-in gives its reservation back (`release`, `clear`). Nodes whose newest entry is older than the window are
deleted in small batches as attempts come in.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

MAX_KEPT = 100   # entries kept per key (more than any sane limit)

_LOCK_AND_PRUNE = """
MERGE (t:SigninThrottle {key: $key})
SET t.failures = [f IN coalesce(t.failures, []) WHERE f > $since], t.updated_at = $now
RETURN t.failures AS failures
"""
_APPEND = """
MATCH (t:SigninThrottle {key: $key})
SET t.failures = (t.failures + [$now])[-$keep..]
"""
_READ = """
UNWIND $keys AS key
MATCH (t:SigninThrottle {key: key})
RETURN t.key AS key, [f IN t.failures WHERE f > $since] AS failures
"""
_RELEASE = """
MATCH (t:SigninThrottle {key: $key})
WITH t, [i IN range(0, size(t.failures) - 1) WHERE t.failures[i] = $at] AS found
SET t.failures = CASE WHEN size(found) = 0 THEN t.failures
                      ELSE t.failures[..found[0]] + t.failures[found[0] + 1..] END
"""
_CLEAR = "MATCH (t:SigninThrottle {key: $key}) DELETE t"
_PRUNE = "MATCH (t:SigninThrottle) WHERE t.updated_at < $before WITH t LIMIT 500 DELETE t"


def now_ms() -> int:
    return int(time.time() * 1000)


def reserve(graph: "Graph", limits: dict[str, int], window_ms: int, *, now: int | None = None
            ) -> tuple[bool, dict[str, list[int]]]:
    """Count one attempt against every key unless one of them is at its limit.

    Returns (reserved, failure times in the window per key *before* this attempt). When not reserved,
    nothing was counted. Keys are locked in sorted order, so two requests cannot deadlock.
    """
    now = now_ms() if now is None else now

    def work(tx) -> tuple[bool, dict[str, list[int]]]:
        seen: dict[str, list[int]] = {}
        for key in sorted(limits):
            record = tx.run(_LOCK_AND_PRUNE, key=key, since=now - window_ms, now=now).single()
            seen[key] = list(record["failures"]) if record else []
        if any(len(seen[key]) >= limit for key, limit in limits.items()):
            return False, seen
        for key in sorted(limits):
            tx.run(_APPEND, key=key, now=now, keep=MAX_KEPT).consume()
        return True, seen

    result = graph.write_tx(work)
    graph.write(_PRUNE, before=now - window_ms)
    return result


def record_failure(graph: "Graph", key: str, window_ms: int, *, now: int | None = None) -> None:
    """Count one failure against `key` whatever its count (tests and tools; sign-in uses `reserve`)."""
    reserve(graph, {key: MAX_KEPT + 1}, window_ms, now=now)


def failures(graph: "Graph", keys: list[str], window_ms: int, *, now: int | None = None) -> dict[str, list[int]]:
    """Failure times inside the window per key (keys without any are absent)."""
    now = now_ms() if now is None else now
    return {r["key"]: list(r["failures"]) for r in graph.read(_READ, keys=list(keys), since=now - window_ms)}


def release(graph: "Graph", key: str, at: int) -> None:
    """Take back one reserved attempt made at `at` (the attempt succeeded)."""
    graph.write(_RELEASE, key=key, at=at)


def clear(graph: "Graph", key: str) -> None:
    """Forget every failure of `key` (a successful sign-in clears its username's counter)."""
    graph.write(_CLEAR, key=key)
