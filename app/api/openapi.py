"""The OpenAPI 3.1 document of /api/v1, built as data so tests can validate it and schemathesis can fuzz it.

Keep it in step with app.api.routes: every route, parameter, body and response (errors included).
"""
from __future__ import annotations

from functools import lru_cache

from graph.impact import MAX_DEPTH, MAX_PAGE
from graph.query import MAX_LIMIT, ORDER_FIELDS

JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _q(name: str, schema: dict, description: str, *, required: bool = False, explode: bool | None = None) -> dict:
    param = {"name": name, "in": "query", "required": required, "description": description, "schema": schema}
    if explode is not None:
        param["explode"] = explode
    return param


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}}


_STR = {"type": "string"}
_INT = {"type": "integer"}
_FILTER = _q("filter", {"type": "array", "items": _STR},
             "Backstage filter: repeat to OR, comma-separate to AND; `key=value` or `key` (exists); keys are "
             "case-insensitive dot paths, e.g. `kind=component,spec.owner=group:default/x`, "
             "`relations.ownedby=group:default/x`, `metadata.tags.java`.")
_NAME_PARAMS = [_path("kind", "Entity kind"), _path("namespace", "Namespace"), _path("name", "Entity name")]
_PAGE_PARAMS = [
    _FILTER,
    _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Page size (default 20)"),
    _q("cursor", _STR, "Opaque cursor from pageInfo; when given, the other parameters are ignored (but limit)"),
    _q("orderField", _STR, "`<field>,asc|desc`; fields: " + ", ".join(ORDER_FIELDS)),
    _q("order", _STR, "Backstage list style `asc:<field>` or `desc:<field>`"),
    _q("fullTextFilterTerm", _STR, "Case-insensitive substring of name, title or description"),
    _q("fields", {"type": "array", "items": _STR}, "Only return these dot paths, e.g. `kind,metadata.name`",
       explode=True),
]

