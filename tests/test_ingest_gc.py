"""A run pauses cyclic garbage collection (ingest.runs.paused_gc) and always turns it back on."""
from __future__ import annotations

import gc
import sys

import pytest

from ingest import sync
from ingest.sync import ingest


def _catalog(tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\n"
        "spec: {type: service, lifecycle: production, owner: team}\n")
    return tmp_path


def test_a_run_works_without_collections_and_turns_them_back_on(tmp_path, monkeypatch):
    during = []
    real = sync._plan_and_write
    monkeypatch.setattr(sync, "_plan_and_write", lambda *a, **k: during.append(gc.isenabled()) or real(*a, **k))
    assert gc.isenabled()
    result = ingest(None, str(_catalog(tmp_path)))
    assert result.added == 1 and during == [False]
    assert gc.isenabled()


def test_a_failed_run_turns_collections_back_on(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sync, "_plan_and_write", broken)
    with pytest.raises(RuntimeError, match="boom"):
        ingest(None, str(_catalog(tmp_path)))
    assert gc.isenabled()


def test_collections_stay_off_when_the_caller_had_turned_them_off(tmp_path):
    gc.disable()
    try:
        ingest(None, str(_catalog(tmp_path)))
        assert not gc.isenabled()
    finally:
        gc.enable()


# While a run has the collector paused, whatever it leaves in reference cycles stays in memory until the run
# ends (and is then freed all at once, which took 1.5 s after a 100k ingest). These keep a run's writes and
# facts out of cycles, so reference counting frees each batch as soon as it is written.

def test_a_written_batch_is_not_kept_by_the_driver_after_the_write(graph):
    row = {"ref": "component:default/kept", "note": "x" * 100}
    rows = [row]
    gc.disable()
    try:
        graph.write("UNWIND $rows AS r RETURN count(r)", rows=rows)
        graph.read("UNWIND $rows AS r RETURN count(r) AS c", rows=rows)
        assert rows == [row]            # the caller's own list is left as it was
        del rows
        # Only this function's name and getrefcount's argument: the driver's result cycles hold none.
        assert sys.getrefcount(row) == 2
    finally:
        gc.enable()


def test_the_facts_of_a_descriptor_make_no_reference_cycles():
    from graph.filters import entity_facts

    entity = {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
              "metadata": {"name": "a", "annotations": {"x/y": "z"}, "links": [{"url": "https://e.example"}]},
              "spec": {"type": "service", "owner": "team", "dependsOn": ["resource:db"]}}
    gc.collect()
    gc.disable()
    try:
        facts = [entity_facts(entity) for _ in range(50)]
        assert "metadata.annotations.x/y=z" in facts[0]
        assert gc.collect() == 0        # nothing for the cyclic collector: all freed by reference counting
    finally:
        gc.enable()
