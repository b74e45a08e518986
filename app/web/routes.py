"""Portal pages: catalog list, entity pages with per-kind tabs, ownership report, path finder, registration.

Views ask `graph/` functions (through `get_graph()`) and render Jinja templates; they never write Cypher.
Everything shown is escaped by Jinja's autoescape.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Response, abort, redirect, render_template, request, url_for

from app.auth import access
from app.graph_access import get_graph, walk_node_cap
from app.auth.audit import audit
from app import locations
from app.web import bp, plugin_views
from app.web.charts import ownership_bars
from app.web.definitions import highlight, language_of, parse_openapi
from app.web.helpers import (DEFAULT_KIND_FOR, FACETS, KINDS, PAGE_SIZES, RELATION_LABELS, RELATION_ORDER,
                             SORT_FIELDS, BadQuery, entity_ref_of, entity_url, filter_groups,
                             first_relation, int_arg, is_chosen, page_size, quote_ref, ref_kind, relations_of,
                             selected_filters, short_ref, sort_choice, split_ref, tab_title, tabs_for, toggle_value,
                             with_args)
from graph import catalog
from graph.filters import QueryError
from graph.impact import DEFAULT_DEPTH, MAX_DEPTH, blast_radius, decode_cursor, dependencies, impact
from graph.model import RELATION_NAMES, RefError, entity_ref, parse_ref
from graph.ownership import ownership_report, user_ownership

INVERSE_NAMES = {fwd: inv for fwd, inv in RELATION_NAMES.values()}
GRAPH_RELATIONS = ("ownedBy", "partOf", "providesApi", "consumesApi", "dependsOn", "childOf", "memberOf")


@bp.app_template_global()
def entity_link(ref: str, **args) -> str:
    return entity_url(ref, **args)


@bp.record_once
def _template_helpers(state) -> None:
    """Helpers every template (and imported macro) can use without the request context."""
    state.app.jinja_env.globals.update(
        short_ref=short_ref, ref_kind=ref_kind, ref_name=lambda r: short_ref(r, ref_kind(r)), split_ref=split_ref,
        relation_label=lambda t: RELATION_LABELS.get(t, t), DEFAULT_KIND_FOR=DEFAULT_KIND_FOR,
        inverse_relation=lambda t: INVERSE_NAMES.get(t, t),
    )


@bp.errorhandler(BadQuery)
@bp.errorhandler(catalog.QueryError)
def _bad_query(exc: ValueError):
    """A query string the catalog cannot answer (bad filter, cursor, sort, depth): a friendly 400 page."""
    return render_template("error.html", status=400, code="bad_query", message=str(exc)), 400


# Third-party front-end files (Cytoscape) are static files under static/vendor/, built from package-lock.json by
# scripts/build-assets and carried by the wheel; never a CDN, never node_modules/ at run time.


# ------------------------------------------------------------------ catalog


@bp.get("/")
def index():
    access.require("read")
    return redirect(url_for("web.catalog"))


@bp.get("/catalog", endpoint="catalog")
def catalog_page():
    args = request.args
    chosen = selected_filters(args)
    q = (args.get("q") or "").strip()
    sort, order = sort_choice(args)
    limit = page_size(args)
    access.require("read")
    graph, visible = get_graph(), access.visibility()
    page = catalog.query_entities(
        graph, filters=filter_groups(chosen) or None, text=q or None, order_field=SORT_FIELDS[sort],
        order=order, limit=limit, cursor=args.get("cursor") or None, visibility=visible,
    )
    facets, omitted = _facets(graph, chosen, q or None, visible)
    rows = []
    for e in page["items"]:
        rows.append({
            "entity": e, "ref": entity_ref_of(e),
            "owner": first_relation(e, "ownedBy"),
            "system": first_relation(e, "partOf", "system") or first_relation(e, "partOf", "domain"),
        })
    columns = [("name", "Name"), ("kind", "Kind"), ("type", "Type"), ("owner", "Owner"),
               ("lifecycle", "Lifecycle"), (None, "System"), (None, "Tags"), (None, "Description")]
    return render_template(
        "catalog.html", rows=rows, page=page, facets=facets, chosen=chosen, q=q, sort=sort, order=order,
        limit=limit, page_sizes=PAGE_SIZES, columns=columns, args=args, with_args=with_args, omitted=omitted,
        toggle_value=toggle_value, is_chosen=is_chosen, facet_titles={p: t for p, (_, t) in FACETS.items()},
    )



FACET_LIMIT = 40


def _facets(graph, chosen: dict[str, list[str]], text: str | None, visible) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """Facet counts per sidebar section. A facet with a chosen value is counted without its own choice,
    so its other values stay visible (and selectable); the rest share one query."""
    out: dict[str, list[dict]] = {}
    plain = [p for p in FACETS if p not in chosen]
    if plain:
        answer = catalog.entity_facets(graph, [FACETS[p][0] for p in plain], filter_groups(chosen) or None, text,
                                       visibility=visible)
        for p in plain:
            out[p] = answer["facets"].get(FACETS[p][0], [])
    for p in chosen:
        answer = catalog.entity_facets(graph, [FACETS[p][0]], filter_groups(chosen, without=p) or None, text,
                                       visibility=visible)
        out[p] = answer["facets"].get(FACETS[p][0], [])
    for p, values in chosen.items():   # a chosen value always shows, even when nothing matches it
        have = {str(v["value"]).lower() for v in out[p]}
        out[p] = out[p] + [{"value": v, "count": 0} for v in values if v.lower() not in have]
    omitted: dict[str, int] = {}
    for p in out:
        ranked = sorted(out[p], key=lambda v: (-v["count"], str(v["value"]).lower()))
        # A large catalog has hundreds of owners and tags: list the top ones (and any chosen value) only,
        # so the page stays small and fast; the rest are one search away.
        shown = [v for i, v in enumerate(ranked) if i < FACET_LIMIT or is_chosen(chosen, p, v["value"])]
        omitted[p] = len(ranked) - len(shown)
        out[p] = shown
    return {p: out[p] for p in FACETS}, omitted


# ------------------------------------------------------------------ entity pages


def _load_entity(namespace: str, kind: str, name: str):
    try:
        ref = str(entity_ref(kind, namespace, name))
    except RefError as exc:
        abort(404, description=str(exc))
    graph = get_graph()
    access.require("read")
    entity = catalog.get_entity(graph, ref, access.visibility())
    if entity is None:
        facts = catalog.access_facts(graph, ref)
        if facts is not None and not facts["unresolved"]:
            access.require("read", facts)   # not readable for this user: a 404 (and an audited denial)
        abort(404, description=(
            f"{ref} is not in the catalog. If other entities refer to it, registering its descriptor "
            "file will fill it in."))
    return graph, ref, entity


@bp.get("/catalog/<namespace>/<kind>/<name>")
def entity(namespace: str, kind: str, name: str):
    graph, ref, ent = _load_entity(namespace, kind, name)
    kind = ref_kind(ref)
    tabs = tabs_for(kind, ent)
    tab = request.args.get("tab") or "overview"
    if tab not in tabs:
        abort(404, description=f"a {ent.get('kind', kind)} page has no {tab!r} tab")
    shown = [t for t in tabs if t == tab or plugin_views.may_see_tab(t, ent)]
    targets = sorted({r["targetRef"] for r in ent.get("relations") or []})
    found = dict(zip(targets, catalog.get_entities_by_refs(graph, targets, access.visibility()))) if targets else {}
    unresolved = sorted(t for t, e in found.items() if e is None)
    ctx = {
        "entity": ent, "ref": ref, "kind": kind, "tab": tab, "tabs": [(t, tab_title(t)) for t in shown],
        "found": found, "unresolved": set(unresolved), "unresolved_list": unresolved,
        "owner": first_relation(ent, "ownedBy"),
        "system": first_relation(ent, "partOf", "system"),
        "domain": first_relation(ent, "partOf", "domain"),
        "parent_component": first_relation(ent, "partOf", "component"),
        "rel": lambda t: relations_of(ent, t),
        "api_base": "/api/v1/entities/by-name/{}/{}/{}".format(*(quote_ref(p) for p in split_ref(ref))),
    }
    plugin_tab = plugin_views.plugin_tab(tab)
    page = plugin_views.entity_page(graph, ref, ent)
    if plugin_tab is not None:
        ctx["plugin_html"] = plugin_views.render_tab(plugin_tab, page)
    else:
        ctx.update(TAB_VIEWS.get(tab, lambda *a: {})(graph, ref, ent, found))
    if tab == "overview":
        ctx["plugin_cards"] = plugin_views.overview_cards(page)
    return render_template("entity.html", **ctx)


def _tab_relations(graph, ref, ent, found) -> dict:
    by_type: dict[str, list[str]] = {}
    for r in ent.get("relations") or []:
        by_type.setdefault(r["type"], []).append(r["targetRef"])
    order = [t for t in RELATION_ORDER if t in by_type] + sorted(t for t in by_type if t not in RELATION_ORDER)
    return {"relation_groups": [(t, sorted(set(by_type[t]))) for t in order]}


def _tab_apis(graph, ref, ent, found) -> dict:
    return {"provided": sorted(relations_of(ent, "providesApi")),
            "consumed": sorted(relations_of(ent, "consumesApi"))}


def _tab_definition(graph, ref, ent, found) -> dict:
    spec = ent.get("spec") or {}
    text = spec.get("definition")
    if text is not None and not isinstance(text, str):   # a $yaml/$json substitution left a structure
        text = json.dumps(text, indent=2)
    api_type = str(spec.get("type") or "")
    openapi = parse_openapi(text) if text and api_type.lower() in ("openapi", "swagger", "") else None
    # server-like APIs (mcp-server, ai-model-server) list endpoints instead of a definition
    remotes = [r for r in spec.get("remotes") or [] if isinstance(r, dict)] if isinstance(spec.get("remotes"), list) else []
    return {"definition": text or "", "api_type": api_type, "openapi": openapi, "remotes": remotes,
            "highlighted": highlight(text or "", language_of(api_type, text or ""))}


def _walk_tab(walk, key: str, default_depth: int):
    def view(graph, ref, ent, found) -> dict:
        depth = int_arg(request.args, "depth", default_depth, 1, MAX_DEPTH)
        answer = walk(graph, ref, depth, access.visibility(), cap=walk_node_cap())
        return {"walk": answer, "walk_items": answer[key], "depth": depth, "max_depth": MAX_DEPTH}
    return view


IMPACT_PAGE = 100   # entities per page of the Impact tab; the summary counts them all


def _tab_impact(graph, ref, ent, found) -> dict:
    depth = int_arg(request.args, "depth", DEFAULT_DEPTH, 1, MAX_DEPTH)
    group_by = request.args.get("group") or "owner"
    if group_by not in ("owner", "system"):
        raise BadQuery("group must be owner or system")
    cursor = request.args.get("cursor") or None
    try:
        if cursor:
            depth = decode_cursor(cursor)["depth"]   # a cursor continues its own walk
        radius = blast_radius(graph, ref, depth, access.visibility(), cap=walk_node_cap())
        page = radius.page(IMPACT_PAGE, cursor)
    except QueryError as exc:
        raise BadQuery(str(exc)) from None
    summary = page["summary"]
    next_cursor = page["pageInfo"]["nextCursor"]
    # This page's entities under their owner (or system), groups in the summary's order (largest first),
    # each headed by its count over the whole radius.
    on_page: dict = {}
    for item in page["items"]:
        on_page.setdefault(item[group_by], []).append(item)
    sections = [(r[group_by], r["count"], on_page[r[group_by]]) for r in summary["by_" + group_by]
                if r[group_by] in on_page]
    return {"walk": summary, "summary": summary, "walk_items": page["items"], "depth": depth,
            "max_depth": MAX_DEPTH, "group_by": group_by, "rollup": summary["by_" + group_by], "sections": sections,
            "max_distance": summary["by_distance"][-1]["distance"] if summary["by_distance"] else 0,
            "first_page": cursor is None,
            "first_url": entity_url(ref, tab="impact", depth=depth, group=group_by),
            "next_url": entity_url(ref, tab="impact", depth=depth, group=group_by, cursor=next_cursor)
            if next_cursor else None,
            "csv_url": url_for("web.impact_csv", **_ref_args(ref), depth=depth)}


def _tab_members(graph, ref, ent, found) -> dict:
    return {"members": sorted(relations_of(ent, "hasMember"))}


def _tab_ownership(graph, ref, ent, found) -> dict:
    if ref_kind(ref) == "group":
        report = ownership_report(graph, ref, access.visibility())
        return {"report": report, "me": report["groups"][0] if report["groups"] else None}
    # A user: what they own themselves, then what their groups and those groups' ancestors own.
    visible = access.visibility()
    mine = user_ownership(graph, ref, visible)
    refs = [t for t, _ in mine["owned"]]
    details = dict(zip(refs, catalog.get_entities_by_refs(graph, refs, visible))) if refs else {}
    return {"user_owned": mine["owned"], "owned_details": details, "user_groups": mine["groups"],
            "hidden_groups": mine["hidden_groups"], "hidden_owned": mine["hidden"]}


def _tab_graph(graph, ref, ent, found) -> dict:
    depth = int_arg(request.args, "depth", 2, 1, 6)
    kinds = [k for k in request.args.getlist("kind") if k in KINDS]
    rels = [r for r in request.args.getlist("relation") if r in GRAPH_RELATIONS]
    max_nodes = int_arg(request.args, "max_nodes", 150, 1, 1000)
    sizes = sorted({25, 50, 150, 500, max_nodes})
    return {"graph_depth": depth, "graph_kinds": kinds, "graph_relations": rels, "all_kinds": KINDS,
            "all_relations": GRAPH_RELATIONS, "max_nodes": max_nodes, "node_limits": sizes}


TAB_VIEWS = {
    "relations": _tab_relations, "apis": _tab_apis, "definition": _tab_definition,
    "dependencies": _walk_tab(dependencies, "dependencies", 1), "dependents": _walk_tab(impact, "impacted", 1),
    "impact": _tab_impact, "members": _tab_members, "ownership": _tab_ownership, "graph": _tab_graph,
}


def _ref_args(ref: str) -> dict:
    kind, namespace, name = split_ref(ref)
    return {"kind": kind, "namespace": namespace, "name": name}


@bp.get("/catalog/<namespace>/<kind>/<name>/impact.csv")
def impact_csv(namespace: str, kind: str, name: str):
    graph, ref, _ = _load_entity(namespace, kind, name)
    depth = int_arg(request.args, "depth", DEFAULT_DEPTH, 1, MAX_DEPTH)
    radius = blast_radius(graph, ref, depth, access.visibility(), cap=walk_node_cap())
    k, ns, n = split_ref(ref)
    filename = f"impact-{k}-{ns}-{n}-depth{depth}.csv"
    return Response(radius.csv_chunks(), mimetype="text/csv",   # streamed, a batch of rows at a time
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ------------------------------------------------------------------ reports


@bp.get("/reports/ownership")
def ownership_page():
    group = (request.args.get("group") or "").strip() or None
    access.require("read", scope="reports:read")
    graph = get_graph()
    if group:
        try:
            group = str(parse_ref(group, default_kind="group"))
        except RefError as exc:
            raise BadQuery(str(exc)) from None
    try:
        report = ownership_report(graph, group, access.visibility())
    except LookupError as exc:
        abort(404, description=str(exc))
    kinds = sorted({k for g in report["groups"] for k in g["total"]},
                   key=lambda k: ("Component", "API", "Resource", "System", "Domain", "Template").index(k)
                   if k in ("Component", "API", "Resource", "System", "Domain", "Template") else 99)
    return render_template("ownership.html", report=report, kinds=kinds, chart=ownership_bars(report["groups"]),
                           group=group)


# ------------------------------------------------------------------ path finder


@bp.get("/paths")
def paths_page():
    raw_from = (request.args.get("from") or "").strip()
    raw_to = (request.args.get("to") or "").strip()
    access.require("read")
    ctx = {"raw_from": raw_from, "raw_to": raw_to, "result": None, "error": None}
    status = 200
    if raw_from or raw_to:
        try:
            if not (raw_from and raw_to):
                raise ValueError("enter both a start and an end entity")
            max_hops = int_arg(request.args, "max_hops", 10, 1, 15)
            start = str(parse_ref(raw_from, default_kind="component"))
            end = str(parse_ref(raw_to, default_kind="component"))
            ctx["result"] = catalog.find_paths(get_graph(), start, end, max_hops=max_hops, limit=5,
                                               visibility=access.visibility(), cap=walk_node_cap())
            ctx["max_hops"] = max_hops
        except LookupError as exc:
            ctx["error"], status = str(exc.args[0] if exc.args else exc), 404
        except (ValueError, RefError) as exc:   # BadQuery and QueryError are ValueErrors too
            ctx["error"], status = str(exc), 400
    return render_template("paths.html", **ctx), status


# ------------------------------------------------------------------ registration


@bp.before_request
def _same_origin_posts():
    """Refuse form posts sent by other sites (a browser always names the page it posts from).

    Why: defence in depth next to the CSRF token every form carries (app.auth.csrf): a browser always
    names the page it posts from, so a cross-site post is refused even before the token is checked.
    """
    if request.method != "POST":
        return None
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if origin and urlsplit(origin).netloc != request.host:
        abort(403, description="This form can only be sent from the portal's own pages.")
    return None


@bp.route("/register", methods=["GET", "POST"])
def register_page():
    access.require("ingest")
    policy = locations.policy()
    ctx = {"target": "", "result": None, "error": None, "roots": list(policy.roots),
           "hosts": locations.integrations().hosts, "allowed_kinds": policy.catalog_rules()}
    if request.method == "GET":
        return render_template("register.html", **ctx)
    target = (request.form.get("target") or "").strip()
    # Backstage's "analyze" step: the same read as registering, as a dry run (nothing stored)
    analyze = request.form.get("action") == "analyze"
    ctx["target"] = target
    try:
        ctx["result"] = locations.register(get_graph(), target, policy=policy, dry_run=analyze, audit=audit)
    except locations.LocationError as exc:   # refused: 400; the location could not be read: 422
        ctx["error"] = exc.message
        return render_template("register.html", **ctx), 400 if isinstance(exc, locations.TargetRefused) else 422
    return render_template("register.html", **ctx)
