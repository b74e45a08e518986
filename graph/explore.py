"""Graph exploration for the portal: an entity's neighbourhood (the Cytoscape tab) and paths between two.

Why server-side: Backstage's catalog graph walked relations in the browser with one request per entity;
here one query walks the graph breadth-first (APOC spanning tree, nearest nodes first), keeps at most
`max_nodes`, and returns every edge among the kept nodes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from graph.filters import QueryError
from graph.model import RELATION_NAMES, RELATION_TYPES, canonical_kind, kind_label
from graph.visibility import EVERYTHING, Visibility

if TYPE_CHECKING:
    from graph.driver import Graph

MAX_DEPTH = 10
MAX_NODES = 1000
REACH_CAP = 5000          # `total` counts reachable nodes up to this bound
MAX_HOPS = 15
MAX_PATHS = 50

_FORWARD = {fwd.lower(): rel_type for rel_type, (fwd, _inv) in RELATION_NAMES.items()}

_NEIGHBOURHOOD = """
MATCH (root:Entity {ref: $ref})
CALL (root) {
  CALL apoc.path.spanningTree(root, {relationshipFilter: $rel_filter, labelFilter: $label_filter,
                                     minLevel: 1, maxLevel: $depth, bfs: true, limit: $cap}) YIELD path
  WITH last(nodes(path)) AS n, length(path) AS d
  ORDER BY d, n.ref
  RETURN collect([n, d, %(visible)s]) AS walked
}
WITH root, walked, [x IN walked WHERE x[2] | x] AS found
WITH root, size(walked) - size(found) AS hidden, size(found) AS reached, found[0..$keep] AS kept
WITH hidden, reached, [root] + [x IN kept | x[0]] AS nodes, [0] + [x IN kept | x[1]] AS dists
CALL (nodes) {
  UNWIND nodes AS a
  MATCH (a)-[r]->(b) WHERE type(r) IN $types AND b IN nodes
  RETURN collect(DISTINCT [a.ref, type(r), b.ref]) AS edges
}
RETURN hidden, reached, edges,
       [i IN range(0, size(nodes) - 1) | [nodes[i].ref, nodes[i].kind, nodes[i].name, nodes[i].namespace,
        nodes[i].title, nodes[i]:Unresolved, dists[i]]] AS nodes
"""


def neighbourhood(graph: "Graph", ref: str, *, depth: int = 2, kinds: list[str] | None = None,
                  relations: list[str] | None = None, max_nodes: int = 150,
                  visibility: Visibility = EVERYTHING) -> dict:
    """Nodes within `depth` hops of `ref` (both directions), nearest first, plus the edges among them.

    `kinds` (lower-case kind names) limits which nodes are walked to (the root always stays);
    `relations` (forward Backstage names, e.g. ownedBy) limits which relation types are followed.
    Nodes the reader may not read are walked through but not shown; `hidden` counts them.
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
    visible = visibility.predicate("n")
    records = graph.read(
        _NEIGHBOURHOOD % {"visible": visible}, ref=ref, rel_filter="|".join(types), label_filter=label_filter,
        depth=depth, cap=REACH_CAP, keep=max_nodes - 1, types=types, **visibility.params(),
    )
    if not records:
        raise LookupError(f"{ref} is not in the catalog")
    rec = records[0]
    nodes = [
        {"ref": r, "kind": canonical_kind(kind or r.split(":", 1)[0]), "name": name, "namespace": ns,
         "title": title, "unresolved": unresolved, "distance": d}
        for r, kind, name, ns, title, unresolved, d in rec["nodes"]
    ]
    edges = sorted(
        ({"source": s, "target": t, "type": RELATION_NAMES[rel][0]} for s, rel, t in rec["edges"]),
        key=lambda e: (e["source"], e["type"], e["target"]),
    )
    return {
        "root": ref, "nodes": nodes, "edges": edges,
        "cut_off": rec["reached"] > max_nodes - 1,
        "total": rec["reached"] + 1,
        "hidden": rec["hidden"],
    }


def find_paths(graph: "Graph", from_ref: str, to_ref: str, *, max_hops: int = 10, limit: int = 5,
               visibility: Visibility = EVERYTHING) -> dict:
    """Shortest paths between two entities along any catalog relation, in either direction.

    Paths through an entity the reader may not read are withheld and counted (`hidden_paths`)."""
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
    answer = {"from": from_ref, "to": to_ref, "paths": [], "hidden_paths": 0}
    if from_ref == to_ref:
        answer["paths"] = [{"length": 0, "nodes": [from_ref], "hops": []}]
        return answer
    # Path bounds cannot be parameters in Cypher; max_hops is a range-checked int and the types come
    # from the fixed list, so formatting them in is safe.
    rel = "|".join(RELATION_TYPES)
    records = graph.read(
        "MATCH (a:Entity {ref: $a}) MATCH (b:Entity {ref: $b}) "
        f"MATCH p = allShortestPaths((a)-[:{rel}*..{int(max_hops)}]-(b)) "
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
