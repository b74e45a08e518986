"""The event plugins' after-ingest hooks get (plugins.api.AfterIngest), built here because ingest offers the
services behind it: the configured search engine over this graph, and queueing a task on the job framework
(e.g. the TechDocs plugin's docs rebuild check), so a plugin needs neither plugins.search nor docs_builder."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from plugins.api import AfterIngest
from plugins.registry import run_after_ingest
from plugins.search import configured_engine, engine_for

if TYPE_CHECKING:
    from graph.driver import Graph
    from ingest.sync import IngestResult


def after_ingest(graph: "Graph", result: "IngestResult") -> None:
    """Run every plugin's after-ingest hook for this recorded run (best effort: failures are logged)."""
    run_after_ingest(AfterIngest(graph=graph, result=result, search_engine_name=configured_engine(),
                                 search_engine=lambda: engine_for(graph), queue_task=queue_task))


def queue_task(name: str, args: Iterable[Any] = (), *, queue: str | None = None) -> bool:
    """Send the Celery task `name` to `queue`; False when the job framework (Celery) is not installed."""
    try:
        from ingest.jobs.celery_app import app  # noqa: PLC0415 -- heavy: Celery loads only when a hook queues a task
    except ImportError:   # pragma: no cover - Celery is an optional part of an installation
        return False
    app.send_task(name, args=tuple(args), queue=queue)
    return True
