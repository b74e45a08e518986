"""Small pure helpers for the pages: refs and URLs, catalog query parameters, the tabs of each kind.

Nothing here talks to the graph; the routes do that through `graph/` functions.
"""
from __future__ import annotations

import itertools
from urllib.parse import quote, urlencode

from flask import url_for
from werkzeug.datastructures import MultiDict

from plugins.registry import registry

# Backstage's default kind per relation field: a ref of that kind is shown without its kind prefix.
DEFAULT_KIND_FOR = {
    "ownedBy": "group", "partOf": "system", "providesApi": "api", "consumesApi": "api",
    "childOf": "group", "parentOf": "group", "memberOf": "group", "hasMember": "user",
}

# Relation names in the order the Relations tab shows them (forward name, then its inverse).
RELATION_ORDER = (
    "ownedBy", "ownerOf", "partOf", "hasPart", "providesApi", "apiProvidedBy", "consumesApi",
    "apiConsumedBy", "dependsOn", "dependencyOf", "childOf", "parentOf", "memberOf", "hasMember",
)
RELATION_LABELS = {
    "ownedBy": "Owned by", "ownerOf": "Owner of", "partOf": "Part of", "hasPart": "Has part",
    "providesApi": "Provides API", "apiProvidedBy": "API provided by", "consumesApi": "Consumes API",
    "apiConsumedBy": "API consumed by", "dependsOn": "Depends on", "dependencyOf": "Dependency of",
    "childOf": "Child of", "parentOf": "Parent of", "memberOf": "Member of", "hasMember": "Has member",
}

KINDS = ("component", "api", "resource", "system", "domain", "group", "user", "location", "template")

# Entity-page tabs per kind, following Backstage's default EntityPage (see reference §8), plus the graph-native
# Impact and Graph tabs. Every kind gets Overview, Relations and Graph.
TAB_TITLES = {
    "overview": "Overview", "apis": "APIs", "definition": "Definition", "dependencies": "Dependencies",
    "dependents": "Dependents", "impact": "Impact", "members": "Members", "ownership": "Ownership",
    "relations": "Relations", "graph": "Graph",
}
TABS_BY_KIND = {
    "component": ("overview", "apis", "dependencies", "dependents", "impact", "relations", "graph"),
    "resource": ("overview", "dependencies", "dependents", "impact", "relations", "graph"),
    "api": ("overview", "definition", "impact", "relations", "graph"),
    "group": ("overview", "members", "ownership", "relations", "graph"),
    "user": ("overview", "ownership", "relations", "graph"),
}
DEFAULT_TABS = ("overview", "relations", "graph")


def tabs_for(kind: str, entity: dict | None = None) -> tuple[str, ...]:
    """The kind's tabs, with the plugin tabs (plugins.api.EntityTab) whose predicate matches the entity, each
    after the tab it follows (TechDocs' Docs after Overview). Permissions are the caller's to check."""
    tabs = list(TABS_BY_KIND.get(kind.lower(), DEFAULT_TABS))
    for tab in registry().tabs():
        if not tab.when.matches(entity or {"kind": kind}):
            continue
        at = tabs.index(tab.after) + 1 if tab.after in tabs else len(tabs)
        while at < len(tabs) and tabs[at] not in TAB_TITLES:   # after the plugin tabs already there
            at += 1
        tabs.insert(at, tab.id)
    return tuple(tabs)


def tab_title(tab_id: str) -> str:
    """A portal tab's title, or the title its plugin registered."""
    if tab_id in TAB_TITLES:
        return TAB_TITLES[tab_id]
    return next((t.title for t in registry().tabs() if t.id == tab_id), tab_id)


# ------------------------------------------------------------------ refs


def split_ref(ref: str) -> tuple[str, str, str]:
    """`kind:namespace/name` -> (kind, namespace, name); tolerant of a missing kind or namespace."""
    kind, sep, rest = ref.partition(":")
    if not sep:
        kind, rest = "", ref
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = "default", rest
    return kind, namespace, name


def entity_url(ref: str, **args) -> str:
    kind, namespace, name = split_ref(ref)
    return url_for("web.entity", namespace=namespace, kind=kind or "component", name=name, **args)


def short_ref(ref: str | None, default_kind: str | None = None) -> str:
    """Backstage's humanised ref: no `default/` namespace, no kind when it is the field's default kind."""
    if not ref:
        return ""
    kind, namespace, name = split_ref(ref)
    text = name if namespace == "default" else f"{namespace}/{name}"
    if kind and kind != (default_kind or "").lower():
        text = f"{kind}:{text}"
    return text


def ref_kind(ref: str | None) -> str:
    return split_ref(ref or "")[0]


def quote_ref(ref: str) -> str:
    return quote(ref, safe="")


def relations_of(entity: dict, rel_type: str) -> list[str]:
    return [r["targetRef"] for r in entity.get("relations") or [] if r.get("type") == rel_type]


