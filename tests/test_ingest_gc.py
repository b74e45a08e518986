"""A run pauses cyclic garbage collection (ingest.runs.paused_gc) and always turns it back on."""
from __future__ import annotations

import gc

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
