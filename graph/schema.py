"""Schema applied idempotently at start: the uniqueness constraint every MERGE relies on, plus indexes."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

STATEMENTS: tuple[str, ...] = (
    "CREATE CONSTRAINT entity_ref IF NOT EXISTS FOR (n:Entity) REQUIRE n.ref IS UNIQUE",
    "CREATE CONSTRAINT ingest_source_key IF NOT EXISTS FOR (s:IngestSource) REQUIRE s.key IS UNIQUE",
    "CREATE INDEX entity_source IF NOT EXISTS FOR (n:Entity) ON (n.source)",
    "CREATE INDEX entity_kind IF NOT EXISTS FOR (n:Entity) ON (n.kind)",
    "CREATE INDEX entity_namespace IF NOT EXISTS FOR (n:Entity) ON (n.namespace)",
    "CREATE INDEX entity_name IF NOT EXISTS FOR (n:Entity) ON (n.name)",
    "CREATE INDEX entity_type IF NOT EXISTS FOR (n:Entity) ON (n.type)",
    "CREATE INDEX entity_lifecycle IF NOT EXISTS FOR (n:Entity) ON (n.lifecycle)",
    "CREATE INDEX entity_owner IF NOT EXISTS FOR (n:Entity) ON (n.owner)",
)

_applied: set[str] = set()


def apply_schema(graph: "Graph") -> None:
    """Create constraints and indexes if missing, once per process and server."""
    key = f"{graph.settings.uri}/{graph.database}"
    if key in _applied:
        return
    for statement in STATEMENTS:
        graph.write(statement)
    graph.write("CALL db.awaitIndexes(120)")
    _applied.add(key)
