"""What a verified webhook delivery does: re-ingest the source it concerns (plugins.api.WebhookRequest.reingest,
offered to every webhook plugin, e.g. the GitHub plugin's push and repository events).

Queued through the job framework (ingest.jobs.trigger.queue_run, trigger "webhook") when its Redis broker
answers, so the webhook returns at once and the per-source lock keeps one run at a time; the queued run
re-reads the whole source with conditional requests (304s for everything but the pushed repository).
Without a reachable broker (a portal run without workers) the run happens synchronously and asks GitHub
only about the pushed repository, taking every other answer from the ETag cache.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ingest.context import sync_context
from ingest.jobs.config import JobsConfig, SourceConfig
from ingest.jobs.runner import fail
from ingest.jobs.trigger import JobsUnavailable, queue_run
from ingest.runs import new_run_id
from plugins.api import redact, secret
from plugins.registry import registry

if TYPE_CHECKING:
    from graph.driver import Graph

log = logging.getLogger(__name__)


def reingest(graph: "Graph", source: SourceConfig, *, options: dict[str, Any] | None = None,
             config: JobsConfig | None = None) -> dict[str, Any]:
    """Queue (or, without a reachable broker, run now) a webhook-triggered run of `source`; `options` narrow
    the synchronous run (e.g. GitHub's `refresh_repos`: ask only about the pushed repository); `config`: the
    sources the portal read at start (None: TRELLIS_CONFIG)."""
    try:
        outcome = queue_run(graph, source.name, trigger="webhook", config=config)
    except JobsUnavailable as exc:
        log.info("webhook: %s; running %s synchronously", exc, source.name)
        return run_now(graph, source, options=options)
    return {"source": source.name, "mode": "queued", **outcome.as_json()}


def run_now(graph: "Graph", source: SourceConfig, *, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The synchronous fallback: one run with `options` over the source's own; failures are recorded, then raised."""
    run_id = new_run_id()
    ctx = sync_context(
        graph=graph, source=source.name, run_id=run_id,
        options={**source.options, **(options or {})},
        trigger="webhook", secret=secret, max_removal_share=source.max_share,
        min_removal_count=source.min_count, base_dir=source.base_dir, kinds=source.kinds,
    )
    try:
        result = registry().provider(source.provider).sync(ctx)
    except Exception as exc:
        fail(graph, run_id, source.name, exc, trigger="webhook")
        log.warning("webhook run %s of %s failed: %s", run_id, source.name, redact(str(exc)))
        raise
    counts = {k: getattr(result, k) for k in ("added", "updated", "unchanged", "removed")}
    return {"source": source.name, "mode": "synchronous", "run": result.run,
            "status": "ok" if result.ok else "partial", "result": counts}