_SCHEMAS: dict = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": _STR, "message": _STR, "details": {}},
        }},
    },
    "Relation": {"type": "object", "required": ["type", "targetRef"],
                 "properties": {"type": _STR, "targetRef": _STR}},
    "Entity": {
        "type": "object", "description": "A Backstage entity (fields may be limited by `fields`)",
        "properties": {
            "apiVersion": _STR, "kind": _STR,
            "metadata": {"type": "object", "properties": {
                "name": _STR, "namespace": _STR, "uid": _STR, "etag": _STR, "title": _STR,
                "tags": {"type": "array", "items": _STR},
                "annotations": {"type": "object"}, "labels": {"type": "object"}}},
            "spec": {"type": "object"},
            "relations": {"type": "array", "items": _ref("Relation")},
            "status": {"type": "object", "properties": {"items": {"type": "array", "items": {
                "type": "object", "properties": {"type": _STR, "level": _STR, "message": _STR}}}}},
        },
    },
    "EntityPage": {
        "type": "object", "required": ["items", "totalItems", "pageInfo"],
        "properties": {
            "items": {"type": "array", "items": _ref("Entity")},
            "totalItems": _INT,
            "pageInfo": {"type": "object", "properties": {
                "nextCursor": {"type": ["string", "null"]}, "prevCursor": {"type": ["string", "null"]}}},
        },
    },
    "Facets": {"type": "object", "required": ["facets"], "properties": {"facets": {
        "type": "object", "additionalProperties": {"type": "array", "items": {
            "type": "object", "required": ["value", "count"], "properties": {"value": _STR, "count": _INT}}}}}},
    "Walk": {
        "type": "object", "description": "graph.impact answer (as `trellis impact --json`)",
        "required": ["root", "depth", "count", "by_owner", "by_system", "cut_off"],
        "properties": {
            "root": {"type": "object"}, "depth": _INT, "count": _INT, "cut_off": {"type": "boolean"},
            "impacted": {"type": "array", "items": {"type": "object"}},
            "dependencies": {"type": "array", "items": {"type": "object"}},
            "by_owner": {"type": "array", "items": {"type": "object"}},
            "by_system": {"type": "array", "items": {"type": "object"}},
        },
    },
    "WalkPage": {
        "type": "object", "description": "graph.impact.Radius.page: the summary, one page of entities with their "
                                         "paths (nearest first, then by ref) and the cursor of the next page",
        "required": ["root", "depth", "walk", "summary", "items", "pageInfo"],
        "properties": {
            "root": {"type": "object"}, "depth": _INT, "walk": {"enum": ["impact", "dependencies"]},
            "summary": {"type": "object", "required": ["count", "hidden", "by_owner", "by_system", "by_kind",
                                                      "by_distance", "cut_off", "capped", "cap"],
                        "properties": {
                            "count": _INT, "hidden": _INT, "cut_off": {"type": "boolean"},
                            "capped": {"type": "boolean"}, "cap": _INT,
                            **{f"by_{k}": {"type": "array", "items": {"type": "object", "required": [k, "count"]}}
                               for k in ("owner", "system", "kind", "distance")}}},
            "items": {"type": "array", "items": {"type": "object", "required": ["ref", "distance", "path", "hops"]}},
            "pageInfo": {"type": "object", "required": ["nextCursor"],
                         "properties": {"nextCursor": {"type": ["string", "null"]}}},
        },
    },
    "Neighbourhood": {
        "type": "object", "required": ["root", "nodes", "edges", "cut_off", "total"],
        "properties": {
            "root": _STR, "cut_off": {"type": "boolean"}, "total": _INT,
            "nodes": {"type": "array", "items": {"type": "object", "required": ["ref", "kind", "distance"],
                      "properties": {"ref": _STR, "kind": _STR, "name": {"type": ["string", "null"]},
                                     "namespace": {"type": ["string", "null"]},
                                     "title": {"type": ["string", "null"]}, "unresolved": {"type": "boolean"},
                                     "distance": _INT}}},
            "edges": {"type": "array", "items": {"type": "object", "required": ["source", "target", "type"],
                      "properties": {"source": _STR, "target": _STR, "type": _STR}}},
        },
    },
    "Paths": {
        "type": "object", "required": ["from", "to", "paths"],
        "properties": {"from": _STR, "to": _STR, "paths": {"type": "array", "items": {
            "type": "object", "required": ["length", "nodes", "hops"],
            "properties": {"length": _INT, "nodes": {"type": "array", "items": _STR}, "hops": {
                "type": "array", "items": {"type": "object", "properties": {
                    "from": _STR, "relation": _STR, "to": _STR}}}}}}},
    },
    "OwnershipReport": {
        "type": "object", "required": ["groups", "unowned", "dangling", "totals"],
        "properties": {"scope": {"type": ["string", "null"]}, "groups": {"type": "array"},
                       "unowned": {"type": "array"}, "dangling": {"type": "array"}, "totals": {"type": "object"}},
    },
    "Location": {
        "type": "object", "required": ["key"],
        "properties": {"key": _STR, "target": {"type": ["string", "null"]},
                       "last_run": {"type": ["string", "null"]}, "last_run_at": {"type": ["integer", "null"]},
                       "created_at": {"type": ["integer", "null"]}, "counts": {"type": "object"}},
    },
    "IngestResult": {
        "type": "object", "required": ["source", "target", "run", "added", "updated", "unchanged", "removed",
                                       "rejected", "conflicts"],
        "properties": {"source": _STR, "target": _STR, "run": _STR, "added": _INT, "updated": _INT,
                       "unchanged": _INT, "removed": _INT, "files": _INT, "reused_files": _INT,
                       "dry_run": {"type": "boolean"}, "seconds": {"type": "number"},
                       "rejected": {"type": "array", "items": {"type": "object"}},
                       "conflicts": {"type": "array", "items": {"type": "object"}}},
    },
    "IngestRun": {
        "type": "object", "required": ["id", "status", "counts", "trigger", "progress"],
        "properties": {"id": _STR, "source": {"type": ["string", "null"], "description": "The owning source key"},
                       "name": {"type": ["string", "null"], "description": "The configured source that ran it"},
                       "target": {"type": ["string", "null"]},
                       "trigger": {"type": "string", "enum": ["manual", "schedule", "webhook"]},
                       "status": {"type": "string", "enum": [
                           "queued", "running", "ok", "partial", "failed", "retrying", "skipped"]},
                       "error": {"type": ["string", "null"]}, "started_at": {"type": ["integer", "null"]},
                       "finished_at": {"type": ["integer", "null"]}, "seconds": {"type": ["number", "null"]},
                       "counts": {"type": "object"},
                       "stale": {"type": "boolean", "description": "running without progress for 15 minutes"},
                       "progress": {"type": "object", "properties": {
                           "stage": {"type": ["string", "null"]}, "done": _INT, "total": _INT,
                           "updated_at": {"type": ["integer", "null"]}}},
                       "rejected": {"type": "array", "items": {"type": "object"}},
                       "conflicts": {"type": "array", "items": {"type": "object"}}},
    },
}


