"""graph.versioned.cached with `weigh` (a bound on the sum of entry sizes, not their number) and `one_at_a_time`
(threads asking for the same missing entry share one computation). No database: the cache keys only on the
graph's address and the version it is given.

What a user would notice if it went wrong: a portal process growing without bound on large blast radii, or
every open Impact tab walking the same radius again right after an ingest.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from graph import versioned

GRAPH = SimpleNamespace(settings=SimpleNamespace(uri="bolt://example.invalid:7687"), database="neo4j")


@pytest.fixture
def store():
    versioned.clear()
    yield versioned.new_store()
    versioned.clear()


def _keep(store, key, size: int, calls: list, **kwargs):
    def compute():
        calls.append(key)
        return "x" * size

    return versioned.cached(GRAPH, "v1", key, compute, store=store, limit=10, weigh=len, **kwargs)


def test_the_bound_is_on_total_weight_least_recently_used_out_first(store):
    calls: list = []
    _keep(store, "a", 4, calls)
    _keep(store, "b", 4, calls)
    _keep(store, "a", 4, calls)          # a is now the most recently used
    assert calls == ["a", "b"] and versioned.weight(store) == 8
    _keep(store, "c", 4, calls)          # 12 > 10: b goes, a stays
    _keep(store, "a", 4, calls)
    _keep(store, "b", 4, calls)
    assert calls == ["a", "b", "c", "b"]
    assert versioned.weight(store) <= 10


def test_a_value_heavier_than_the_bound_is_answered_but_not_kept(store):
    calls: list = []
    assert _keep(store, "big", 11, calls) == "x" * 11
    assert _keep(store, "big", 11, calls) == "x" * 11
    assert calls == ["big", "big"] and versioned.weight(store) == 0


def test_another_version_is_another_entry(store):
    calls: list = []
    versioned.cached(GRAPH, "v1", "k", lambda: calls.append(1) or "old", store=store, limit=10, weigh=len)
    assert versioned.cached(GRAPH, "v2", "k", lambda: calls.append(2) or "new", store=store, limit=10,
                            weigh=len) == "new"
    assert calls == [1, 2]


@pytest.mark.parametrize("size", [3, 50])   # kept, and too heavy to keep: both handed to the waiting threads
def test_threads_asking_at_once_share_one_computation(store, size):
    calls: list = []

    def compute():
        calls.append(1)
        time.sleep(0.3)
        return "x" * size

    def ask(_):
        return versioned.cached(GRAPH, "v1", "slow", compute, store=store, limit=10, weigh=len, one_at_a_time=True)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, range(6)))
    assert answers == ["x" * size] * 6 and calls == [1]
    assert not versioned._flights   # nothing left behind for the next version


def test_a_failed_computation_is_not_handed_to_the_others(store):
    calls: list = []

    def compute():
        calls.append(1)
        time.sleep(0.1)
        raise LookupError("not in the catalog")

    def ask(_):
        try:
            return versioned.cached(GRAPH, "v1", "gone", compute, store=store, limit=10, weigh=len,
                                    one_at_a_time=True)
        except LookupError as exc:
            return str(exc)

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(ask, range(3))) == ["not in the catalog"] * 3
    assert len(calls) == 3 and not versioned._flights
