"""Health endpoints for people, load balancers and orchestrators (public: they reveal no catalog data).

- `GET /health`: is Neo4j reachable, and which release answers (the portal's long-standing check).
- `GET /health/live`: liveness: this process answers requests. Never looks at Neo4j, so a database outage
  does not get healthy web processes restarted.
- `GET /health/ready`: readiness: this process can serve the catalog now: Neo4j answers and the database's
  schema is the one this release knows (not while a migration runs, not after a newer release migrated it).

Error bodies never name the database's address (an attacker learns nothing about the network from them);
the reason with the address goes to the log.
"""
from __future__ import annotations

import logging

from flask import current_app, jsonify

from app.api import bp
from app.auth import access
from app.version import version
from graph import migrations
from graph.driver import GraphUnavailable
from graph.migrations import MigrationInProgress, SchemaTooNew
from graph.schema import apply_schema, forget_applied

log = logging.getLogger(__name__)

_DOWN = {"code": "graph_unavailable", "message": "The catalog database (Neo4j) is not reachable.", "details": None}


def _graph():
    return current_app.extensions["trellis.graph"]


@bp.get("/health")
@access.public
def health():
    try:
        _graph().verify()
    except GraphUnavailable as exc:
        log.warning("health: %s", exc)
        return jsonify({"neo4j": "down", "version": version(), "error": _DOWN}), 503, {"Retry-After": "5"}
    return jsonify({"neo4j": "up", "version": version()})


@bp.get("/health/live")
@access.public
def liveness():
    return jsonify({"live": True, "version": version()})


@bp.get("/health/ready")
@access.public
def readiness():
    graph = _graph()
    body: dict = {"ready": False, "version": version(), "neo4j": "down", "schema": None}
    try:
        graph.verify()
        body["neo4j"] = "up"
        state = migrations.status(graph)
        if state["version"] != state["expected"] and state["lock_holder"] is None:
            # nobody is migrating a database this release can use: migrate it now (the database was
            # replaced or wiped under a running portal), unless a newer release owns it
            migrations.check_not_too_new(state)
            forget_applied()
            current_app.extensions["trellis.schema_ready"] = False
            apply_schema(graph, wait=0)
            state = migrations.status(graph)
        body["schema"] = {"version": state["version"], "expected": state["expected"],
                          "migrating": state["lock_holder"] is not None}
        migrations.check_not_too_new(state)
        if state["version"] != state["expected"] or state["lock_holder"] is not None:
            raise MigrationInProgress("migration in progress")
    except SchemaTooNew as exc:
        log.warning("readiness: %s", exc)
        body["error"] = {"code": "schema_too_new", "message": "The catalog database was migrated by a newer "
                         "Trellis release than this one.", "details": None}
        return jsonify(body), 503, {"Retry-After": "30"}
    except MigrationInProgress:
        body["error"] = {"code": "migrating", "message": "The catalog database is being migrated.", "details": None}
        return jsonify(body), 503, {"Retry-After": "5"}
    except GraphUnavailable as exc:
        log.warning("readiness: %s", exc)
        body["error"] = _DOWN
        return jsonify(body), 503, {"Retry-After": "5"}
    body["ready"] = True
    return jsonify(body)
