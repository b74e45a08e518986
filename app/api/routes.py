"""API routes: thin views that parse the request, call one graph/ (or ingest/) function, shape the JSON.

Documented by app.api.openapi (GET /api/v1/openapi.json); keep the two in step.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import Response, jsonify, request

from app import locations as location_service
from app.api import bp
from app.api.openapi import openapi_document
from app.api.params import (
    bad, filters_arg, int_arg, json_body, list_arg, order_args, pick_fields, ref_arg, str_arg,
    to_ref,
)
from app.auth import access
from app.auth.audit import audit
from app.errors import ApiError, error_response
from app.graph_access import get_graph, walk_node_cap
from graph import catalog
from graph.impact import DEFAULT_DEPTH, DEFAULT_PAGE, MAX_DEPTH, MAX_PAGE, EntityNotFound, blast_radius, decode_cursor
from graph.model import RefError, parse_ref
from graph.ownership import ownership_report, report_csv

MAX_BY_REFS = 1000


@bp.errorhandler(catalog.QueryError)
def _query_error(exc: catalog.QueryError):
    return error_response(400, "invalid_query", str(exc))


@contextmanager
def _unknown_is_404() -> Iterator[None]:
    """graph/ raises LookupError for an unknown ref; a KeyError or IndexError is a bug, not a 404."""
    try:
        yield
    except (KeyError, IndexError):
        raise
    except LookupError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


# ------------------------------------------------------------------------------------------ entities

def _page(text: str | None = None, extra: list | None = None) -> dict:
    """One page of `query_entities` from Backstage's by-query parameters."""
    cursor = str_arg("cursor", max_len=20000)
    limit = int_arg("limit", None, 1, catalog.MAX_LIMIT)
    access.require("read")
    visible = access.visibility()
    if cursor:
        result = catalog.query_entities(get_graph(), cursor=cursor, limit=limit, visibility=visible)
    else:
        filters = filters_arg()
        if extra:
            filters = [g + extra for g in filters] if filters else [list(extra)]
        order_field, order = order_args()
        result = catalog.query_entities(
            get_graph(), filters=filters, text=text or str_arg("fullTextFilterTerm"),
            order_field=order_field, order=order, limit=limit, visibility=visible,
        )
    fields = list_arg("fields")
    if fields:
        result["items"] = [pick_fields(e, fields) for e in result["items"]]
    return result


@bp.get("/entities")
@bp.get("/entities/by-query")
def entities():
    return jsonify(_page())


@bp.get("/entities/by-name/<kind>/<namespace>/<name>")
def entity_by_name(kind: str, namespace: str, name: str):
    ref = _named_ref(kind, namespace, name)
    access.require("read")
    entity = catalog.get_entity(get_graph(), ref, access.visibility())
    if entity is None:
        _readable_or_404(ref)
        raise ApiError(404, "not_found", f"{ref} is not in the catalog", {"ref": ref})
    return jsonify(entity)


def _readable_or_404(ref: str) -> dict:
    """The entity's access facts when the reader may read it; a 404 (audited if it exists) otherwise."""
    facts = catalog.access_facts(get_graph(), ref)
    if facts is None:
        raise ApiError(404, "not_found", f"{ref} is not in the catalog", {"ref": ref})
    try:
        access.require("read", facts)
    except access.Denied:
        raise ApiError(404, "not_found", f"{ref} is not in the catalog", {"ref": ref}) from None
    return facts


@bp.post("/entities/by-refs")
def entities_by_refs():
    access.require("read")
    body = json_body()
    refs = body.get("entityRefs")
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise bad("entityRefs must be a list of entity ref strings", "invalid_body")
    if len(refs) > MAX_BY_REFS:
        raise bad(f"at most {MAX_BY_REFS} entityRefs per request", "invalid_body")
    canonical = [to_ref(r, "entityRefs") for r in refs]
    items = catalog.get_entities_by_refs(get_graph(), canonical, access.visibility())
    fields = body.get("fields")
    if isinstance(fields, list) and fields and all(isinstance(f, str) for f in fields):
        items = [pick_fields(e, fields) if e is not None else None for e in items]
    return jsonify({"items": items})


MAX_FACETS = 20


@bp.get("/entity-facets")
def entity_facets():
    access.require("read")
    facets = [f for f in request.args.getlist("facet") if f.strip()]
    if not facets:
        raise bad("at least one facet parameter is required", details={"parameter": "facet"})
    if len(facets) > MAX_FACETS:   # each facet is its own pass over the matching entities
        raise bad(f"at most {MAX_FACETS} facets per request", details={"parameter": "facet"})
    return jsonify(catalog.entity_facets(get_graph(), facets, filters_arg(), visibility=access.visibility()))


@bp.get("/entities/by-name/<kind>/<namespace>/<name>/impact")
def entity_impact(kind: str, namespace: str, name: str):
    return _walk("impact", _named_ref(kind, namespace, name))


@bp.get("/entities/by-name/<kind>/<namespace>/<name>/dependencies")
def entity_dependencies(kind: str, namespace: str, name: str):
    return _walk("dependencies", _named_ref(kind, namespace, name))


WALK_FORMATS = ("json", "ndjson", "csv")


