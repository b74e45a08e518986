"""Registered locations (:IngestSource) and the ingest runs recorded for them (:IngestRun).

Written by ingest.sync through graph.write (record_source, record_run); read here for the API and pages.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

_COUNTS = ("added", "updated", "unchanged", "removed", "rejected", "conflicts", "files", "reused_files")
_RUN_COUNTS = ("added", "updated", "unchanged", "removed", "files", "reused_files", "rejected_count",
               "conflicts_count")


def list_sources(graph: "Graph") -> list[dict]:
    """Every registered location with its last run and that run's counts."""
    rows = graph.read("MATCH (s:IngestSource) RETURN properties(s) AS s ORDER BY s.key")
    return [{
        "key": s["key"], "target": s.get("target"), "last_run": s.get("last_run"),
        "last_run_at": s.get("last_run_at"), "created_at": s.get("created_at"),
        "counts": {k: s[k] for k in _COUNTS if k in s},
    } for s in (r["s"] for r in rows)]


def list_runs(graph: "Graph", *, source: str | None = None, limit: int = 50) -> list[dict]:
    """The latest runs, newest first (summaries: the rejected/conflict lists only by id)."""
    rows = graph.read(
        "MATCH (r:IngestRun) WHERE $source IS NULL OR r.source = $source "
        "RETURN properties(r) AS r ORDER BY r.started_at DESC, r.id LIMIT $limit",
        source=source, limit=limit,
    )
    return [_run(r["r"], full=False) for r in rows]


def get_run(graph: "Graph", run_id: str) -> dict | None:
    rows = graph.read("MATCH (r:IngestRun {id: $id}) RETURN properties(r) AS r", id=run_id)
    return _run(rows[0]["r"], full=True) if rows else None


def _run(props: dict, *, full: bool) -> dict:
    out = {
        "id": props["id"], "source": props.get("source"), "target": props.get("target"),
        "status": props.get("status"), "error": props.get("error"),
        "started_at": props.get("started_at"), "finished_at": props.get("finished_at"),
        "seconds": props.get("seconds"),
        "counts": {k.removesuffix("_count"): props.get(k, 0) for k in _RUN_COUNTS},
    }
    if full:
        out["rejected"] = json.loads(props.get("rejected") or "[]")
        out["conflicts"] = json.loads(props.get("conflicts") or "[]")
    return out
