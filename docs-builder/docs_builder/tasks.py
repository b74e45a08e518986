"""Celery task `trellis.build_docs(ref)` on the jobs issue's Celery app (ingest.jobs.celery_app).

Tasks go to the `docs` queue; the docs-builder worker consumes it:
`celery -A ingest.jobs worker -Q docs --include docs_builder.tasks` (docker-compose's docs-builder). The
portal's "Build docs" button queues it when TRELLIS_DOCS_ASYNC=1 (a worker is running); otherwise it builds
in the request. Builds run MkDocs in a child process with their own limits either way (docs_builder.runner).
"""
from __future__ import annotations

import logging
import os

from docs_builder.build import build_entity_docs, rebuild_changed
from docs_builder.storage import storage_from_config
from graph import techdocs
from graph.driver import Graph, Settings
from graph.schema import apply_schema

log = logging.getLogger(__name__)

try:   # the jobs framework (Celery + Redis) is optional for the builder itself
    from ingest.jobs.celery_app import app as celery_app
except ImportError:   # pragma: no cover - exercised where Celery is not installed
    celery_app = None

_graph = None


def _worker_graph():
    """One pooled connection per worker process (schema applied once)."""
    global _graph
    if _graph is None:
        _graph = Graph(Settings.from_env())
        apply_schema(_graph)
    return _graph


def run_build(ref: str, force: bool = False, trigger: str = "task") -> dict:
    """The task body: build one entity's docs with the environment's storage; the outcome as JSON."""
    try:
        outcome = build_entity_docs(_worker_graph(), ref, storage_from_config(), force=force, trigger=trigger)
    except techdocs.BuildInProgress as exc:
        return {"ref": ref, "status": "running", "error": str(exc)}
    except LookupError as exc:
        return {"ref": ref, "status": "failed", "error": str(exc)}
    return outcome.as_json()


def run_changed(refs: list[str] | None = None) -> list[dict]:
    """The ingest-time trigger as a task body: rebuild what changed among `refs` (default: all documented)."""
    return [o.as_json() for o in rebuild_changed(_worker_graph(), storage_from_config(), refs)]


QUEUE = "docs"   # builds are long and CPU-bound: their own queue, consumed by the docs-builder worker

if celery_app is not None:
    build_docs = celery_app.task(name="trellis.build_docs", acks_late=True)(run_build)
    build_changed_docs = celery_app.task(name="trellis.build_changed_docs", acks_late=True)(run_changed)
else:   # pragma: no cover
    build_docs = build_changed_docs = None


def enqueue_build(ref: str, *, force: bool = False, trigger: str = "button") -> bool:
    """Queue a build when TRELLIS_DOCS_ASYNC=1 and Celery is there; False means: build it yourself."""
    if os.environ.get("TRELLIS_DOCS_ASYNC") != "1" or build_docs is None:
        return False
    build_docs.apply_async((ref, force, trigger), queue=QUEUE)
    return True


def enqueue_changed(refs: list[str] | None = None) -> bool:
    """The ingest-time trigger, queued (call after an ingest run with the refs it added or updated)."""
    if build_changed_docs is None:
        return False
    build_changed_docs.apply_async((refs,), queue=QUEUE)
    return True
