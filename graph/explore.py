"""Graph exploration for the portal: an entity's neighbourhood (the Cytoscape tab) and paths between two.

Why server-side: Backstage's catalog graph walked relations in the browser with one request per entity;
here the shared walk (graph.walk, bounded by its node cap) goes breadth-first, nearest nodes first, the
readable ones up to `max_nodes` are kept, and one more query returns every edge among them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from graph.filters import QueryError
from graph.model import RELATION_NAMES, RELATION_TYPES, canonical_kind, kind_label
from graph.visibility import EVERYTHING, Visibility
from graph.walk import node_cap, shortest_distance, walk

if TYPE_CHECKING:
    from graph.driver import Graph

MAX_DEPTH = 10
MAX_NODES = 1000
MAX_HOPS = 15
MAX_PATHS = 50

_FORWARD = {fwd.lower(): rel_type for rel_type, (fwd, _inv) in RELATION_NAMES.items()}

_NAMES = """
MATCH (n:Entity) WHERE n.ref IN $refs
RETURN n.ref AS ref, n.name AS name, n.namespace AS namespace, n.title AS title
"""
_EDGES = """
MATCH (a:Entity) WHERE a.ref IN $refs
MATCH (a)-[r]->(b:Entity) WHERE type(r) IN $types AND b.ref IN $refs
RETURN DISTINCT a.ref AS source, type(r) AS type, b.ref AS target
"""


def neighbourhood(graph: "Graph", ref: str, *, depth: int = 2, kinds: list[str] | None = None,
                  relations: list[str] | None = None, max_nodes: int = 150,
                  visibility: Visibility = EVERYTHING, cap: int | None = None) -> dict:
    """Nodes within `depth` hops of `ref` (both directions), nearest first, plus the edges among them.

    `kinds` (lower-case kind names) limits which nodes are walked to (the root always stays);
    `relations` (forward Backstage names, e.g. ownedBy) limits which relation types are followed.
    Nodes the reader may not read are walked through but not shown; `hidden` counts them. `total` counts the
    readable nodes reached (root included); with `capped` the walk stopped at `cap` nodes and it is a lower
    bound.
    """
    if not 1 <= depth <= MAX_DEPTH:
        raise QueryError(f"depth must be between 1 and {MAX_DEPTH}")
    if not 1 <= max_nodes <= MAX_NODES:
        raise QueryError(f"max_nodes must be between 1 and {MAX_NODES}")
    types = list(RELATION_TYPES)
    if relations:
        unknown = [r for r in relations if r.lower() not in _FORWARD]
        if unknown:
            raise QueryError(f"unknown relation {unknown[0]!r}; one of: "
                             + ", ".join(fwd for fwd, _ in RELATION_NAMES.values()))
        types = sorted({_FORWARD[r.lower()] for r in relations})
    label_filter = "|".join("+" + kind_label(k) for k in sorted(set(kinds or [])) if k.strip())
    walked = walk(graph, ref, "|".join(types), max_depth=depth, labels=label_filter, cap=cap)
    found = [s for s in walked.steps if visibility.can_read(s.access_facts())]
    kept = found[: max_nodes - 1]

    names = {r["ref"]: r for r in graph.read(_NAMES, refs=[s.ref for s in kept])} if kept else {}

    def node(r: dict, distance: int) -> dict:
        named = names.get(r["ref"], r)
        return {"ref": r["ref"], "kind": canonical_kind(r["kind"] or r["ref"].split(":", 1)[0]),
                "name": named["name"], "namespace": named["namespace"], "title": named["title"],
                "unresolved": r["unresolved"], "distance": distance}

    nodes = [node(walked.root, 0)] + [node(s._asdict(), s.distance) for s in kept]
    rows = graph.read(_EDGES, refs=[n["ref"] for n in nodes], types=types)
    edges = sorted(
        ({"source": r["source"], "target": r["target"], "type": RELATION_NAMES[r["type"]][0]} for r in rows),
        key=lambda e: (e["source"], e["type"], e["target"]),
    )
    return {
        "root": ref, "nodes": nodes, "edges": edges,
        "cut_off": len(found) > len(kept) or walked.capped,
        "total": len(found) + 1,
        "hidden": len(walked.steps) - len(found),
        "capped": walked.capped,
        "cap": walked.cap,
    }


def find_paths(graph: "Graph", from_ref: str, to_ref: str, *, max_hops: int = 10, limit: int = 5,
               visibility: Visibility = EVERYTHING, cap: int | None = None) -> dict:
    """Shortest paths between two entities along any catalog relation, in either direction.

    Paths through an entity the reader may not read are withheld and counted (`hidden_paths`).
    How far apart they are is found first within the shared node cap (graph.walk.shortest_distance, a search
    from both ends); only then are the shortest paths of exactly that length listed. With `capped` the search
    stopped at its cap before the ends met: "no path" then means "none found within the cap", not "none"."""
    if not 1 <= max_hops <= MAX_HOPS:
        raise QueryError(f"max_hops must be between 1 and {MAX_HOPS}")
    if not 1 <= limit <= MAX_PATHS:
        raise QueryError(f"limit must be between 1 and {MAX_PATHS}")
    found = {r["ref"] for r in graph.read(
        f"MATCH (n:Entity) WHERE n.ref IN $refs AND {visibility.predicate('n')} RETURN n.ref AS ref",
        refs=[from_ref, to_ref], **visibility.params())}
    for ref in (from_ref, to_ref):
        if ref not in found:
            raise LookupError(f"{ref} is not in the catalog")
    answer = {"from": from_ref, "to": to_ref, "paths": [], "hidden_paths": 0, "capped": False,
              "cap": node_cap(cap)}
    if from_ref == to_ref:
        answer["paths"] = [{"length": 0, "nodes": [from_ref], "hops": []}]
        return answer
    rel = "|".join(RELATION_TYPES)
    # The distance first, from both ends within the cap; without one the answer is empty, and exact unless
    # the search was capped.
    met = shortest_distance(graph, from_ref, to_ref, list(RELATION_TYPES), max_depth=max_hops, cap=cap)
    reached = met.distance
    if reached is None:
        answer["capped"] = met.capped
        return answer
    # Path bounds cannot be parameters in Cypher; the distance is an int the walk measured and the types
    # come from the fixed list, so formatting them in is safe.
    records = graph.read(
        "MATCH (a:Entity {ref: $a}) MATCH (b:Entity {ref: $b}) "
        f"MATCH p = allShortestPaths((a)-[:{rel}*..{int(reached)}]-(b)) "
        "WITH p LIMIT $limit "
        f"RETURN all(n IN nodes(p) WHERE {visibility.predicate('n')}) AS visible, "
        "[x IN nodes(p) | x.ref] AS refs, "
        "[r IN relationships(p) | [startNode(r).ref, type(r), endNode(r).ref]] AS rels",
        a=from_ref, b=to_ref, limit=limit, **visibility.params(),
    )
    answer["hidden_paths"] = sum(1 for r in records if not r["visible"])
    records = [r for r in records if r["visible"]]
    paths = [{
        "length": len(r["rels"]), "nodes": r["refs"],
        "hops": [{"from": s, "relation": RELATION_NAMES[t][0], "to": e} for s, t, e in r["rels"]],
    } for r in records]
    answer["paths"] = sorted(paths, key=lambda p: p["nodes"])
    return answer
