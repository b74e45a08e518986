"""Built-in TechDocs plugin: rebuild docs whose content changed after every ingest run.

Registered through the plugin API like any third-party plugin (an after-ingest hook). Builds are queued to
the `docs` Celery queue (TRELLIS_DOCS_ASYNC=1, a worker consuming it: `trellis up` and docker-compose set
that up); without a worker nothing is built here: `trellis docs build --changed` or the Build button do it.
The builder itself skips entities whose docs hash did not change, so queuing after every run is cheap.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def docs_after_ingest(graph, result) -> None:
    if getattr(result, "dry_run", False) or not (result.added or result.updated):
        return
    if os.environ.get("TRELLIS_DOCS_ASYNC") != "1":
        return
    from docs_builder.tasks import enqueue_changed

    if enqueue_changed(None):
        log.info("queued a docs rebuild check after run %s", result.run)


def register(registry) -> None:
    registry.add_after_ingest(docs_after_ingest)
