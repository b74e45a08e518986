"""The executor: reads what the planner needs from the graph and writes a plan through `graph.write`.

Why apart from the planner: everything here touches the database, nothing decides anything; the decisions
are `ingest.plan`'s. Removal comes last, once everything else is written, so a run that fails part-way has
deleted nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from graph import write
from graph.write import StoredEntity
from ingest.plan import Plan

if TYPE_CHECKING:
    from graph.driver import Graph


def stored_by(graph: "Graph", source: str) -> dict[str, StoredEntity]:
    """What `source` stored before this run (ref -> its hash and file): what `ingest.plan.plan` calls `stored`."""
    return write.stored_by_source(graph, source)


def held_elsewhere(graph: "Graph", refs: Iterable[str], stored: dict[str, StoredEntity]) -> dict[str, StoredEntity]:
    """The nodes (another source's entities, or placeholders) of refs this run accepted and its source does
    not store: what `ingest.plan.plan` calls `elsewhere`."""
    return write.stored_by_ref(graph, [ref for ref in refs if ref not in stored])


def execute(graph: "Graph", plan: Plan, *, source: str, target: str, run: str, summary: dict,
            progress: Callable[[str, int, int], None]) -> None:
    """Write `plan` for `source`: entities, placeholders for relation ends nobody declares, relations, then
    removals; last, the location's `:IngestSource` record with this run's `summary`."""
    changed = plan.to_write
    fresh = set(plan.new_nodes)   # no node at all yet: CREATE rather than MERGE
    progress("writing entities", 0, len(changed))
    write.upsert_entities(
        graph, [t.row for t in changed], source=source, run=run, fresh=fresh,
        replace_relations=[t.row.ref for t in plan.to_update],
    )
    relations = [(rel, t.row.ref) for t in changed for rel in t.relations]
    endpoints = {r.source for r, _ in relations} | {r.target for r, _ in relations}
    progress("writing relations", 0, len(relations))
    fresh.update(write.ensure_placeholders(graph, endpoints - plan.accepted.keys()))
    write.create_relations(graph, relations, source=source, run=run, fresh=fresh)
    # Last, once everything else is written: a run that fails earlier has deleted nothing.
    progress("removing", 0, len(plan.to_remove))
    write.remove_entities(graph, plan.to_remove)
    progress("removing", len(plan.to_remove), len(plan.to_remove))
    write.record_source(graph, source, target=target, run=run, summary=summary)
