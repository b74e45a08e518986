"""Registered locations (:IngestSource); the runs recorded for them (:IngestRun) are graph.runs'.

Written by ingest.sync through graph.write (record_source). The run readers are re-exported here, where the
API, pages and CLI have always read them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from graph.runs import STALE_AFTER_MS, count_runs, get_run, list_runs, record_progress, run_started_at

if TYPE_CHECKING:
    from graph.driver import Graph

__all__ = ["STALE_AFTER_MS", "count_runs", "get_run", "list_runs", "list_sources", "record_progress",
           "run_started_at"]

_COUNTS = ("added", "updated", "unchanged", "removed", "rejected", "conflicts", "files", "reused_files")


def list_sources(graph: "Graph") -> list[dict]:
    """Every registered location with its last run and that run's counts."""
    rows = graph.read("MATCH (s:IngestSource) RETURN properties(s) AS s ORDER BY s.key")
    return [{
        "key": s["key"], "target": s.get("target"), "last_run": s.get("last_run"),
        "last_run_at": s.get("last_run_at"), "created_at": s.get("created_at"),
        "counts": {k: s[k] for k in _COUNTS if k in s},
    } for s in (r["s"] for r in rows)]
