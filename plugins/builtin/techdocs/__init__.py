"""Built-in TechDocs plugin: the entity page's Docs tab, and a docs rebuild check after every ingest run.

Registered through the plugin API like any third-party plugin. The Docs tab appears (after Overview) on
entities with Backstage's `backstage.io/techdocs-ref` annotation, for readers who may read the entity; its
panel is rendered by the portal's TechDocs service (`techdocs.tab`: stored sites, sanitising, build status
live in the portal and the docs builder, above the plugins). Builds are queued to the `docs` Celery queue
(TRELLIS_DOCS_ASYNC=1, a worker consuming it: `trellis up` and docker-compose set that up); without a worker
nothing is built here: `trellis docs build --changed` or the Build button do it. The builder itself skips
entities whose docs hash did not change, so queuing after every run is cheap.
"""
from __future__ import annotations

import logging
import os

from plugins.api import API_VERSION, AfterIngest, EntityPage, EntityTab, PluginRegistry, Predicate

TRELLIS_API_VERSION = API_VERSION
TECHDOCS_ANNOTATION = "backstage.io/techdocs-ref"
BUILD_CHANGED_TASK = "trellis.build_changed_docs"   # docs_builder.tasks: rebuild what changed (refs: None = all)
DOCS_QUEUE = "docs"

log = logging.getLogger(__name__)


def docs_after_ingest(event: AfterIngest) -> None:
    result = event.result
    if getattr(result, "dry_run", False) or not (result.added or result.updated):
        return
    if os.environ.get("TRELLIS_DOCS_ASYNC") != "1":
        return
    if event.queue_task(BUILD_CHANGED_TASK, (None,), queue=DOCS_QUEUE):
        log.info("queued a docs rebuild check after run %s", result.run)


def docs_tab(page: EntityPage) -> str:
    """The Docs tab's panel: the entity's built docs home page, its build and the Build button."""
    return page.service("techdocs.tab")(page)


DOCS_TAB = EntityTab(id="docs", title="Docs", render=docs_tab, permission="read",
                     when=Predicate(annotation=TECHDOCS_ANNOTATION), after="overview")


def register(registry: PluginRegistry) -> None:
    registry.add_after_ingest(docs_after_ingest)
    registry.add_tab(DOCS_TAB)
