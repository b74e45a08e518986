"""Celery task `trellis.run_template(task_id, sealed_secrets)` on the `scaffolder` queue of the jobs' Celery app.

`trellis worker` consumes the queue (`-Q celery,docs,scaffolder`). The task record (graph.scaffolder) is the
source of truth: a task is run only from `open` (a cancelled one is skipped); a redelivered task that was
already `processing` (its worker died mid-run) is marked failed rather than run twice, because its steps may
have created repositories already; "re-run" starts a new task with the same values.
"""
from __future__ import annotations

import logging
import socket
import time

from graph import catalog as catalog_reads
from graph import scaffolder as store
from graph.driver import Graph, Settings
from graph.schema import apply_schema
from ingest.jobs.celery_app import app as celery_app
from plugins.api import redact
from plugins.registry import registry as loaded
from scaffolder.catalog_service import CatalogService
from scaffolder.config import load_config
from scaffolder.initiator import Initiator
from scaffolder.integrations import adapt
from scaffolder.recorder import GraphRecorder, Masker
from scaffolder.runner import CancelWatch, run_task
from scaffolder.sealing import SealError, unseal
from scaffolder.services import TemplateBase, http_request
from scaffolder.template import Template, TemplateError

log = logging.getLogger(__name__)

QUEUE = "scaffolder"
_graph = None


def worker_graph():
    """One pooled connection per worker process (schema applied once)."""
    global _graph
    if _graph is None:
        _graph = Graph(Settings.from_env())
        apply_schema(_graph)
    return _graph


def execute(graph, task_id: str, sealed: str | None, *, registry=None, config=None, integrations=None) -> str:
    """Run one recorded task to its end; returns its final status. Used by the Celery task and by tests."""
    before = store.start_task(graph, task_id, worker=socket.gethostname())
    if before is None:
        log.warning("scaffolder task %s is not recorded; nothing to run", task_id)
        return "missing"
    if before == "processing":
        store.update_task(graph, task_id, status="failed", finished_at=store.now_ms(),
                          error="the worker running this task stopped before it finished; steps may have run "
                                "partly (re-run the task to start again)")
        return "failed"
    if before != "open":
        return before
    task = store.get_task(graph, task_id) or {}
    try:
        secrets = unseal(sealed)
    except SealError as exc:
        store.update_task(graph, task_id, status="failed", finished_at=store.now_ms(), error=str(exc))
        return "failed"
    masker = Masker(secrets.values())
    recorder = GraphRecorder(masker, graph, task_id)
    try:
        spec = task.get("spec") or {}
        template = Template.from_entity(spec.get("template") or {}, task.get("template_ref"))
        config = config or load_config()
        integrations = adapt(integrations)
        if registry is None:
            registry = loaded()
    except (TemplateError, ValueError) as exc:
        store.update_task(graph, task_id, status="failed", finished_at=store.now_ms(), error=masker.text(str(exc)))
        return "failed"
    access = task.get("allowed") or {}
    initiator_visibility = Initiator.visibility_from(access.get("visibility"))
    base = TemplateBase.from_json(spec.get("base"))
    user_ref = task.get("user_ref")
    user = {"ref": user_ref,
            "entity": catalog_reads.get_entity(graph, user_ref) if user_ref else None}
    # the catalog service reaches hosts through the same HTTP allow-list as the actions
    def http(method, url, **kw):
        return http_request(integrations, config.http_timeout, masker.add, method, url, **kw)

    catalog = CatalogService(graph, visibility=initiator_visibility, integrations=integrations,
                             catalog_rules=access.get("catalog_rules"), http=http,
                             local_roots=config.git_roots)
    with CancelWatch(lambda: store.cancel_requested(graph, task_id), config.task_timeout) as watch:
        result = run_task(template=template, task_id=task_id, values=task.get("values") or {}, secrets=secrets,
                          user=user, base=base, registry=registry, catalog=catalog, integrations=integrations,
                          config=config, recorder=recorder, cancel=watch, dry_run=False,
                          allowed=set(access.get("actions") or []))
    store.update_task(graph, task_id, status=result.status, finished_at=store.now_ms(), output=result.output,
                      error=result.error, steps=result.steps, registered=catalog.registered)
    return result.status


@celery_app.task(name="trellis.run_template", acks_late=True)
def run_template(task_id: str, sealed: str | None = None) -> dict:
    started = time.perf_counter()
    try:
        status = execute(worker_graph(), task_id, sealed)
    except Exception as exc:   # the record says what happened; the message never carries a secret
        log.error("scaffolder task %s failed: %s", task_id, redact(str(exc)))
        try:
            store.update_task(worker_graph(), task_id, status="failed", finished_at=store.now_ms(),
                              error=redact(f"{type(exc).__name__}: {exc}"))
        except Exception:
            pass
        raise
    return {"task": task_id, "status": status, "seconds": round(time.perf_counter() - started, 3)}


def send_task(task_id: str, sealed: str | None, *, queue: str = QUEUE) -> None:
    """Queue a run (JobsUnavailable-style errors surface as ConnectionError/OSError to the caller)."""
    celery_app.send_task("trellis.run_template", args=(task_id, sealed), task_id=task_id, queue=queue)
