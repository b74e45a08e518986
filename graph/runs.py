"""Ingest runs (:IngestRun): the one place their Cypher lives. Written by the recorder (ingest.runs) only;
read by the runs API, pages and CLI (graph.sources re-exports the readers).

Every run, whatever produced it, has the same envelope (id, source, name, target, trigger, status, error,
times, progress, rejected). Counts differ by what the run did: an ingest of entities records `added`,
`updated`, `unchanged`, `removed`, `files`, `reused_files`, `conflicts`; a runtime-fact run (CI builds,
Kubernetes workloads: `kind = "facts"`) records `facts_created`, `facts_seen_again`, `facts_removed`,
`facts_read`. Readers show both in one `counts` shape, so the portal reads every run alike.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

# A running run whose progress has not moved for this long most likely lost its worker (killed without a
# redelivery yet): flagged `stale` so people stop waiting for it. Long stages report at least per stage.
STALE_AFTER_MS = 15 * 60 * 1000
_RUN_COUNTS = ("added", "updated", "unchanged", "removed", "files", "reused_files", "rejected_count",
               "conflicts_count")
# How a runtime-fact run's own counts read in the shared `counts` shape (new facts, facts seen again, facts
# or links removed, projects/clusters read).
_FACT_COUNTS = {"added": "facts_created", "unchanged": "facts_seen_again", "removed": "facts_removed",
                "files": "facts_read"}


RUNS_KEPT = 500


def record_run(graph: "Graph", run: dict) -> None:
    """Remember one ingest run (who/what/when, counts, rejections as JSON); only the latest RUNS_KEPT stay."""
    graph.write(
        "MERGE (r:IngestRun {id: $run.id}) SET r += $run",
        run=run,
    )
    graph.write(
        "MATCH (r:IngestRun) WITH r ORDER BY r.started_at DESC SKIP $kept DETACH DELETE r",
        kept=RUNS_KEPT,
    )


def list_runs(graph: "Graph", *, source: str | None = None, status: str | None = None, limit: int = 50,
              offset: int = 0) -> list[dict]:
    """The latest runs, newest first (summaries: the rejected/conflict lists only by count).

    `source` matches either the owning source key or the configured source name that triggered the run.
    """
    rows = graph.read(
        "MATCH (r:IngestRun) WHERE ($source IS NULL OR r.source = $source OR r.name = $source) "
        "AND ($status IS NULL OR r.status = $status) "
        "RETURN properties(r) AS r ORDER BY r.started_at DESC, r.id SKIP $offset LIMIT $limit",
        source=source, status=status, limit=limit, offset=offset,
    )
    return [_run(r["r"], full=False) for r in rows]


def count_runs(graph: "Graph", *, source: str | None = None, status: str | None = None) -> int:
    rows = graph.read(
        "MATCH (r:IngestRun) WHERE ($source IS NULL OR r.source = $source OR r.name = $source) "
        "AND ($status IS NULL OR r.status = $status) RETURN count(r) AS c",
        source=source, status=status,
    )
    return rows[0]["c"]


def get_run(graph: "Graph", run_id: str) -> dict | None:
    rows = graph.read("MATCH (r:IngestRun {id: $id}) RETURN properties(r) AS r", id=run_id)
    return _run(rows[0]["r"], full=True) if rows else None


def _run(props: dict, *, full: bool) -> dict:
    out = {
        "id": props["id"], "source": props.get("source"), "name": props.get("name") or props.get("source"),
        "target": props.get("target"), "trigger": props.get("trigger") or "manual",
        "status": props.get("status"), "error": props.get("error"),
        "started_at": props.get("started_at"), "finished_at": props.get("finished_at"),
        "seconds": props.get("seconds"),
        "counts": _counts(props),
        "progress": {"stage": props.get("progress_stage"), "done": props.get("progress_done") or 0,
                     "total": props.get("progress_total") or 0, "updated_at": props.get("updated_at")},
    }
    beat = props.get("updated_at") or props.get("started_at") or 0
    out["stale"] = out["status"] == "running" and time.time() * 1000 - beat > STALE_AFTER_MS
    if full:
        out["rejected"] = json.loads(props.get("rejected") or "[]")
        out["conflicts"] = json.loads(props.get("conflicts") or "[]")
    return out


def record_progress(graph: "Graph", run_id: str, stage: str, done: int, total: int) -> None:
    """Live progress of a running run (stage, done, total), with a heartbeat time for stale-run detection."""
    graph.write(
        "MATCH (r:IngestRun {id: $id}) "
        "SET r.progress_stage = $stage, r.progress_done = $done, r.progress_total = $total, "
        "r.updated_at = timestamp()",
        id=run_id, stage=stage, done=done, total=total,
    )


def run_started_at(graph: "Graph", run_id: str) -> int | None:
    """When a recorded run started (None: no record yet, or only queued)."""
    rows = graph.read("MATCH (r:IngestRun {id: $id}) RETURN r.started_at AS s", id=run_id)
    return rows[0]["s"] if rows else None


def _counts(props: dict) -> dict:
    counts = {k.removesuffix("_count"): props.get(k, 0) for k in _RUN_COUNTS}
    if props.get("kind") == "facts":
        counts.update({shown: props.get(own) or 0 for shown, own in _FACT_COUNTS.items()})
    return counts
