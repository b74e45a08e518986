"""`GET /api/v1/search` and `GET /api/v1/search/suggest`: one box for entities and docs pages.

Thin views: parse and check the parameters (a bad one is a 400 with the JSON error body), ask the configured
engine (plugins.search) with the reader's visibility, return its answer. Documented in app/api/openapi.py.
"""
from __future__ import annotations

from flask import jsonify

from app import settings
from app.api import bp
from app.api.params import bad, int_arg, list_arg, str_arg
from app.auth import access
from app.errors import ApiError, error_response
from app.graph_access import get_graph
from graph.search import (DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY_CHARS, MAX_WINDOW, SearchError, SearchQuery,
                          SearchUnavailable)
from plugins.api import PluginError
from plugins.search import engine_for

MAX_FILTER_VALUES = 20
SUGGEST_LIMIT = 8


def _filter(name: str) -> tuple[str, ...]:
    values = list_arg(name)
    if len(values) > MAX_FILTER_VALUES:
        raise bad(f"at most {MAX_FILTER_VALUES} {name} values", details={"parameter": name})
    if any(len(v) > 300 for v in values):
        raise bad(f"{name} value too long", details={"parameter": name})
    return tuple(values)


def search_query_from_args(*, facets: bool = True) -> SearchQuery:
    """The SearchQuery the request's parameters describe (ApiError 400 for a bad one)."""
    text = str_arg("q", required=True, max_len=MAX_QUERY_CHARS)
    limit = int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    page = int_arg("page", 1, 1, MAX_WINDOW)
    try:
        return SearchQuery(
            text=text or "", kinds=_filter("kind"), owners=_filter("owner"), types=_filter("type"),
            lifecycles=_filter("lifecycle"), tags=_filter("tag"), page=page or 1, limit=limit or DEFAULT_LIMIT,
            facets=facets,
        )
    except SearchError as exc:
        raise bad(str(exc), "invalid_search") from None


def _engine():
    try:
        return engine_for(get_graph(), settings.current().search_engine)
    except PluginError as exc:   # TRELLIS_SEARCH_ENGINE names an engine no plugin registered
        raise ApiError(503, "search_unavailable", str(exc)) from None


@bp.errorhandler(SearchUnavailable)
def _search_down(exc: SearchUnavailable):
    """The search cluster (an engine plugin's) is down: 503, like a Neo4j outage."""
    response = error_response(503, "search_unavailable", str(exc))
    response.headers["Retry-After"] = "5"
    return response


@bp.get("/search")
def search():
    access.require("read")   # before validating: a caller without access learns nothing from error messages
    query = search_query_from_args()
    result = _engine().search(query, access.visibility())
    return jsonify(result.as_json())


@bp.get("/search/suggest")
def search_suggest():
    access.require("read")
    text = str_arg("q", max_len=MAX_QUERY_CHARS)
    limit = int_arg("limit", SUGGEST_LIMIT, 1, 20)
    if not text:
        return jsonify({"query": "", "items": []})
    return jsonify({"query": text, "items": _engine().suggest(text, access.visibility(), limit or SUGGEST_LIMIT)})