def _walk(walk: str, ref: str):
    """Without `limit`/`cursor`: the full answer (as ever), streamed. With them: the summary, one page and a
    cursor (graph.impact.Radius.page). `format=ndjson|csv` streams every entity."""
    depth = int_arg("depth", DEFAULT_DEPTH, 1, MAX_DEPTH)
    fmt = (str_arg("format") or "json").lower()
    if fmt not in WALK_FORMATS:
        raise bad(f"format must be one of {', '.join(WALK_FORMATS)}", details={"parameter": "format"})
    cursor = str_arg("cursor", max_len=2000)
    limit = int_arg("limit", None, 1, MAX_PAGE)
    if (cursor or limit) and fmt != "json":
        raise bad("limit and cursor page the JSON answer; ndjson and csv stream every entity",
                  details={"parameter": "format"})
    access.require("read")
    _readable_or_404(ref)
    if cursor:
        depth = decode_cursor(cursor)["depth"]   # a cursor continues its own walk
    try:
        radius = blast_radius(get_graph(), ref, depth, access.visibility(), walk=walk, cap=walk_node_cap())
    except EntityNotFound as exc:
        raise ApiError(404, "not_found", str(exc), {"ref": ref}) from None
    if cursor or limit:
        return jsonify(radius.page(limit or DEFAULT_PAGE, cursor))
    if fmt == "ndjson":
        return Response(radius.ndjson(), mimetype="application/x-ndjson")
    if fmt == "csv":
        filename = f"{walk}-{ref.replace(':', '-').replace('/', '-')}-depth{depth}.csv"
        return Response(radius.csv_chunks(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return Response(radius.json_chunks(), mimetype="application/json")


def _named_ref(kind: str, namespace: str, name: str) -> str:
    try:
        return str(parse_ref(f"{kind}:{namespace}/{name}"))
    except RefError as exc:
        raise bad(str(exc), "invalid_ref") from None


# ------------------------------------------------------------------------------------------ graph

@bp.get("/graph/neighbourhood")
def graph_neighbourhood():
    access.require("read")
    ref = ref_arg("ref")
    _readable_or_404(ref)
    with _unknown_is_404():
        return jsonify(catalog.neighbourhood(
            get_graph(), ref, depth=int_arg("depth", 2, 1, 10), kinds=[k.lower() for k in list_arg("kind")] or None,
            relations=list_arg("relation") or None, max_nodes=int_arg("max_nodes", 150, 1, 1000),
            visibility=access.visibility(), cap=walk_node_cap(),
        ))


@bp.get("/graph/paths")
def graph_paths():
    access.require("read")
    from_ref, to_ref_ = ref_arg("from"), ref_arg("to")
    with _unknown_is_404():
        return jsonify(catalog.find_paths(
            get_graph(), from_ref, to_ref_, max_hops=int_arg("max_hops", 10, 1, 15),
            limit=int_arg("limit", 5, 1, 50), visibility=access.visibility(), cap=walk_node_cap(),
        ))


# ------------------------------------------------------------------------------------------ reports

@bp.get("/reports/ownership")
def ownership():
    fmt = (request.args.get("format") or "json").lower()
    if fmt not in ("json", "csv"):
        raise bad("format must be json or csv", details={"parameter": "format"})
    group = request.args.get("group")
    scope = to_ref(group, "group", default_kind="group") if group and group.strip() else None
    access.require("read", scope="reports:read")
    with _unknown_is_404():
        report = ownership_report(get_graph(), scope, access.visibility())
    if fmt == "json":
        return jsonify(report)
    name = "ownership" + (f"-{scope.split('/')[-1]}" if scope else "") + ".csv"
    return Response(report_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ------------------------------------------------------------------------------------------ locations

@bp.get("/locations")
def locations():
    access.require("read")
    return jsonify({"items": catalog.list_sources(get_graph())})


@bp.errorhandler(location_service.LocationError)
def _location_error(exc: location_service.LocationError):
    """The location use cases' refusals and failures: their status, code, message and details."""
    return error_response(exc.status, exc.code, exc.message, exc.details)


@bp.post("/locations")
def add_location():
    access.require("ingest")
    body = json_body()
    target = body.get("target")
    if not isinstance(target, str) or not target.strip():
        raise bad("target (a local path or a git URL) is required", "invalid_body")
    dry_run = (request.args.get("dryRun") or "").lower() in ("1", "true", "yes")
    result = location_service.register(get_graph(), target.strip(), policy=location_service.policy(),
                                       dry_run=dry_run, audit=audit)
    return jsonify(result.as_json()), 200 if dry_run else 201


# ------------------------------------------------------------------------------------------ service

@bp.get("/openapi.json")
@access.public
def openapi():
    return jsonify(openapi_document())


# ------------------------------------------------------------------------------------------ entity writes

@bp.post("/entities/by-name/<kind>/<namespace>/<name>/refresh")
def refresh_entity(kind: str, namespace: str, name: str):
    """Re-ingest the location that owns the entity (Backstage's refresh); owners and admins only."""
    ref = _named_ref(kind, namespace, name)
    facts = _readable_or_404(ref)
    access.require("write", facts)
    result = location_service.refresh(get_graph(), ref, policy=location_service.policy(), audit=audit)
    return jsonify(result.as_json())


@bp.delete("/entities/by-name/<kind>/<namespace>/<name>")
def delete_entity(kind: str, namespace: str, name: str):
    """Unregister one entity (owners and admins). Its location brings it back on the next ingest unless the
    descriptor is gone too, as in Backstage; other entities still pointing at it keep a placeholder."""
    ref = _named_ref(kind, namespace, name)
    facts = _readable_or_404(ref)
    access.require("write", facts)
    location_service.unregister(get_graph(), ref, audit=audit)
    return "", 204
