"""The one bounded breadth-first walk that every graph walk shares: impact, dependencies, the neighbourhood, and
the change-preview and assistant tools built on them.

Why one function with a node cap: catalog data is untrusted, and depth alone does not bound a walk (one hub
three hops away reaches the whole catalog). Every walk goes through `walk()`, so one setting bounds them all:
`TRELLIS_WALK_NODE_CAP` (default 10,000: a 6,000-entity blast radius at 100k entities fits with room to
spare). Below the cap the answer is exact; at the cap it stops and says so (`capped`), and counts become lower
bounds.

How: APOC's spanning tree, breadth first, global node uniqueness, so each node comes back once, at its
shortest distance, with the parent and the relationship it was first reached through. APOC stops after
`limit` paths, so the server never walks more than the cap (plus one node, to know it was cut). Returning
the parent and the last hop, not whole paths, keeps the answer linear in the nodes walked; rows carry only
what every caller needs (visibility facts, owner, system), as wide rows cost more than the walk itself at
thousands of nodes (names and titles of the few nodes shown are read afterwards). Those facts are one stored
list per node (`walk_facts`, kept by graph.write), not six property reads and a label check: at 6,000 nodes
that is ~10 ms of the query's ~48 (benchmarks/walk_query_bench.py).

The path finder's distance search (`shortest_distance`, from both ends, level by level) is bounded by the
same cap: the two sides together visit at most `cap` nodes.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, NamedTuple

from graph.gc_pause import paused_gc

if TYPE_CHECKING:
    from graph.driver import Graph

NODE_CAP_ENV = "TRELLIS_WALK_NODE_CAP"
DEFAULT_NODE_CAP = 10_000
MAX_NODE_CAP = 1_000_000
# Root labels whose relationship filter a caller may replace (fixed list: labels are formatted into Cypher).
ROOT_LABELS = ("System", "Domain", "Group", "Component", "API", "Resource", "User", "Location", "Template")


def walk_facts(ref: str, kind: str | None, owner: str | None = None, system: str | None = None, *,
               unresolved: bool = False, restricted: bool = False) -> list[str]:
    """The facts a graph walk reports per entity, as one stored property (`walk_facts`).

    Why: a 6,000-entity blast radius read six properties and a label per walked node, a third of the walk
    query's time; one list is one property read. Every write of an entity (graph.write), placeholder or
    removal sets it (and migration 3 filled it for data written before), so it never disagrees with the
    properties it copies; graph.walk still falls back to those properties for a node without it. A list of
    strings (Neo4j lists are of one type): "" for no owner or system, flags "u" (unresolved placeholder) and
    "r" (restricted)."""
    return [ref, kind or "", owner or "", system or "", ("u" if unresolved else "") + ("r" if restricted else "")]


WALK_FACTS_CYPHER = ("[n.ref, coalesce(n.kind, ''), coalesce(n.owner, ''), coalesce(n.system, ''), "
                     "CASE WHEN n:Unresolved THEN 'u' ELSE '' END + CASE WHEN n.restricted THEN 'r' ELSE '' END]")
"""`walk_facts` computed from a node `n`'s own properties, in Cypher: what migration 3 stores, and what a walk
reads for a node that has no `walk_facts`."""


class EntityNotFound(LookupError):
    """The ref is not in the catalog (not even as an unresolved placeholder)."""


def node_cap(value: int | str | None = None) -> int:
    """The cap to use: `value` when given, else `TRELLIS_WALK_NODE_CAP`, else the default. ValueError when it is
    not a whole number between 1 and MAX_NODE_CAP (a typo must not switch the bound off)."""
    raw = os.environ.get(NODE_CAP_ENV) if value is None else value
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_NODE_CAP
    try:
        cap = int(raw) if not isinstance(raw, bool) else -1
    except (TypeError, ValueError):
        cap = -1
    if not 1 <= cap <= MAX_NODE_CAP:
        raise ValueError(f"{NODE_CAP_ENV} must be a whole number between 1 and {MAX_NODE_CAP}, not {raw!r}")
    return cap


class Step(NamedTuple):
    """One node reached by the walk, and how it was first reached. A named tuple, not a dataclass: a walk makes
    up to `cap` of them per request, and a frozen dataclass costs ~4x as much to build (~10 ms per 6,000)."""

    ref: str
    kind: str | None
    owner: str | None
    system: str | None
    unresolved: bool
    restricted: bool
    distance: int        # hops from the root (1 = a neighbour)
    parent: str          # the ref it was reached from
    rel_type: str        # relationship type of that last hop
    outgoing: bool       # True when the hop is stored as (this node)-[rel_type]->(parent)

    def access_facts(self) -> dict:
        """What graph.visibility.Visibility.can_read needs."""
        return {"kind": self.kind, "owner": self.owner, "restricted": self.restricted}


_NEAREST_FIRST = attrgetter("distance", "ref")   # a C-level sort key: thousands of steps per walk


@dataclass(frozen=True)
class Walk:
    """The answer of `walk()`: `steps` nearest first (then by ref), at most `cap` of them."""

    root: dict           # {ref, kind, name, namespace, title, owner, system, unresolved}
    steps: list[Step]
    cap: int
    capped: bool         # more nodes lie within max_depth than the cap: counts are lower bounds
    beyond: bool         # nodes lie at max_depth + 1 (asked with look_beyond; False when capped: unknown)
    probed: tuple[str, ...] = ()   # refs read past `steps` (the level probed beyond, the node past the cap)


_QUERY = """
MATCH (root:Entity {ref: $ref})
CALL (root) {
  CALL apoc.path.spanningTree(root, {
      relationshipFilter: %(relationships)s, labelFilter: $labels,
      minLevel: 1, maxLevel: $max_level, bfs: true, limit: $limit
  }) YIELD path
  WITH last(nodes(path)) AS n, last(relationships(path)) AS r, length(path) AS distance,
       nodes(path)[-2].ref AS parent
  RETURN collect([coalesce(n.walk_facts, %(facts)s), distance, parent, type(r), startNode(r) = n]) AS rows
}
RETURN root {.ref, .kind, .name, .namespace, .title, .owner, .system, unresolved: root:Unresolved} AS root, rows
"""


def walk(graph: "Graph", ref: str, relationships: str, *, max_depth: int, labels: str = "",
         root_relationships: dict[str, str] | None = None, cap: int | None = None,
         look_beyond: bool = False) -> Walk:
    """Walk breadth first from `ref` (canonical) along `relationships` up to `max_depth` hops, at most `cap` nodes.

    `relationships` and `labels` are APOC relationship and label filters (`"<DEPENDS_ON|PROVIDES_API>"`,
    `"-System|-Domain"`); `root_relationships` replaces the relationship filter when the root carries one of
    the given labels (e.g. `{"System": ...}`); `cap` defaults to `node_cap()`. With `look_beyond`, one more
    level is probed so `beyond` tells whether the depth bound cut the answer. Raises EntityNotFound for an
    unknown ref. Visibility is the caller's business: the walk goes through every node (a restricted database
    still breaks its dependants) and returns what the caller needs to decide (`Step.access_facts()`).
    """
    cap = node_cap(cap)
    if max_depth < 1:
        raise ValueError("max_depth must be at least 1")
    params: dict = {"ref": ref, "relationships": relationships, "labels": labels,
                    "max_level": max_depth + (1 if look_beyond else 0), "limit": cap + 1}
    filter_expr = "$relationships"
    if root_relationships:
        cases = []
        for i, (label, rels) in enumerate(sorted(root_relationships.items())):
            if label not in ROOT_LABELS:
                raise ValueError(f"unknown root label {label!r}")
            params[f"root_rels{i}"] = rels
            cases.append(f"WHEN root:`{label}` THEN $root_rels{i}")
        filter_expr = "CASE " + " ".join(cases) + " ELSE $relationships END"
    with paused_gc():   # thousands of rows and steps at once: no full collection in the middle of them
        return _walk_answer(graph.read(_QUERY % {"relationships": filter_expr, "facts": WALK_FACTS_CYPHER},
                                       **params), ref, max_depth, cap)


def _walk_answer(records: list, ref: str, max_depth: int, cap: int) -> Walk:
    if not records:
        raise EntityNotFound(f"{ref} is not in the catalog")
    rows = records[0]["rows"]
    # Breadth first: every node within max_depth comes before any node past it, so with fewer than cap + 1
    # nodes inside the bound they are all here, whatever was probed beyond it.
    inside = [r for r in rows if r[1] <= max_depth]
    capped = len(inside) > cap
    # Owners, systems, kinds, relationship types and parents repeat across thousands of rows but arrive as
    # separate strings: one copy of each halves what a walk holds (graph.impact keeps walks per process).
    one = {}
    share = one.setdefault
    # A row is [walk_facts, distance, parent, rel type, outgoing]; walk_facts is [ref, kind, owner, system,
    # flags] with "" for none (graph.write.walk_facts).
    steps = [Step(f[0], share(f[1], f[1]) or None, share(f[2], f[2]) or None, share(f[3], f[3]) or None,
                  "u" in f[4], "r" in f[4], r[1], share(r[2], r[2]), share(r[3], r[3]), r[4])
             for r in inside[:cap] for f in (r[0],)]
    steps.sort(key=_NEAREST_FIRST)
    probed = tuple(r[0][0] for r in itertools.chain(inside[cap:], (r for r in rows if r[1] > max_depth)))
    return Walk(root=dict(records[0]["root"]), steps=steps, cap=cap, capped=capped,
                beyond=not capped and len(inside) < len(rows), probed=probed)


@dataclass(frozen=True)
class Meeting:
    """The answer of `shortest_distance()`."""

    distance: int | None   # the shortest distance, None when no path was found
    cap: int
    capped: bool           # the search stopped at `cap` nodes before the two sides met: a path may still exist


_EXPAND = """
UNWIND $frontier AS ref
MATCH (:Entity {ref: ref})-[r]-(m:Entity)
WHERE type(r) IN $types AND NOT m.ref IN $seen
RETURN DISTINCT m.ref AS ref
LIMIT $limit
"""


def shortest_distance(graph: "Graph", a: str, b: str, types: list[str], *, max_depth: int,
                      cap: int | None = None) -> Meeting:
    """How many hops apart `a` and `b` are along `types` (either direction), at most `max_depth`.

    Why not one breadth-first walk from `a`: in a connected catalog every entity is a few hops from a large
    owner group, so a one-sided walk reaches the cap long before a far end. Two sides that grow level by
    level (the smaller frontier first) meet after visiting far fewer nodes, and the cap still bounds the sum.
    The first level at which the sides meet gives the exact distance, even when that level was cut by the
    cap (no shorter path exists, or the sides would have met a level earlier).
    """
    cap = node_cap(cap)
    if a == b:
        return Meeting(0, cap, False)
    dist: tuple[dict[str, int], dict[str, int]] = ({a: 0}, {b: 0})
    frontier: list[list[str]] = [[a], [b]]
    depth = [0, 0]
    visited = 2
    while depth[0] + depth[1] < max_depth:
        side = 0 if len(frontier[0]) <= len(frontier[1]) else 1
        if not frontier[side]:        # that side's whole component is known: no path
            return Meeting(None, cap, False)
        room = max(cap - visited, 0)
        rows = graph.read(_EXPAND, frontier=frontier[side], types=types, seen=list(dist[side]), limit=room + 1)
        new = [r["ref"] for r in rows]
        capped = len(new) > room
        new = new[:room]
        depth[side] += 1
        for ref in new:
            dist[side][ref] = depth[side]
        visited += len(new)
        frontier[side] = new
        other = dist[1 - side]
        meet = [depth[side] + other[ref] for ref in new if ref in other]
        if meet:
            return Meeting(min(meet), cap, False)
        if capped:
            return Meeting(None, cap, True)
    return Meeting(None, cap, False)
