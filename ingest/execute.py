"""The executor: reads what the planner needs from the graph and writes a plan through `graph.write`.

Why apart from the planner: everything here touches the database, nothing decides anything; the decisions
are `ingest.plan`'s. Removal comes last, once everything else is written, so a run that fails part-way has
deleted nothing.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Iterable

from graph import write
from graph.write import StoredEntity
from ingest.plan import Batch, Declared, Declaring, Plan, certain_additions

if TYPE_CHECKING:
    from graph.driver import Graph


def stored_by(graph: "Graph", source: str) -> dict[str, StoredEntity]:
    """What `source` stored before this run (ref -> its hash and file): what `ingest.plan.plan` calls `stored`."""
    return write.stored_by_source(graph, source)


def held_elsewhere(graph: "Graph", refs: Iterable[str], stored: dict[str, StoredEntity]) -> dict[str, StoredEntity]:
    """The nodes (another source's entities, or placeholders) of refs this run accepted and its source does
    not store: what `ingest.plan.plan` calls `elsewhere`."""
    return write.stored_by_ref(graph, [ref for ref in refs if ref not in stored])


# Candidates transformed between two looks at the graph while new entities are written (declare_writing).
CHUNK = 5000


def declare_writing(graph: "Graph", batch: Batch, source: str, stored: dict[str, StoredEntity], *, run: str,
                    progress: Callable[[str, int, int], None],
                    chunk: int | None = None) -> tuple[Declared, dict[str, StoredEntity], set[str]]:
    """`ingest.plan.declare` and `held_elsewhere`, while a writer thread already CREATEs the entities the
    plan will certainly add (`ingest.plan.certain_additions`), so Neo4j works while Python transforms.

    Call it only when the removal guard cannot refuse this run (`RemovalGuard.cannot_refuse`): an early
    write must never happen in a run the guard would stop. Returns what `plan` takes (the declared
    documents, the nodes found elsewhere before anything was written) and the refs already written,
    which `execute` then skips.
    """
    chunk = chunk or CHUNK
    declaring = Declaring(batch, source)
    ordered = declaring.order()
    elsewhere: dict[str, StoredEntity] = {}
    written: set[str] = set()
    pending: list[Future] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
        for start in range(0, len(ordered), chunk):
            progress("transforming", start, len(ordered))
            accepted = [item for item in map(declaring.add, ordered[start:start + chunk]) if item is not None]
            elsewhere.update(held_elsewhere(graph, (item.row.ref for item in accepted), stored))
            new = certain_additions(accepted, stored, elsewhere)
            if new:
                refs = {item.row.ref for item in new}
                pending.append(writer.submit(write.upsert_entities, graph, [item.row for item in new],
                                             source=source, run=run, fresh=refs))
                written |= refs
            for done in [f for f in pending if f.done()]:
                done.result()   # a failed write fails the run now, not after transforming everything
                pending.remove(done)
        progress("writing entities", len(written), len(written))
        for future in pending:
            future.result()
    return declaring.declared(), elsewhere, written


def execute(graph: "Graph", plan: Plan, *, source: str, target: str, run: str, summary: dict,
            progress: Callable[[str, int, int], None], written: set[str] = frozenset()) -> None:
    """Write `plan` for `source`: entities (but `written`, already created by `declare_writing`),
    placeholders for relation ends nobody declares, relations, then removals; last, the location's
    `:IngestSource` record with this run's `summary`."""
    changed = plan.to_write
    fresh = set(plan.new_nodes)   # no node at all yet: CREATE rather than MERGE
    progress("writing entities", 0, len(changed))
    write.upsert_entities(
        graph, [t.row for t in changed if t.row.ref not in written], source=source, run=run, fresh=fresh,
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
