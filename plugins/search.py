"""Search engines behind one interface: which engine answers a search, chosen by configuration.

`TRELLIS_SEARCH_ENGINE` names it: `neo4j` (default, graph.search on Neo4j's full-text indexes, nothing else to
run) or an engine a plugin registered with `Registry.add_search_engine(name, factory)`, e.g. `opensearch` /
`elasticsearch` from plugins/builtin/opensearch. Every engine implements `SearchEngine` (graph.search) and
answers a `SearchQuery` with a `SearchResult`, so the API, the portal and the CLI do not care which one runs.
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from graph.search import Neo4jSearch, SearchEngine, SearchError, SearchHit, SearchQuery, SearchResult
from plugins.registry import registry

if TYPE_CHECKING:
    from graph.driver import Graph

__all__ = ["SearchEngine", "SearchQuery", "SearchResult", "SearchHit", "SearchError", "engine_for",
           "configured_engine"]

DEFAULT_ENGINE = "neo4j"
_engines: dict[tuple[str, int], SearchEngine] = {}
_lock = threading.Lock()


def configured_engine() -> str:
    return (os.environ.get("TRELLIS_SEARCH_ENGINE") or DEFAULT_ENGINE).strip().lower()


def engine_for(graph: "Graph", name: str | None = None) -> SearchEngine:
    """The engine `name` (default: the configured one) over `graph`, built once per process and graph."""
    name = (name or configured_engine()).lower()
    if name == DEFAULT_ENGINE:
        return Neo4jSearch(graph)
    key = (name, id(graph))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = registry().search_engine(name)(graph)
        return engine


def doc_pages_changed(graph: "Graph", entity_ref: str) -> None:
    """Call after `graph.search.index_doc_pages`: an external engine re-indexes that entity's docs pages (the
    Neo4j engine already sees them, being the same database)."""
    if configured_engine() == DEFAULT_ENGINE:
        return
    engine = engine_for(graph)
    reindex = getattr(engine, "index_doc_pages", None)
    if reindex is not None:
        reindex(entity_ref)
