"""One pooled graph connection per application process, tolerant of Neo4j being down at start.

The app must start (and answer 503) while Neo4j is away, and recover by itself when it returns: the driver
reconnects on the next request, and the schema is applied on the first request that reaches the server.
"""
from __future__ import annotations

import dataclasses

from flask import Flask, current_app

from graph.driver import Graph, Settings
from servers.neo4j import credentials_for
from graph.schema import apply_schema


def init_graph(app: Flask) -> None:
    settings = Settings.from_env()
    uri = app.config.get("NEO4J_URI")
    if uri and uri != settings.uri and not app.config.get("NEO4J_USER") and credentials_for(uri):
        # the environment's NEO4J_USER/NEO4J_PASSWORD belong to its own NEO4J_URI; a local server named here
        # (servers.neo4j) is reached with the password it generated
        settings = dataclasses.replace(settings, user=None, password=None)
    overrides = {
        "uri": app.config.get("NEO4J_URI"), "user": app.config.get("NEO4J_USER"),
        "password": app.config.get("NEO4J_PASSWORD"), "database": app.config.get("NEO4J_DATABASE"),
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v})
    app.extensions["trellis.graph"] = Graph(settings)
    app.extensions["trellis.schema_ready"] = False


#: How long a request waits for another process's migration before answering 503 (graph.migrations).
REQUEST_MIGRATION_WAIT = 5.0


def walk_node_cap() -> int | None:
    """The configured node cap of graph walks (`walk_node_cap`), None for graph.walk's own default."""
    return current_app.config.get("TRELLIS_WALK_NODE_CAP")


def get_graph() -> Graph:
    """The app's graph; migrates/applies the schema once the server is first reachable (GraphUnavailable
    otherwise; its subclasses SchemaTooNew and MigrationInProgress while the schema is not usable)."""
    graph: Graph = current_app.extensions["trellis.graph"]
    if not current_app.extensions["trellis.schema_ready"]:
        apply_schema(graph, wait=REQUEST_MIGRATION_WAIT)
        current_app.extensions["trellis.schema_ready"] = True
    return graph
