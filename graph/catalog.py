"""The catalog's read API for the portal and the REST API, in one import.

The work is split by concern (entities: one document per read; query: lists and facets; explore:
neighbourhood and paths; sources: locations and runs); this module is the stable surface callers use.
"""
from graph.entities import access_facts, entity_source, entity_uid, get_entities_by_refs, get_entity
from graph.explore import find_paths, neighbourhood
from graph.filters import QueryError, parse_filter_param
from graph.query import DEFAULT_LIMIT, MAX_LIMIT, ORDER_FIELDS, entity_facets, query_entities
from graph.sources import get_run, list_runs, list_sources

__all__ = [
    "QueryError", "get_entity", "get_entities_by_refs", "query_entities", "entity_facets", "neighbourhood",
    "find_paths", "list_sources", "list_runs", "get_run", "parse_filter_param", "entity_uid",
    "DEFAULT_LIMIT", "MAX_LIMIT", "ORDER_FIELDS", "access_facts", "entity_source",
]
