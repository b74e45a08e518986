"""Graph walks at 100k entities under the shared node cap (graph/walk.py), next to the uncapped walk main had.

    .venv/bin/python -m benchmarks.walk_bench [--entities 100000] [--reuse] [--repeat 30]

Loads the synthetic catalog plus two hubs: `resource:default/hub-db`, which 6,000 components depend on (the
6,000-entity blast radius the default cap must answer exactly), and `resource:default/mega-db`, which those
6,000 and 6,000 more depend on (12,000: over the default cap of 10,000, so the answer is cut and says so).
Times impact() as a viewer at depth 10 for both hubs and for 50 random roots, the neighbourhood of a team
at depth 4 and a path search; and, query against query, the impact walk through graph.walk ("after") next to
the query main ran before the cap ("before": no node limit). Uses NEO4J_URI when set (that database is WIPED unless --reuse), otherwise a
throwaway local server. Writes benchmarks/out/walks.json.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Callable

from benchmarks.catalog_db import catalog_graph, pct
from graph import catalog
from graph.impact import NOT_PROPAGATING, WALKS, impact
from graph.visibility import Visibility
from graph.walk import node_cap, walk

OUT = Path(__file__).resolve().parent / "out"
SIX = 6_000

# The walk main ran for impact before graph/walk.py (no `limit`: it visits everything within the depth).
UNCAPPED = """
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


def _hubs(folder: Path) -> None:
    head = "apiVersion: backstage.io/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec: {spec}"
    docs = [head.format(kind="Resource", name=n, spec="{type: database, owner: bench-hub}")
            for n in ("hub-db", "mega-db")]
    for i in range(SIX):
        docs.append(head.format(kind="Component", name=f"six-{i:04d}", spec="{type: service, lifecycle: production, "
                                "owner: bench-hub, dependsOn: [resource:hub-db, resource:mega-db]}"))
        docs.append(head.format(kind="Component", name=f"more-{i:04d}", spec="{type: service, lifecycle: production, "
                                "owner: bench-hub, dependsOn: [resource:mega-db]}"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog-info.yaml").write_text("\n---\n".join(docs) + "\n")


def timed(fn: Callable[[], object], repeat: int) -> dict:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(pct(samples, 95), 1),
            "max_ms": round(max(samples), 1)}


def _uncapped(graph, ref: str) -> int:
    rels = WALKS["impact"]
    free = "|".join(p for p in rels.split("|") if "PART_OF" not in p)
    rows = graph.read(UNCAPPED, ref=ref, relationships=rels, membership_free=free, labels=NOT_PROPAGATING,
                      max_level=11)[0]["rows"]
    return sum(1 for r in rows if r[5] <= 10)


def _capped(graph, ref: str) -> int:
    rels = WALKS["impact"]
    free = "|".join(p for p in rels.split("|") if "PART_OF" not in p)
    return len(walk(graph, ref, rels, max_depth=10, labels=NOT_PROPAGATING,
                    root_relationships={"System": free, "Domain": free}, look_beyond=True).steps)


def run(graph, repeat: int) -> dict:
    viewer = Visibility(claims=frozenset({"group:default/bench-hub"}))
    rng = random.Random(11)
    roots = [r["ref"] for r in graph.read(
        "MATCH (n:Entity) WHERE (n:Resource OR n:Component OR n:API) AND NOT n:Unresolved "
        "AND NOT n.ref STARTS WITH 'component:default/six-' AND NOT n.ref STARTS WITH 'component:default/more-' "
        "RETURN n.ref AS ref ORDER BY n.ref")]
    roots = rng.sample(roots, 50)
    team = graph.read("MATCH (g:Group) WHERE g.type = 'team' RETURN g.ref AS ref ORDER BY ref LIMIT 1")[0]["ref"]
    out: dict = {"entities": graph.read("MATCH (n:Entity) RETURN count(n) AS c")[0]["c"], "cap": node_cap()}
    for hub in ("resource:default/hub-db", "resource:default/mega-db"):
        answer = impact(graph, hub, 10, viewer)
        out[f"impact {hub} depth 10"] = {
            "impact() as a viewer": timed(lambda h=hub: impact(graph, h, 10, viewer), repeat),
            "count": answer["count"], "capped": answer["capped"],
            "after: graph.walk query": timed(lambda h=hub: _capped(graph, h), repeat),
            "before: uncapped query": timed(lambda h=hub: _uncapped(graph, h), repeat),
            "before count": _uncapped(graph, hub),
        }
    it = iter(roots * (repeat + 2))
    it_old = iter(roots * (repeat + 2))
    it_new = iter(roots * (repeat + 2))
    out["impact 50 random roots depth 10"] = {
        "impact() as a viewer": timed(lambda: impact(graph, next(it), 10, viewer), 49),
        "after: graph.walk query": timed(lambda: _capped(graph, next(it_new)), 49),
        "before: uncapped query": timed(lambda: _uncapped(graph, next(it_old)), 49),
    }
    around = catalog.neighbourhood(graph, team, depth=4, max_nodes=150, visibility=viewer)
    out[f"neighbourhood {team} depth 4"] = {
        "after (capped walk)": timed(lambda: catalog.neighbourhood(graph, team, depth=4, max_nodes=150,
                                                                   visibility=viewer), max(3, repeat // 3)),
        "total": around["total"], "capped": around["capped"]}
    a, b = roots[0], roots[1]
    found = catalog.find_paths(graph, a, b, visibility=viewer)
    out["paths between two random roots"] = {
        "after (capped walk)": timed(lambda: catalog.find_paths(graph, a, b, visibility=viewer), max(3, repeat // 3)),
        "paths": len(found["paths"]), "capped": found["capped"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="measure the catalog already in NEO4J_URI")
    args = parser.parse_args()

    def hubs(workdir: Path) -> list[Path]:
        _hubs(workdir / "hubs")
        return [workdir / "hubs"]

    with catalog_graph("wbench", args.entities, reuse=args.reuse, extra=hubs) as graph:
        figures = run(graph, args.repeat)
    OUT.mkdir(exist_ok=True)
    (OUT / "walks.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
