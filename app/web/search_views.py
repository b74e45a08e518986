"""The search results page `/search`: results with highlighted snippets, facets with counts, pages.

A thin view: it reads the query string, asks the configured engine (plugins.search) with the reader's
visibility, and renders. Highlights come from the engine already HTML-escaped (graph.search.highlight), so
the template marks them safe and nothing else.
"""
from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import render_template, request, url_for
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from app import settings
from app.auth import access
from app.graph_access import get_graph
from app.web import bp
from app.web.helpers import BadQuery, int_arg, split_ref
from graph.search import (FACETS, MAX_QUERY_CHARS, MAX_WINDOW, SearchError, SearchQuery, SearchResult,
                          SearchUnavailable)
from plugins.api import PluginError
from plugins.search import engine_for

PAGE_SIZES = (20, 50, 100)
# facet name in results -> query parameter
FACET_PARAMS = {"kind": "kind", "type": "type", "owner": "owner", "lifecycle": "lifecycle", "tags": "tag"}
FACET_TITLES = {"kind": "Kind", "type": "Type", "owner": "Owner", "lifecycle": "Lifecycle", "tags": "Tags"}


def search_url(args: MultiDict, **changes) -> str:
    """/search with some parameters replaced (None removes one); lists become repeated parameters."""
    out = MultiDict(args)
    for key, value in changes.items():
        out.poplist(key)
        for v in ([] if value is None else value if isinstance(value, (list, tuple)) else [value]):
            out.add(key, v)
    pairs = [(k, v) for k, v in out.items(multi=True) if v != ""]
    return url_for("web.search_page") + (f"?{urlencode(pairs)}" if pairs else "")


def toggle_url(args: MultiDict, param: str, value: str) -> str:
    """The page with one facet value switched on or off, back on page 1."""
    current = [v for v in args.getlist(param) if v]
    on = value.lower() in {v.lower() for v in current}
    new = [v for v in current if v.lower() != value.lower()] if on else current + [value]
    return search_url(args, **{param: new, "page": None})


def docs_url(ref: str, path: str | None) -> str:
    kind, namespace, name = split_ref(ref)
    return "/docs/" + "/".join(quote(p, safe="") for p in (namespace, kind, name)) + "/" + quote(path or "", safe="/")


def _query(args: MultiDict) -> SearchQuery:
    values = {p: tuple(v.strip() for raw in args.getlist(p) for v in raw.split(",") if v.strip())
              for p in FACET_PARAMS.values()}
    try:
        return SearchQuery(
            text=args.get("q", "")[: MAX_QUERY_CHARS + 1], kinds=values["kind"], owners=values["owner"],
            types=values["type"], lifecycles=values["lifecycle"], tags=values["tag"],
            page=int_arg(args, "page", 1, 1, MAX_WINDOW),
            limit=int_arg(args, "limit", PAGE_SIZES[0], 1, PAGE_SIZES[-1]),
        )
    except SearchError as exc:
        raise BadQuery(str(exc)) from None


@bp.get("/search", endpoint="search_page")
def search_page():
    access.require("read")
    args = request.args
    query = _query(args)
    result: SearchResult | None = None
    error = None
    if query.text:
        try:
            result = engine_for(get_graph(), settings.current().search_engine).search(query, access.visibility())
        except (PluginError, SearchUnavailable) as exc:
            error = str(exc)
    chosen = {p: [v for v in args.getlist(p) if v] for p in FACET_PARAMS.values() if args.getlist(p)}
    return render_template(
        "search.html", q=query.text, query=query, result=result, error=error, args=args, chosen=chosen,
        facet_params=FACET_PARAMS, facet_titles=FACET_TITLES, facets_order=FACETS, page_sizes=PAGE_SIZES,
        search_url=search_url, toggle_url=toggle_url, docs_url=docs_url, safe=Markup, max_window=MAX_WINDOW,
    )
