"""Blast radius and dependency closure.

One breadth-first walk in the server (APOC's spanning tree with global node uniqueness), so each entity is
reported once, at its shortest distance, with one shortest path. Which relationships propagate a failure:

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

if TYPE_CHECKING:
    from graph.driver import Graph

DEFAULT_DEPTH = 10
MAX_DEPTH = 50

WALKS = {
    "impact": "<DEPENDS_ON|<CONSUMES_API|PROVIDES_API>|PART_OF>",
    "dependencies": "DEPENDS_ON>|CONSUMES_API>|<PROVIDES_API|<PART_OF",
}
NOT_PROPAGATING = "-System|-Domain"

# Each spanning-tree path ends at a newly reached node; its parent is the node before it. Returning the
# parent and the last hop (not whole paths) keeps the answer linear in the radius; paths are rebuilt here.
_WALK_QUERY = """
MATCH (root:Entity {ref: $ref})
CALL (root) {
  CALL apoc.path.spanningTree(root, {
      relationshipFilter: CASE WHEN root:System OR root:Domain THEN $membership_free ELSE $relationships END,
      labelFilter: $labels, minLevel: 1, maxLevel: $max_level, bfs: true
  }) YIELD path
  WITH last(nodes(path)) AS n, last(relationships(path)) AS r, length(path) AS distance,
       nodes(path)[-2].ref AS parent
  RETURN collect([n.ref, n.kind, n.owner, n.system, n:Unresolved, distance, parent, type(r),
                  startNode(r) = n, coalesce(n.restricted, false)]) AS rows
}
RETURN root {.ref, .kind, .title, .owner, .system, unresolved: root:Unresolved} AS root, rows
"""


class EntityNotFound(LookupError):
    """The ref is not in the catalog (not even as an unresolved placeholder)."""


HIDDEN_REF = "(an entity you cannot see)"


def impact(graph: "Graph", ref: str, depth: int = DEFAULT_DEPTH, visibility: Visibility = EVERYTHING) -> dict:
    """Everything that stops working when `ref` does."""
    return _walk(graph, ref, depth, "impact", visibility)


def dependencies(graph: "Graph", ref: str, depth: int = DEFAULT_DEPTH,
                 visibility: Visibility = EVERYTHING) -> dict:
    """Everything `ref` needs, directly or transitively."""
    return _walk(graph, ref, depth, "dependencies", visibility)


def _walk(graph: "Graph", ref: str, depth: int, walk: str, visibility: Visibility) -> dict:
    """The walk goes through every entity (a restricted database still breaks its dependants); entities the
    reader may not read are then left out of the answer, counted in `hidden`, and masked in paths."""
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
    relationships = WALKS[walk]
    # Every PART_OF edge at a System or Domain root is membership, never subcomponentOf.
    membership_free = "|".join(p for p in relationships.split("|") if "PART_OF" not in p)
    # One level past the bound tells whether the answer was cut off, without a second query.
    records = graph.read(
        _WALK_QUERY, ref=ref, relationships=relationships, membership_free=membership_free,
        labels=NOT_PROPAGATING, max_level=depth + 1,
    )
    if not records:
        raise EntityNotFound(f"{ref} is not in the catalog")
    root, rows = records[0]["root"], records[0]["rows"]
    items = []
    cut_off = False
    hops: dict[str, dict] = {}
    parents: dict[str, str] = {}
    hidden: set[str] = set()
    for node_ref, kind, owner, system, unresolved, distance, parent, rel_type, outgoing, restricted in rows:
        if distance > depth:
            cut_off = True
            continue
        if not visibility.can_read({"kind": kind, "owner": owner, "restricted": restricted}):
            hidden.add(node_ref)
        forward = RELATION_NAMES[rel_type][0]
        hops[node_ref] = ({"from": node_ref, "relation": forward, "to": parent} if outgoing
                          else {"from": parent, "relation": forward, "to": node_ref})
        parents[node_ref] = parent
        if node_ref in hidden:
            continue
        items.append({
            "ref": node_ref, "kind": kind, "distance": distance, "owner": owner, "system": system,
            "unresolved": unresolved,
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
    key = "impacted" if walk == "impact" else "dependencies"
    return {
        "root": root,
        "depth": depth,
        key: items,
        "count": len(items),
        "hidden": len(hidden),
        "by_owner": _rollup(items, "owner"),
        "by_system": _rollup(items, "system"),
        "cut_off": cut_off,
    }


def _rollup(items: list[dict], key: str) -> list[dict]:
    groups: dict[str | None, list[str]] = defaultdict(list)
    for item in items:
        groups[item[key]].append(item["ref"])
    rows = [{key: k, "count": len(v), "refs": v} for k, v in groups.items()]
    rows.sort(key=lambda r: (-r["count"], r[key] is None, r[key] or ""))
    return rows
