"""Errors of the graph layer that modules on both sides of the driver need (graph.migrations raises what
graph.driver re-exports), kept apart so that neither has to import the other."""
from __future__ import annotations


class GraphUnavailable(RuntimeError):
    """Neo4j cannot be reached (down, wrong address, bad credentials)."""
