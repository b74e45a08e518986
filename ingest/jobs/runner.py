"""One run of a configured source, outside Celery's details: lock, context, provider, recorded outcome.

The Celery task (ingest.jobs.tasks) adds retries and acknowledgement on top; tests and `trellis sync
--wait` semantics come from here. Every outcome is an `:IngestRun`: queued, running (with progress),
ok/partial, failed (with the reason, secrets masked), retrying, or skipped (another run of the source held
the lock).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graph.driver import TRANSIENT_ERRORS
from ingest.context import sync_context
from ingest.jobs.config import JobsConfig, SourceConfig, load_config
from ingest.jobs.locks import SourceLock
from ingest.runs import LiveProgress, new_run_id
from ingest.runs import record_state as record_run_state
from plugins.api import FactsResult, IngestResult, RetryableError, secret
from plugins.registry import Registry, registry as default_registry

if TYPE_CHECKING:
    from graph.driver import Graph

log = logging.getLogger(__name__)


def retryable(exc: BaseException) -> bool:
    """Transient failures worth another attempt: the provider said so, or Neo4j was unreachable."""
    return isinstance(exc, (RetryableError, *TRANSIENT_ERRORS))


@dataclass
class Outcome:
    run: str
    source: str
    status: str                   # ok | partial | failed | skipped
    result: dict | None = None
    error: str | None = None
    running: str | None = None    # for skipped: the run holding the source

    def as_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def record_state(graph: "Graph", run_id: str, source: SourceConfig | str, status: str, *, trigger: str,
                 error: str | None = None, finished: bool = False, **extra: object) -> None:
    """Create or update a run's record with a job-level state (queued/running/skipped/failed/retrying)."""
    name = source if isinstance(source, str) else source.name
    record_run_state(graph, run_id, name, status, trigger=trigger, error=error, finished=finished, **extra)


def run_once(graph: "Graph", source_name: str, *, trigger: str, force: bool, run_id: str, lock: SourceLock,
             config: JobsConfig | None = None, plugins: Registry | None = None) -> Outcome:
    """Run one source now if nobody else runs it; raises the provider's exception after recording it."""
    config = config or load_config()
    source = config.source(source_name)          # ConfigError: permanent, the caller records it
    provider = (plugins or default_registry()).provider(source.provider)
    holder = lock.acquire(source.name, run_id)
    if holder is not None:
        reason = f"source {source.name} already has a run in progress (run {holder}); this trigger was skipped"
        record_state(graph, run_id, source, "skipped", trigger=trigger, error=reason, finished=True, running=holder)
        log.info(reason)
        return Outcome(run_id, source.name, "skipped", error=reason, running=holder)
    try:
        record_state(graph, run_id, source, "running", trigger=trigger, finished=False, progress_stage="starting")
        ctx = sync_context(
            graph=graph, source=source.name, options=dict(source.options), run_id=run_id, trigger=trigger,
            force=force, secret=secret, progress=LiveProgress(graph, run_id, None),
            max_removal_share=source.max_share, min_removal_count=source.min_count, base_dir=source.base_dir,
            kinds=source.kinds,
            integrations=config.integrations,
        )
        result: IngestResult | FactsResult = provider.sync(ctx)
    finally:
        lock.release(source.name, run_id)
    status = "ok" if result.ok else "partial"
    return Outcome(run_id, source.name, status, result=result.as_json())


def fail(graph: "Graph", run_id: str, source: str, exc: BaseException, *, trigger: str, status: str = "failed",
         **extra: object) -> None:
    """Record a run's failure (or pending retry); the database may itself be what failed."""
    try:
        record_state(graph, run_id, source, status, trigger=trigger, error=f"{type(exc).__name__}: {exc}",
                     finished=status == "failed", **extra)
    except Exception:
        log.warning("could not record the outcome of run %s", run_id)


def enqueue(graph: "Graph", source_name: str, *, trigger: str = "manual", force: bool = False,
            config: JobsConfig | None = None, lock: SourceLock, send) -> Outcome:
    """Queue a run of a configured source, or report it skipped when one is queued or running already.

    The lock is taken here with the new run id, so the queued task (same id) gets through and any other
    trigger meanwhile is skipped instead of queued twice. `send(run_id)` hands it to the broker.
    """
    config = config or load_config()
    source = config.source(source_name)
    run_id = new_run_id()
    holder = lock.acquire(source.name, run_id)
    if holder is not None:
        reason = f"source {source.name} already has a run queued or in progress (run {holder}); not queued again"
        record_state(graph, run_id, source, "skipped", trigger=trigger, error=reason, finished=True, running=holder)
        return Outcome(run_id, source.name, "skipped", error=reason, running=holder)
    try:
        record_state(graph, run_id, source, "queued", trigger=trigger)
        send(run_id)
    except BaseException as exc:
        lock.release(source.name, run_id)
        fail(graph, run_id, source.name, exc, trigger=trigger)
        raise
    return Outcome(run_id, source.name, "queued")