_NSTR = {"type": ["string", "null"]}
_SEARCH_HIT = {"type": "object", "required": ["doctype", "ref", "kind", "name", "match", "highlight"], "properties": {
    "doctype": {"enum": ["entity", "techdocs"]}, "ref": _STR, "kind": _STR, "namespace": _STR, "name": _STR,
    "title": _NSTR, "description": _NSTR, "type": _NSTR, "lifecycle": _NSTR, "owner": _NSTR,
    "tags": {"type": ["array", "null"], "items": _STR}, "score": {"type": "number"},
    "match": {"enum": ["exact", "prefix", "text"], "description": "Why it ranks where it does"},
    "page": {"type": ["object", "null"], "description": "The docs page (techdocs results)",
             "properties": {"path": _STR, "title": _NSTR}},
    "highlight": {"type": "object", "description": "HTML-escaped text with <mark> around matched words",
                  "properties": {"title": _STR, "snippet": _STR}},
}}
_SEARCH_RESULT = {"type": "object", "required": ["query", "total", "page", "limit", "pages", "items", "facets"],
                  "properties": {
    "query": _STR, "engine": _STR, "total": {"type": "integer", "minimum": 0},
    "total_exact": {"type": "boolean", "description": "false: more matched than the 500 ranked; total is a lower bound"},
    "page": {"type": "integer"},
    "limit": {"type": "integer"}, "pages": {"type": "integer"}, "filters": {"type": "object"},
    "items": {"type": "array", "items": _SEARCH_HIT},
    "facets": {"type": "object", "description": "kind, type, owner, lifecycle, tags: values with counts",
               "additionalProperties": {"type": "array", "items": {"type": "object", "required": ["value", "count"],
                                        "properties": {"value": {}, "count": {"type": "integer"}}}}},
}}


def _ok(schema_name: str, description: str) -> dict:
    return {"200": _json(_ref(schema_name), description)}


def _op(summary: str, responses: dict, params: list | None = None, *, errors=(400,), body: dict | None = None,
        op_id: str, public: bool = False) -> dict:
    # Every operation but the public ones needs a signed-in session or an API token: 401 without, 403 when
    # the role, ownership or the token's scopes do not allow it.
    codes = (*errors, 503) if public else (*errors, 401, 403, 503)
    op = {"operationId": op_id, "summary": summary, "parameters": params or [],
          "responses": {**responses, **{str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes}}}
    if public:
        op["security"] = []
    if body:
        op["requestBody"] = body
    return op


