"""The one run lifecycle: every `:IngestRun` record is built here (its Cypher is graph/runs.py).

queued -> running (live progress) -> ok | partial | failed, plus the job states retrying and skipped. The
same recorder serves a location's ingest, a provider's entities (`ctx.ingest`), runtime-fact runs (CI
builds, Kubernetes workloads: `ctx.facts_run`, with their own counts) and the job framework (queued,
skipped, retrying, failed before a provider ran). Error texts are masked with every secret the process has
read (plugins.api.redact).
"""
from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Callable, Union

from graph import runs as graph_runs
from graph import write
from graph.gc_pause import paused_gc
from ingest.after_ingest import after_ingest
from ingest.cache import ingest_lock
from plugins.api import FactsResult, IngestResult, redact

if TYPE_CHECKING:
    from graph.driver import Graph

Progress = Callable[[str, int, int], None]
RunResult = Union[IngestResult, FactsResult]


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> int:
    return int(time.time() * 1000)


class LiveProgress:
    """Reports progress to the caller and, at most every PERIOD seconds (and on each new stage), into the
    run's `:IngestRun`, so the portal can show it while the run is going on."""

    PERIOD = 0.5

    def __init__(self, graph: "Graph", run_id: str, forward: Progress | None) -> None:
        self.graph, self.run_id, self.forward = graph, run_id, forward
        self.stage: str | None = None
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.forward:
            self.forward(stage, done, total)
        now = time.monotonic()
        if stage == self.stage and now - self.last < self.PERIOD and done < total:
            return
        self.stage, self.last = stage, now
        try:
            graph_runs.record_progress(self.graph, self.run_id, stage, done, total)
        except Exception:   # progress is a courtesy; the run itself must not fail because of it
            pass


def recorded_run(graph: "Graph | None", result: RunResult, *, trigger: str, name: str,
                 progress: Progress | None, body: Callable[[Progress], object],
                 prepare: Callable[[], object] | None = None) -> RunResult:
    """Run `body` as one recorded run: "running" with live progress, then ok/partial/failed with counts.

    `prepare` (e.g. a git clone) runs first, outside the catalog's ingest lock; its failure is the run's
    failure. A runtime-fact run (FactsResult) records its own counts and does not call the after-ingest
    hooks (it changes no entity).
    """
    if graph is None or result.dry_run:
        if prepare is not None:
            _step(progress, "fetching", 0, 0)
            prepare()
        with paused_gc():
            body(lambda stage, done, total: _step(progress, stage, done, total))
        return result
    started_at = _now()
    extra = {"trigger": trigger, "name": name}
    graph_runs.record_run(graph, run_record(result, started_at, "running", None, finished=False, **extra))
    # A job's context already writes this run's progress: reuse it rather than writing everything twice.
    live = progress if isinstance(progress, LiveProgress) and progress.run_id == result.run else \
        LiveProgress(graph, result.run, progress)
    try:
        if prepare is not None:
            live("fetching", 0, 0)
            prepare()
        # One writer per catalog database on this host: two runs comparing against the same stored state
        # would both CREATE the same new nodes and relationships.
        live("waiting", 0, 0)
        with ingest_lock(graph.settings.uri, graph.database), paused_gc():
            body(live)
    except Exception as exc:
        try:
            write.bump_catalog_version(graph)   # a failed run: what it wrote is unknown
            graph_runs.record_run(graph, run_record(result, started_at, "failed",
                                                    redact(str(exc)) or type(exc).__name__, stage=live.stage,
                                                    **extra))
        except Exception:   # the database itself may be what failed; the original error matters more
            pass
        raise
    if _changed(result):   # nothing changed: cached read answers stay valid
        write.bump_catalog_version(graph, record_changes=True)
    graph_runs.record_run(graph, run_record(result, started_at, "ok" if result.ok else "partial", None, **extra))
    if isinstance(result, IngestResult):
        after_ingest(graph, result)   # plugins' hooks (search index, docs rebuilds); best effort
    return result


def _changed(result: RunResult) -> bool:
    if isinstance(result, FactsResult):
        return bool(result.created or result.removed)
    return bool(result.added or result.updated or result.removed)


def run_record(result: RunResult, started_at: int, status: str, error: str | None, *, finished: bool = True,
               trigger: str = "manual", name: str | None = None, stage: str | None = None) -> dict:
    """The `:IngestRun` properties: flat counts, problem lists as JSON (Neo4j stores no nested maps)."""
    record = {
        "id": result.run, "source": result.source, "name": name or result.source, "target": result.target,
        "trigger": trigger, "status": status, "error": error, "started_at": started_at,
        "finished_at": _now() if finished else None,
        "rejected_count": len(result.rejected), "rejected": redact(json.dumps(result.rejected)),
        "seconds": round(result.seconds, 3),
    }
    if isinstance(result, FactsResult):
        record.update(kind="facts", facts_created=result.created, facts_seen_again=result.seen_again,
                      facts_removed=result.removed, facts_read=result.read)
    else:
        record.update(added=result.added, updated=result.updated, unchanged=result.unchanged,
                      removed=result.removed, files=result.files, reused_files=result.reused_files,
                      conflicts_count=len(result.conflicts), conflicts=redact(json.dumps(result.conflicts)))
    if finished:
        record.update(progress_stage=stage if status == "failed" else "done", updated_at=record["finished_at"])
    return record


def add_problems(graph: "Graph | None", result: RunResult, problems: list[dict]) -> None:
    """Problems a provider found outside the recorded body (files or accounts it could not read), added to
    the result and to its finished run record, which becomes `partial`."""
    if not problems:
        return
    result.rejected.extend(problems)
    if result.dry_run or graph is None:
        return
    graph_runs.record_run(graph, {"id": result.run, "status": "partial", "rejected_count": len(result.rejected),
                                  "rejected": redact(json.dumps(result.rejected))})


def record_state(graph: "Graph", run_id: str, name: str, status: str, *, trigger: str,
                 error: str | None = None, finished: bool = False, **extra: object) -> None:
    """Create or update a run's record with a job-level state (queued/running/skipped/failed/retrying)."""
    record = {"id": run_id, "name": name, "trigger": trigger, "status": status, "error": redact(error), **extra}
    if graph_runs.run_started_at(graph, run_id) is None:
        record.update(source=name, target=name, started_at=_now())
    if finished:
        record["finished_at"] = _now()
    graph_runs.record_run(graph, record)


def _step(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress:
        progress(stage, done, total)
