"""Built-in plugin: the Elasticsearch-API search engine (OpenSearch or Elasticsearch 8), registered like any
third-party plugin (entry point `trellis.plugins: opensearch`).

Configuration (environment):
- `TRELLIS_SEARCH_ENGINE=opensearch` (or `elasticsearch`) makes the portal, API and CLI search through it;
- `TRELLIS_OPENSEARCH_URL` / `TRELLIS_ELASTICSEARCH_URL` (default http://127.0.0.1:9200);
- `TRELLIS_SEARCH_INDEX` (alias name, default `trellis-search`);
- `TRELLIS_SEARCH_USER` and the secret `search-password` (TRELLIS_SECRET_SEARCH_PASSWORD[_FILE]) for a secured
  cluster.
`trellis search-reindex` builds the index (new index + atomic alias swap); after that every ingest run updates
it incrementally through the registry's after-ingest hook.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from plugins.api import API_VERSION, AfterIngest, MissingSecret, PluginRegistry, mark_index_stale, secret
from plugins.builtin.opensearch.engine import Backend, ElasticsearchApiEngine

if TYPE_CHECKING:
    from plugins.api import Graph

TRELLIS_API_VERSION = API_VERSION
FLAVORS = ("opensearch", "elasticsearch")


def make_engine(graph: "Graph", flavor: str = "opensearch", url: str | None = None,
           index: str | None = None) -> ElasticsearchApiEngine:
    """An engine over `graph` for the configured (or given) cluster."""
    url = url or os.environ.get(f"TRELLIS_{flavor.upper()}_URL") or "http://127.0.0.1:9200"
    user = os.environ.get("TRELLIS_SEARCH_USER") or None
    password = None
    if user:
        try:
            password = secret("search-password")
        except MissingSecret:
            password = None
    backend = Backend(flavor, url, user=user, password=password)
    return ElasticsearchApiEngine(graph, backend, index or os.environ.get("TRELLIS_SEARCH_INDEX") or "trellis-search")


def after_ingest(event: AfterIngest) -> None:
    """Keep the index current: apply each recorded ingest run when this engine is the configured one."""
    if event.search_engine_name not in FLAVORS or getattr(event.result, "dry_run", False):
        return
    engine = event.search_engine()
    try:
        engine.update_source(event.result.source, event.result.run)
    except Exception:
        # This run's changes did not reach the index: the next update rebuilds it whole (self-healing).
        mark_index_stale(event.graph, engine.alias)
        raise


def register(registry: PluginRegistry) -> None:
    """Entry point `trellis.plugins: opensearch`."""
    registry.add_search_engine("opensearch", lambda graph: make_engine(graph, "opensearch"))
    registry.add_search_engine("elasticsearch", lambda graph: make_engine(graph, "elasticsearch"))
    registry.add_after_ingest(after_ingest)