def _paths() -> dict:
    items = {"type": "object", "required": ["items"]}
    walk_params = [*_NAME_PARAMS, _q("depth", {"type": "integer", "minimum": 1, "maximum": MAX_DEPTH},
                                     "Maximum hops (default 10)"),
                   _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                      "Answer the summary and this many entities (WalkPage) instead of the whole answer"),
                   _q("cursor", _STR, "pageInfo.nextCursor of the previous page (WalkPage)"),
                   _q("format", {"type": "string", "enum": ["json", "ndjson", "csv"]},
                      "json (default); ndjson or csv stream every entity (not with limit or cursor)")]

    def walk_ok(description: str) -> dict:
        return {"200": {"description": description + " (Walk; WalkPage with limit or cursor)", "content": {
            JSON: {"schema": {"oneOf": [_ref("Walk"), _ref("WalkPage")]}},
            "application/x-ndjson": {"schema": _STR}, "text/csv": {"schema": _STR}}}}
    return {
        "/entities": {"get": _op("List entities (Backstage filter syntax, cursor pages)",
                                 _ok("EntityPage", "A page of entities"), _PAGE_PARAMS, op_id="listEntities")},
        "/entities/by-query": {"get": _op("Query entities (Backstage by-query)", _ok("EntityPage", "A page"),
                                          _PAGE_PARAMS, op_id="queryEntities")},
        "/entities/by-name/{kind}/{namespace}/{name}": {
            "get": _op("One entity", _ok("Entity", "The entity"), _NAME_PARAMS, errors=(400, 404),
                       op_id="getEntityByName"),
            "delete": _op("Unregister one entity (its owners and admins); its location brings it back on the "
                          "next ingest if its descriptor is still there", {"204": {"description": "Removed"}},
                          _NAME_PARAMS, errors=(400, 404), op_id="deleteEntityByName"),
        },
        "/entities/by-name/{kind}/{namespace}/{name}/impact": {"get": _op(
            "Blast radius: what stops working when this entity does", walk_ok("Impacted entities"),
            walk_params, errors=(400, 404), op_id="getImpact")},
        "/entities/by-name/{kind}/{namespace}/{name}/dependencies": {"get": _op(
            "What this entity needs, transitively", walk_ok("Dependencies"), walk_params, errors=(400, 404),
            op_id="getDependencies")},
        "/entities/by-name/{kind}/{namespace}/{name}/builds": {"get": _op(
            "The entity's CI builds (GitHub Actions, GitLab pipelines, Jenkins), newest first, with CI health",
            {"200": _json({"type": "object", "required": ["entity", "builds", "health"], "properties": {
                "entity": _STR,
                "builds": {"type": "array", "items": {"type": "object", "properties": {
                    "provider": {"enum": ["github-actions", "gitlab", "jenkins"]}, "id": _STR,
                    "name": {"type": ["string", "null"]}, "number": {"type": ["integer", "null"]},
                    "status": {"enum": ["succeeded", "failed", "cancelled", "running", "queued", "skipped",
                                        "unknown"]},
                    "branch": {"type": ["string", "null"]}, "commit": {"type": ["string", "null"]},
                    "started_at": {"type": ["integer", "null"], "description": "epoch milliseconds"},
                    "duration_ms": {"type": ["integer", "null"]}, "url": {"type": ["string", "null"]}}}},
                "health": {"type": "object", "properties": {
                    "count": _INT, "last_status": {"type": ["string", "null"]},
                    "last_finished_status": {"type": ["string", "null"]},
                    "last_build": {"type": ["object", "null"]}, "finished": _INT, "failures": _INT,
                    "failure_rate": {"type": ["number", "null"],
                                     "description": "failed / (succeeded + failed); null without finished builds"},
                    "providers": {"type": "array", "items": _STR}}}}}, "Builds and CI health")},
            [*_NAME_PARAMS, _q("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "At most this many "
                               "builds (default 20)"),
             _q("provider", {"enum": ["github-actions", "gitlab", "jenkins"]}, "Only this CI provider")],
            errors=(400, 404), op_id="getEntityBuilds")},
        "/entities/by-refs": {"post": _op(
            "Entities by refs, same order, null for missing",
            {"200": _json({**items, "properties": {"items": {"type": "array", "items": {
                "anyOf": [_ref("Entity"), {"type": "null"}]}}}}, "The entities")},
            errors=(400, 415), op_id="getEntitiesByRefs",
            body={"required": True, "content": {JSON: {"schema": {
                "type": "object", "required": ["entityRefs"],
                "properties": {"entityRefs": {"type": "array", "items": _STR, "maxItems": 1000},
                               "fields": {"type": "array", "items": _STR}}}}}})},
        "/entity-facets": {"get": _op("Value counts per facet", _ok("Facets", "Facet counts"), [
            _q("facet", {"type": "array", "items": _STR, "minItems": 1}, "Facet path, e.g. kind, spec.type, "
               "metadata.tags (repeat for several)", required=True), _FILTER], op_id="getEntityFacets")},
        "/graph/neighbourhood": {"get": _op("Entities around one, for the graph view", _ok(
            "Neighbourhood", "Nodes and edges"), [
            _q("ref", _STR, "Root entity ref", required=True),
            _q("depth", {"type": "integer", "minimum": 1, "maximum": 10}, "Hops (default 2)"),
            _q("kind", {"type": "array", "items": _STR}, "Only walk to these kinds (lower-case)"),
            _q("relation", {"type": "array", "items": _STR}, "Only these relations (forward names, e.g. ownedBy)"),
            _q("max_nodes", {"type": "integer", "minimum": 1, "maximum": 1000}, "Node cap (default 150)"),
        ], errors=(400, 404), op_id="getNeighbourhood")},
        "/graph/paths": {"get": _op("Shortest paths between two entities", _ok("Paths", "Paths"), [
            _q("from", _STR, "Start ref", required=True), _q("to", _STR, "End ref", required=True),
            _q("max_hops", {"type": "integer", "minimum": 1, "maximum": 15}, "Longest path (default 10)"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 50}, "Paths returned (default 5)"),
        ], errors=(400, 404), op_id="getPaths")},
        "/reports/ownership": {"get": _op("Ownership report (transitive through the group tree)", {"200": {
            "description": "The report", "content": {JSON: {"schema": _ref("OwnershipReport")},
                                                     "text/csv": {"schema": _STR}}}}, [
            _q("format", {"type": "string", "enum": ["json", "csv"]}, "json (default) or csv"),
            _q("group", _STR, "Limit to this group and its sub-groups"),
        ], errors=(400, 404), op_id="getOwnershipReport")},
        "/locations": {
            "get": _op("Registered locations", {"200": _json({**items, "properties": {"items": {
                "type": "array", "items": _ref("Location")}}}, "Locations")}, errors=(), op_id="listLocations"),
            "post": _op("Register and ingest a location (local path under an allowed root, or a git URL)", {
                "201": _json(_ref("IngestResult"), "Ingested (rejected documents are listed in the body)"),
                "200": _json(_ref("IngestResult"), "Dry run: what would change")},
                [_q("dryRun", {"type": "boolean"}, "Read and compare only")], errors=(400, 415),
                op_id="addLocation", body={"required": True, "content": {JSON: {"schema": {
                    "type": "object", "required": ["target"], "properties": {"target": _STR}}}}}),
        },
        "/ingest/runs": {"get": _op("Recorded ingest runs, newest first (running ones with live progress)", {
            "200": _json({**items, "required": ["items", "total", "limit", "offset"], "properties": {
                "items": {"type": "array", "items": _ref("IngestRun")}, "total": _INT, "limit": _INT,
                "offset": _INT, "next_offset": {"type": ["integer", "null"]}}}, "Runs")}, [
            _q("source", _STR, "Only runs of this source (configured name or location key)"),
            _q("status", {"type": "string", "enum": [
                "queued", "running", "ok", "partial", "failed", "retrying", "skipped"]}, "Only runs in this state"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "Runs returned (default 50)"),
            _q("offset", {"type": "integer", "minimum": 0, "maximum": 100000}, "Skip this many (paging)"),
        ], op_id="listIngestRuns")},
        "/ingest/runs/{id}": {"get": _op("One ingest run with its rejected documents", _ok("IngestRun", "The run"),
                                         [_path("id", "Run id")], errors=(404,), op_id="getIngestRun")},
        "/ingest/sources": {"get": _op("The configured sources (TRELLIS_CONFIG) and their schedules", {
            "200": _json({**items, "properties": {"items": {"type": "array", "items": {
                "type": "object", "required": ["name", "provider"], "properties": {
                    "name": _STR, "provider": _STR, "schedule": {"type": ["integer", "string", "null"]},
                    "options": {"type": "object"}, "guard": {"type": "object"}}}}}}, "Sources")},
            errors=(), op_id="listIngestSources")},
        "/ingest/sources/{name}/sync": {"post": _op(
            "Queue a run of a configured source now (a worker runs it)", {
                "202": _json({"type": "object", "required": ["run", "source", "status"], "properties": {
                    "run": _STR, "source": _STR, "status": {"const": "queued"}, "url": _STR}},
                    "Queued; follow it at /ingest/runs/{run}"),
                "409": _json(_ref("Error"), "A run of this source is already queued or running (recorded as "
                                            "skipped; details.running names it)")},
            [_path("name", "Configured source name"),
             _q("force", {"type": "boolean"}, "Let the run remove more than the source's guard allows")],
            errors=(404,), op_id="syncIngestSource")},
        "/webhooks/{hook_id}": {"post": _op(
            "A webhook a plugin registered (README: Plugins); `public` ones need no sign-in, others an API token "
            "holding their permission. `github` (the GitHub plugin; no sign-in: authenticated by "
            "X-Hub-Signature-256 with a github source's webhook "
            "secret): `push` to the default branch, or a `repository` created/deleted/archived/renamed, "
            "re-ingests the source reading that organisation: 202 when queued for a worker, 200 when run "
            "synchronously (no job broker); `ping` and other events: 200. 404 `unknown_webhook`: no such "
            "webhook is installed; 502 `plugin_failed`: the plugin raised",
            {"200": _json({"type": "object", "required": ["status"], "properties": {
                "status": {"type": "string", "enum": ["ok", "ignored", "accepted"]}, "event": _STR,
                "reason": _STR, "runs": {"type": "array", "items": {"type": "object"}}}}, "Handled or ignored"),
             "202": _json({"type": "object", "required": ["status", "runs"], "properties": {
                 "status": {"const": "accepted"}, "runs": {"type": "array", "items": {"type": "object"}}}},
                 "Re-ingestion queued"),
             "401": _json(_ref("Error"), "Signature missing or not matching any GitHub source's secret"),
             "413": _json(_ref("Error"), "Delivery larger than 25 MB"),
             "502": _json(_ref("Error"), "The re-ingestion (synchronous fallback) failed, the run is recorded; "
                                         "or the plugin failed")},
            [_path("hook_id", "The webhook's id, e.g. `github`"),
             {"name": "X-Hub-Signature-256", "in": "header", "required": False, "schema": _STR,
              "description": "`sha256=` + hex HMAC-SHA256 of the raw body with the webhook secret"},
             {"name": "X-GitHub-Event", "in": "header", "required": False, "schema": _STR,
              "description": "`push`, `ping`, ... (others are ignored)"},
             {"name": "X-GitHub-Delivery", "in": "header", "required": False, "schema": _STR,
              "description": "Delivery id (echoed for ping)"}],
            errors=(400, 404), op_id="pluginWebhook",
            body={"required": True, "content": {JSON: {"schema": {"type": "object"}}}})},
        "/search": {"get": _op(
            "Search entities and docs pages (exact name/title first, then prefix, then text; typo-tolerant; "
            "only what the reader may see, counted honestly)",
            {"200": _json(_SEARCH_RESULT, "One page of results, the total, facet counts")}, [
                _q("q", {"type": "string", "minLength": 1, "maxLength": 200}, "The words to find (plain text: "
                   "quotes, `*`, `:` and the like are searched as text, not query syntax)", required=True),
                *[_q(name, {"type": "array", "items": _STR, "maxItems": 20}, desc) for name, desc in (
                    ("kind", "Only these kinds (repeat or comma-separate)"),
                    ("owner", "Only these owners (refs; `name` means group:default/name)"),
                    ("type", "Only these spec.type values"), ("lifecycle", "Only these lifecycles"),
                    ("tag", "Only results carrying every one of these tags"))],
                _q("page", {"type": "integer", "minimum": 1}, "Page number, from 1 (page*limit <= 500: the best 500 matches are ranked)"),
                _q("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "Results per page (default 20)"),
            ], op_id="search")},
        "/search/suggest": {"get": _op(
            "Suggestions while typing: the best few entities for the text so far",
            {"200": _json({"type": "object", "required": ["query", "items"], "properties": {
                "query": _STR, "items": {"type": "array", "items": {"type": "object", "required": ["ref"],
                    "properties": {"ref": _STR, "kind": _STR, "namespace": _STR, "name": _STR,
                                   "title": {"type": ["string", "null"]},
                                   "label_html": {"type": "string", "description": "Escaped label, <mark> on matches"}}}}}},
                "Suggestions")}, [
                _q("q", {"type": "string", "maxLength": 200}, "The text typed so far"),
                _q("limit", {"type": "integer", "minimum": 1, "maximum": 20}, "At most this many (default 8)"),
            ], op_id="searchSuggest")},
        "/entities/by-name/{kind}/{namespace}/{name}/refresh": {"post": _op(
            "Re-ingest the location the entity comes from (its owners and admins)",
            _ok("IngestResult", "What the re-ingest changed"), _NAME_PARAMS, errors=(400, 404, 409, 422),
            op_id="refreshEntity")},
        "/admin/roles": {
            "get": _op("Role grants (admin)", {"200": _json({"type": "object"}, "Grants")}, op_id="listRoles"),
            "post": _op("Grant a role (admin)", {"201": _json({"type": "object"}, "The grant")},
                        body={"required": True, "content": {JSON: {"schema": {
                            "type": "object", "required": ["principal", "role"],
                            "properties": {"principal": _STR, "role": {"enum": ["viewer", "editor", "admin"]}}}}}},
                        errors=(400, 415), op_id="grantRole"),
            "delete": _op("Revoke a role grant (admin)", {"204": {"description": "Revoked"}},
                          [_q("principal", _STR, "user:ns/name, group:ns/name, local:name or service:name",
                              required=True)], errors=(400, 404), op_id="revokeRole"),
        },
        "/audit": {"get": _op("The audit log, newest first (admin)", {"200": _json(
            {"type": "object", "required": ["items"],
             "properties": {"items": {"type": "array", "items": {"type": "object"}}}}, "Events")}, [
            _q("actor", _STR, "Principal id, e.g. local:alice"), _q("action", _STR, "e.g. sign_in, denied"),
            _q("outcome", {"enum": ["ok", "denied", "failed"]}, "Outcome"),
            _q("before", {"type": "integer", "minimum": 0}, "Only events before this time (ms)"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size (default 100)"),
        ], op_id="auditLog")},
        **_scaffolder_paths(),
        "/health": {"get": {"operationId": "health", "summary": "Is Neo4j reachable", "security": [], "responses": {
            "200": _json({"type": "object", "required": ["neo4j", "version"], "properties": {
                "neo4j": {"const": "up"}, "version": _STR}}, "Up"),
            "503": _json({"type": "object", "required": ["neo4j", "error"], "properties": {
                "neo4j": {"const": "down"}, "version": _STR,
                "error": _SCHEMAS["Error"]["properties"]["error"]}}, "Down")}}},
        "/health/live": {"get": {"operationId": "liveness", "summary": "Liveness: this process answers (never "
                                 "looks at Neo4j)", "security": [], "responses": {
            "200": _json({"type": "object", "required": ["live", "version"], "properties": {
                "live": {"const": True}, "version": _STR}}, "Alive")}}},
        "/health/ready": {"get": {"operationId": "readiness", "summary": "Readiness: Neo4j answers and its schema "
                                  "is this release's (not while migrating)", "security": [], "responses": {
            "200": _json(_READY, "Ready"),
            "503": _json({**_READY, "required": ["ready", "error"], "properties": {
                **_READY["properties"], "error": _SCHEMAS["Error"]["properties"]["error"]}},
                "Not ready: Neo4j down, migrating, or migrated by a newer release")}}},
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": [], "responses": {
            "200": _json({"type": "object"}, "OpenAPI 3.1")}}},
    }


