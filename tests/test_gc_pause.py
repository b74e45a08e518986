"""The collector pause shared by walks and ingest runs (graph.gc_pause.paused_gc) is counted across threads.

What would go wrong without the count: a walk finishing in the portal while an ingest run is still building its
100k rows turns the collector back on under the run (full collections over millions of containers), or a walk
turns it on in a process whose operator had turned it off.
"""
from __future__ import annotations

import gc
import threading

from graph import walk as walk_module
from graph.gc_pause import paused_gc


def test_overlapping_pauses_turn_collection_back_on_only_when_the_last_one_leaves():
    assert gc.isenabled()
    run_started, walk_left = threading.Event(), threading.Event()
    seen: list[bool] = []

    def run():   # an ingest run that starts while a walk holds the pause, and ends after it
        with paused_gc():
            run_started.set()
            walk_left.wait(5)
            seen.append(gc.isenabled())

    with paused_gc():   # the walk
        t = threading.Thread(target=run)
        t.start()
        run_started.wait(5)
    walk_left.set()
    t.join(5)
    assert seen == [False]   # the walk leaving did not turn collection on under the run
    assert gc.isenabled()    # the run leaving did


def test_a_pause_leaves_collection_off_when_it_was_off():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_walk_builds_its_answer_with_collection_paused(monkeypatch):
    during: list[bool] = []

    class FakeGraph:
        def read(self, query, **params):
            during.append(gc.isenabled())
            return [{"root": {"ref": "component:default/a"},
                     "rows": [[["component:default/b", "Component", "", "", ""], 1, "component:default/a",
                               "DEPENDS_ON", True]]}]

    answer = walk_module.walk(FakeGraph(), "component:default/a", "<DEPENDS_ON", max_depth=3)   # type: ignore
    assert during == [False] and gc.isenabled()
    assert [(s.ref, s.owner, s.unresolved) for s in answer.steps] == [("component:default/b", None, False)]
