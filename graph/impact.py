"""Blast radius and dependency closure.

One breadth-first walk in the server (graph.walk: APOC's spanning tree with global node uniqueness, bounded
by the shared node cap), so each entity is reported once, at its shortest distance, with one shortest path.
Which relationships propagate a failure:

- impact (what breaks when X breaks): `Y DEPENDS_ON X` and `Y CONSUMES_API X` (walk them backwards),
  `X PROVIDES_API A` and `X PART_OF P` where both are components, i.e. subcomponentOf (walk them forwards);
- dependencies (what X needs): the same walk in the other direction.

`PART_OF` also carries system and domain membership, which must not propagate: System and Domain nodes are
excluded from the walk (placeholders carry their kind label too, so this holds for unresolved refs).
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from graph.model import RELATION_NAMES
from graph.visibility import EVERYTHING, Visibility
from graph.walk import EntityNotFound, walk

if TYPE_CHECKING:
    from graph.driver import Graph

DEFAULT_DEPTH = 10
MAX_DEPTH = 50

WALKS = {
    "impact": "<DEPENDS_ON|<CONSUMES_API|PROVIDES_API>|PART_OF>",
    "dependencies": "DEPENDS_ON>|CONSUMES_API>|<PROVIDES_API|<PART_OF",
}
NOT_PROPAGATING = "-System|-Domain"

__all__ = ["DEFAULT_DEPTH", "MAX_DEPTH", "EntityNotFound", "HIDDEN_REF", "dependencies", "impact"]

HIDDEN_REF = "(an entity you cannot see)"


def impact(graph: "Graph", ref: str, depth: int = DEFAULT_DEPTH, visibility: Visibility = EVERYTHING, *,
           cap: int | None = None) -> dict:
    """Everything that stops working when `ref` does (at most `cap` entities: graph.walk.node_cap)."""
    return _answer(graph, ref, depth, "impact", visibility, cap)


def dependencies(graph: "Graph", ref: str, depth: int = DEFAULT_DEPTH,
                 visibility: Visibility = EVERYTHING, *, cap: int | None = None) -> dict:
    """Everything `ref` needs, directly or transitively (at most `cap` entities: graph.walk.node_cap)."""
    return _answer(graph, ref, depth, "dependencies", visibility, cap)


def _answer(graph: "Graph", ref: str, depth: int, kind: str, visibility: Visibility, cap: int | None) -> dict:
    """The walk goes through every entity (a restricted database still breaks its dependants); entities the
    reader may not read are then left out of the answer, counted in `hidden`, and masked in paths.

    `cut_off`: entities lie beyond `depth`; `capped`: the walk stopped at `cap` entities (hidden ones
    included), so `count`, `hidden` and the roll-ups are lower bounds."""
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
    relationships = WALKS[kind]
    # Every PART_OF edge at a System or Domain root is membership, never subcomponentOf.
    membership_free = "|".join(p for p in relationships.split("|") if "PART_OF" not in p)
    # One level past the bound tells whether the answer was cut off, without a second query.
    walked = walk(graph, ref, relationships, max_depth=depth, labels=NOT_PROPAGATING,
                  root_relationships={"System": membership_free, "Domain": membership_free}, cap=cap,
                  look_beyond=True)
    root = {k: walked.root[k] for k in ("ref", "kind", "title", "owner", "system", "unresolved")}
    items = []
    hops: dict[str, dict] = {}
    parents: dict[str, str] = {}
    hidden: set[str] = set()
    for step in walked.steps:
        if not visibility.can_read(step.access_facts()):
            hidden.add(step.ref)
        forward = RELATION_NAMES[step.rel_type][0]
        hops[step.ref] = ({"from": step.ref, "relation": forward, "to": step.parent} if step.outgoing
                          else {"from": step.parent, "relation": forward, "to": step.ref})
        parents[step.ref] = step.parent
        if step.ref in hidden:
            continue
        items.append({
            "ref": step.ref, "kind": step.kind, "distance": step.distance, "owner": step.owner,
            "system": step.system, "unresolved": step.unresolved,
        })
    mask = (lambda r: HIDDEN_REF if r in hidden else r)
    for item in items:
        chain = [item["ref"]]
        while chain[-1] in parents:
            chain.append(parents[chain[-1]])
        chain.reverse()
        item["path"] = [mask(r) for r in chain]
        item["hops"] = [{**hops[x], "from": mask(hops[x]["from"]), "to": mask(hops[x]["to"])} for x in chain[1:]]
    items.sort(key=lambda i: (i["distance"], i["ref"]))
    key = "impacted" if kind == "impact" else "dependencies"
    return {
        "root": root,
        "depth": depth,
        key: items,
        "count": len(items),
        "hidden": len(hidden),
        "by_owner": _rollup(items, "owner"),
        "by_system": _rollup(items, "system"),
        "cut_off": walked.beyond,
        "capped": walked.capped,
        "cap": walked.cap,
    }


def _rollup(items: list[dict], key: str) -> list[dict]:
    groups: dict[str | None, list[str]] = defaultdict(list)
    for item in items:
        groups[item[key]].append(item["ref"])
    rows = [{key: k, "count": len(v), "refs": v} for k, v in groups.items()]
    rows.sort(key=lambda r: (-r["count"], r[key] is None, r[key] or ""))
    return rows