_READY = {"type": "object", "required": ["ready", "version", "neo4j"], "properties": {
    "ready": {"type": "boolean"}, "version": _STR, "neo4j": {"enum": ["up", "down"]},
    "schema": {"type": ["object", "null"], "properties": {
        "version": {"type": "integer"}, "expected": {"type": "integer"}, "migrating": {"type": "boolean"}}}}}
_TASK_STATUS = {"type": "string", "enum": ["open", "processing", "completed", "failed", "cancelled"]}
_SCHEMAS.update({
    "TemplateSummary": {"type": "object", "required": ["ref", "name"], "properties": {
        "ref": _STR, "namespace": _STR, "name": _STR, "title": _STR, "description": {"type": ["string", "null"]},
        "type": {"type": ["string", "null"]}, "tags": {"type": "array", "items": _STR},
        "owner": {"type": ["string", "null"]}, "etag": {"type": ["string", "null"]}}},
    "ParameterSchema": {"type": "object", "required": ["title", "steps"], "properties": {
        "title": _STR, "description": {"type": ["string", "null"]},
        "steps": {"type": "array", "items": {"type": "object", "required": ["title", "schema"], "properties": {
            "title": _STR, "description": {"type": ["string", "null"]}, "schema": {"type": "object"}}}}}},
    "TaskStep": {"type": "object", "required": ["id", "status"], "properties": {
        "id": _STR, "name": _STR, "action": _STR,
        "status": {"enum": ["open", "processing", "completed", "failed", "skipped", "cancelled"]},
        "started_at": {"type": ["integer", "null"]}, "finished_at": {"type": ["integer", "null"]}}},
    "Task": {"type": "object", "required": ["id", "status", "template_ref"], "properties": {
        "id": _STR, "status": _TASK_STATUS, "template_ref": _STR, "template_title": _STR,
        "template_etag": {"type": ["string", "null"]}, "template_source": {"type": ["string", "null"]},
        "values": {"type": ["object", "null"], "description": "The values (secret fields never appear)"},
        "secret_keys": {"type": ["array", "null"], "items": _STR, "description": "Names of the secrets given"},
        "created_by": _STR, "created_by_label": _STR, "user_ref": {"type": ["string", "null"]},
        "created_at": _INT, "started_at": {"type": ["integer", "null"]}, "finished_at": {"type": ["integer", "null"]},
        "seconds": {"type": ["number", "null"]}, "steps": {"type": ["array", "null"], "items": _ref("TaskStep")},
        "output": {"type": ["object", "null"], "description": "spec.output rendered: links and text"},
        "error": {"type": ["string", "null"]}, "rerun_of": {"type": ["string", "null"]},
        "cancel_requested": {"type": "boolean"}}},
    "TaskEvent": {"type": "object", "required": ["seq", "type", "message"], "properties": {
        "seq": _INT, "at": _INT, "type": {"enum": ["log", "completion", "cancelled"]},
        "step": {"type": ["string", "null"]}, "level": _STR, "message": _STR, "status": {"type": ["string", "null"]}}},
    "DryRunResult": {"type": "object", "required": ["status", "steps", "log", "files", "output"], "properties": {
        "template": _STR, "status": {"enum": ["completed", "failed", "cancelled"]}, "error": {"type": ["string", "null"]},
        "steps": {"type": "array", "items": _ref("TaskStep")}, "log": {"type": "array", "items": _ref("TaskEvent")},
        "files": {"type": "array", "items": {"type": "object", "required": ["path", "size"], "properties": {
            "path": _STR, "size": _INT, "text": {"type": ["string", "null"]}, "executable": {"type": "boolean"}}}},
        "output": {"type": "object"}, "values": {"type": "object"}, "seconds": {"type": "number"},
        "catalog": {"type": "object", "properties": {
            "files": {"type": "array", "items": _STR},
            "entities": {"type": "array", "items": {"type": "object", "description": "ref, kind, problems, exists, "
                                                    "owner, system, relations[{type, target, state}]"}}}}}},
})


