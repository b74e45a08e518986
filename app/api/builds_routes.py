"""`GET /api/v1/entities/by-name/{kind}/{namespace}/{name}/builds`: an entity's CI builds and CI health.

Thin view: check the reader may read the entity (404 otherwise, as for the entity itself), ask graph.builds,
shape the JSON. Documented in app/api/openapi.py.
"""
from __future__ import annotations

from flask import jsonify

from app.api import bp
from app.api.params import bad, int_arg, str_arg
from app.api.routes import _named_ref, _readable_or_404
from app.auth import access
from app.graph_access import get_graph
from graph.builds import DEFAULT_KEEP, ci_health, builds_for

MAX_BUILDS = 100
PROVIDERS = ("github-actions", "gitlab", "jenkins")


@bp.get("/entities/by-name/<kind>/<namespace>/<name>/builds")
def entity_builds(kind: str, namespace: str, name: str):
    ref = _named_ref(kind, namespace, name)
    limit = int_arg("limit", DEFAULT_KEEP, 1, MAX_BUILDS)
    provider = str_arg("provider", max_len=40)
    if provider is not None and provider not in PROVIDERS:
        raise bad(f"provider must be one of {', '.join(PROVIDERS)}", details={"parameter": "provider"})
    access.require("read")
    _readable_or_404(ref)
    builds = builds_for(get_graph(), ref, limit=limit, provider=provider)
    return jsonify({"entity": ref, "builds": builds, "health": ci_health(builds)})