def first_relation(entity: dict, rel_type: str, kind: str | None = None) -> str | None:
    for target in relations_of(entity, rel_type):
        if kind is None or ref_kind(target) == kind:
            return target
    return None


def entity_ref_of(entity: dict) -> str:
    md = entity.get("metadata") or {}
    return f"{entity.get('kind', '').lower()}:{(md.get('namespace') or 'default').lower()}/{md.get('name', '').lower()}"


# ------------------------------------------------------------------ catalog list query parameters

# query parameter -> (entity field used for facets and filters, sidebar title)
FACETS = {
    "kind": ("kind", "Kind"),
    "type": ("spec.type", "Type"),
    "owner": ("spec.owner", "Owner"),
    "lifecycle": ("spec.lifecycle", "Lifecycle"),
    "namespace": ("metadata.namespace", "Namespace"),
    "tag": ("metadata.tags", "Tag"),
}
# sortable column -> order field
SORT_FIELDS = {
    "name": "metadata.name", "kind": "kind", "type": "spec.type", "owner": "spec.owner",
    "lifecycle": "spec.lifecycle",
}
PAGE_SIZES = (20, 50, 100)
MAX_FILTER_GROUPS = 20     # graph.filters: at most 20 groups and 50 conditions
MAX_FILTER_CONDITIONS = 50


class BadQuery(ValueError):
    """A catalog query string the page cannot turn into a query (shown as a 400 page)."""


def selected_filters(args: MultiDict) -> dict[str, list[str]]:
    """The facet values chosen in the query string, e.g. {"kind": ["component", "api"]} (empty ones dropped)."""
    chosen: dict[str, list[str]] = {}
    for param in FACETS:
        values = [v.strip() for v in args.getlist(param) if v.strip()]
        if values:
            chosen[param] = list(dict.fromkeys(values))
    return chosen


def filter_groups(chosen: dict[str, list[str]], *, without: str | None = None) -> list[list[tuple[str, str]]]:
    """Backstage filter semantics: values of one facet are OR-ed, facets are AND-ed.

    The filter language ORs whole groups of AND-ed pairs, so the choice is expanded into every combination
    (bounded: a person ticks a handful of boxes). `without` leaves one facet out (its own facet counts).
    """
    fields = [(FACETS[p][0], values) for p, values in chosen.items() if p != without]
    if not fields:
        return []
    size = 1
    for _, values in fields:
        size *= len(values)
    if size > MAX_FILTER_GROUPS or size * len(fields) > MAX_FILTER_CONDITIONS:
        raise BadQuery(
            f"too many filter combinations ({size} groups of {len(fields)} conditions); tick fewer values: "
            f"the catalog answers at most {MAX_FILTER_GROUPS} combinations and {MAX_FILTER_CONDITIONS} conditions")
    return [
        [(field, value) for (field, _), value in zip(fields, combo)]
        for combo in itertools.product(*(values for _, values in fields))
    ]


def page_size(args: MultiDict) -> int:
    raw = args.get("limit", "")
    if not raw:
        return PAGE_SIZES[0]
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"limit must be a number, not {raw!r}") from None
    if not 1 <= value <= max(PAGE_SIZES):
        raise BadQuery(f"limit must be between 1 and {max(PAGE_SIZES)}")
    return value


def sort_choice(args: MultiDict) -> tuple[str, str]:
    sort = args.get("sort") or "name"
    order = args.get("order") or "asc"
    if sort not in SORT_FIELDS:
        raise BadQuery(f"cannot sort by {sort!r}; choose one of {', '.join(SORT_FIELDS)}")
    if order not in ("asc", "desc"):
        raise BadQuery("order must be asc or desc")
    return sort, order


def is_chosen(chosen: dict[str, list[str]], param: str, value: object) -> bool:
    """Facet values match case-insensitively, like the filters (kind=api selects API)."""
    return str(value).lower() in {v.lower() for v in chosen.get(param, [])}


def with_args(args: MultiDict, **changes) -> str:
    """The catalog URL with some parameters replaced (None removes one); lists set repeated parameters."""
    out = MultiDict(args)
    for key, value in changes.items():
        out.poplist(key)
        if value is None:
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            out.add(key, v)
    pairs = [(k, v) for k, v in out.items(multi=True) if v != ""]
    query = urlencode(pairs)
    return url_for("web.catalog") + (f"?{query}" if query else "")


def toggle_value(args: MultiDict, param: str, value: str) -> str:
    """The catalog URL with one facet value switched on or off (and the cursor dropped)."""
    current = [v for v in args.getlist(param) if v]
    on = value.lower() in {v.lower() for v in current}
    new = [v for v in current if v.lower() != value.lower()] if on else current + [value]
    return with_args(args, **{param: new, "cursor": None})


def int_arg(args: MultiDict, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise BadQuery(f"{name} must be between {low} and {high}")
    return value