def _scaffolder_paths() -> dict:
    task_id = [_path("task_id", "Task id")]
    task_body = {"required": True, "content": {JSON: {"schema": {"type": "object", "properties": {
        "templateRef": {**_STR, "description": "template:namespace/name"},
        "values": {"type": "object", "description": "Form values (validated against the template's parameters)"},
        "secrets": {"type": "object", "additionalProperties": _STR,
                    "description": "Secret values (`${{ secrets.x }}`); never stored, never shown"},
        "dryRun": {"type": "boolean", "description": "Run with no side effects and answer the result"},
        "template": {"description": "Dry runs only: a template (object or YAML text) instead of templateRef"},
        "directoryContents": {"type": "array", "description": "Dry runs of an inline template: its files",
                              "items": {"type": "object", "properties": {"path": _STR, "base64Content": _STR}}},
    }}}}}
    return {
        "/templates": {"get": _op("Templates the reader may see", {"200": _json({
            "type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "items": _ref("TemplateSummary")}, "can_run": {"type": "boolean"}}},
            "Templates")}, [_q("type", _STR, "spec.type"), _q("tag", _STR, "A tag"),
                            _q("owner", _STR, "Owner ref (kind defaults to group)"), _q("q", _STR, "Text")],
            op_id="listTemplates")},
        "/templates/{namespace}/{name}/parameter-schema": {"get": _op(
            "A template's form: one JSON Schema per step (with Backstage's ui:* hints)",
            _ok("ParameterSchema", "The parameter schema"),
            [_path("namespace", "Namespace"), _path("name", "Template name")], errors=(400, 404, 422),
            op_id="templateParameterSchema")},
        "/scaffolder/actions": {"get": _op("Installed scaffolder actions and their input/output schemas", {
            "200": _json({"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}},
                         "Actions")}, errors=(), op_id="listScaffolderActions")},
        "/tasks": {
            "get": _op("Template runs (your own; admins: everyone's, or createdBy)", {"200": _json({
                "type": "object", "required": ["items", "total"], "properties": {
                    "items": {"type": "array", "items": _ref("Task")}, "total": _INT, "limit": _INT,
                    "offset": _INT}}, "Tasks")}, [
                _q("status", _TASK_STATUS, "Only tasks in this state"),
                _q("createdBy", _STR, "Admins: a principal id, `me` or `all`"),
                _q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "Page size (default 50)"),
                _q("offset", {"type": "integer", "minimum": 0, "maximum": 100000}, "Skip this many")],
                op_id="listTasks"),
            "post": _op("Run a template (queued: 201) or dry-run it (200 with the result)", {
                "201": _json({"type": "object", "required": ["id", "status"], "properties": {
                    "id": _STR, "status": _TASK_STATUS, "url": _STR}}, "Queued; follow /tasks/{id}/events"),
                "200": _json(_ref("DryRunResult"), "Dry run result")}, errors=(400, 404, 415, 422),
                body=task_body, op_id="createTask"),
        },
        "/tasks/{task_id}": {"get": _op("One task", _ok("Task", "The task"), task_id, errors=(404,), op_id="getTask")},
        "/tasks/{task_id}/events": {"get": _op("A task's log after a sequence number (poll it for the live log)", {
            "200": _json({"type": "object", "required": ["items", "status"], "properties": {
                "items": {"type": "array", "items": _ref("TaskEvent")}, "status": _TASK_STATUS,
                "steps": {"type": "array", "items": _ref("TaskStep")}, "output": {"type": ["object", "null"]},
                "error": {"type": ["string", "null"]}}}, "Events")},
            [*task_id, _q("after", {"type": "integer", "minimum": 0}, "Only events with a larger seq")],
            errors=(400, 404), op_id="taskEvents")},
        "/tasks/{task_id}/cancel": {"post": _op("Cancel a task (an open one at once; a running one before its "
                                                "next step, waits at once)", {"202": _json({
                                                    "type": "object", "required": ["id"], "properties": {
                                                        "id": _STR, "status": {"type": ["string", "null"]}}},
                                                    "Cancel requested")}, task_id, errors=(404,), op_id="cancelTask")},
        "/tasks/{task_id}/rerun": {"post": _op(
            "Run a task again: the same template revision and values (secrets must be sent again)", {
                "201": _json({"type": "object", "required": ["id", "status"], "properties": {
                    "id": _STR, "status": _TASK_STATUS, "url": _STR, "rerunOf": _STR}}, "Queued")},
            task_id, errors=(400, 404), op_id="rerunTask",
            body={"required": False, "content": {JSON: {"schema": {"type": "object", "properties": {
                "secrets": {"type": "object", "additionalProperties": _STR}}}}}})},
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    error = _ref("Error")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Trellis catalog API", "version": "1.0.0",
                 "description": "Backstage-compatible catalog reads plus graph queries (impact, paths, ownership). "
                                "Errors: `{\"error\": {\"code\", \"message\", \"details\"}}`."},
        "servers": [{"url": "/api/v1"}],
        "paths": _paths(),
        "security": [{"bearerToken": []}, {"session": []}],
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "A personal or service API token `trl_...` (scopes catalog:read, "
                                               "catalog:write, reports:read, admin)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-trellis",
                            "description": "The portal's session cookie; unsafe methods also need the "
                                           "X-CSRF-Token header"},
            },
            "responses": {f"E{code}": _json(error, text) for code, text in (
                (400, "Bad request"), (401, "Not signed in, or the API token was rejected"),
                (403, "Not allowed (role, ownership, token scope or CSRF token)"), (404, "Not found"),
                (409, "Conflict"), (415, "Unsupported media type"), (422, "The location cannot be ingested"),
                (503, "The catalog database is not reachable"))},
        },
    }
