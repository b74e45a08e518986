"""Celery tasks: `trellis.run_source` runs one configured source (see ingest.jobs.runner);
`trellis.audit_prune` keeps the audit log to its newest TRELLIS_AUDIT_KEEP events (beat runs it hourly)."""
from __future__ import annotations

import logging
import os
import random

from ingest.jobs.celery_app import app
from ingest.jobs.config import ConfigError
from ingest.jobs.runner import fail, retryable, run_once
from plugins.api import PluginError, redact
from ingest.jobs.locks import SourceLock
from graph.audit import KEEP
from graph import audit
from graph.driver import Graph, Settings
from graph.schema import apply_schema
import redis
from ingest.jobs.celery_app import redis_url

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_BASE = 10.0      # seconds; doubled per attempt
BACKOFF_MAX = 600.0

_graph = None
_redis = None


def graph():
    """One pooled connection per worker process (schema applied once)."""
    global _graph
    if _graph is None:
        _graph = Graph(Settings.from_env())
        apply_schema(_graph)
    return _graph


def redis_client():
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(redis_url(), socket_timeout=10)
    return _redis


def backoff(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, at least the provider's own `retry_after` hint."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** retries)) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


@app.task(name="trellis.run_source", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def run_source(self, source_name: str, trigger: str = "manual", force: bool = False) -> dict:
    """Run a source once. The run id is the task id: the same across redelivery and retries."""
    run_id = (self.request.id or "").replace("-", "")[:12]
    try:
        g = graph()
        outcome = run_once(g, source_name, trigger=trigger, force=force, run_id=run_id,
                           lock=SourceLock(redis_client()))
    except (ConfigError, PluginError) as exc:   # nothing to retry: the configuration must change
        if _graph is not None:
            fail(_graph, run_id, source_name, exc, trigger=trigger)
        log.error("run %s of %s failed: %s", run_id, source_name, redact(str(exc)))
        raise
    except Exception as exc:
        if retryable(exc) and self.request.retries < self.max_retries:
            delay = backoff(self.request.retries, getattr(exc, "retry_after", None))
            if _graph is not None:
                fail(_graph, run_id, source_name, exc, trigger=trigger, status="retrying",
                     attempt=self.request.retries + 1, retry_in=round(delay, 1))
            log.warning("run %s of %s: transient failure, retry %d in %.0fs: %s", run_id, source_name,
                        self.request.retries + 1, delay, redact(str(exc)))
            raise self.retry(exc=exc, countdown=delay)
        if _graph is not None:
            fail(_graph, run_id, source_name, exc, trigger=trigger)
        log.error("run %s of %s failed: %s", run_id, source_name, redact(str(exc)))
        raise
    return outcome.as_json()


def audit_keep() -> int:
    """How many audit events the worker keeps: $TRELLIS_AUDIT_KEEP, else graph.audit.KEEP (200,000)."""
    raw = (os.environ.get("TRELLIS_AUDIT_KEEP") or "").strip()
    if not raw:
        return KEEP
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"TRELLIS_AUDIT_KEEP must be a whole number of events >= 1, got {raw!r}")
    return int(raw)


@app.task(name="trellis.audit_prune", acks_late=True)
def audit_prune() -> dict:
    """Delete the oldest audit events beyond the cap, in bounded batches (graph.audit.prune)."""
    keep = audit_keep()
    g = graph()
    deleted = audit.prune(g, keep)
    if deleted:
        log.info("audit log pruned: %d oldest events deleted, %d kept", deleted, keep)
    return {"deleted": deleted, "kept": audit.count_events(g)}
