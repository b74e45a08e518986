"""Read-path benchmark: entity by ref, filtered list pages, facets, neighbourhood and paths at N entities.

    .venv/bin/python -m benchmarks.queries_bench [--entities 100000] [--reuse] [--repeat 300]

Uses NEO4J_URI when set (that database is WIPED and loaded, unless --reuse keeps what is there), otherwise a
throwaway local server. Timings go through graph.catalog (driver included, no HTTP). "cold" figures clear the
per-version caches before every call (totals and facets computed from the graph each time); "warm" is the
steady state between two ingests. Prints a table and writes benchmarks/out/queries.json.
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
from graph import catalog, versioned
from graph.impact import dependencies, impact
from graph.ownership import ownership_report
from graph.visibility import Visibility

OUT = Path(__file__).resolve().parent / "out"


def timed(fn: Callable[[], object], repeat: int, *, cold: bool = False) -> dict:
    fn()   # warm the driver/plan cache
    samples = []
    for _ in range(repeat):
        if cold:
            versioned.clear()
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(samples), 2), "p95_ms": round(pct(samples, 95), 2),
            "max_ms": round(max(samples), 2)}


def run(graph, repeat: int) -> dict:
    rng = random.Random(7)
    refs = [r["ref"] for r in graph.read(
        "MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref ORDER BY rand() LIMIT 2000")]
    owner = graph.read("MATCH (n:Component) RETURN n.owner AS o LIMIT 1")[0]["o"]
    comp = next(r for r in refs if r.startswith("component:"))
    far = next(r for r in reversed(refs) if r.startswith("resource:"))
    it = iter(refs * 10)
    out: dict = {"entities": graph.read("MATCH (n:Entity) RETURN count(n) AS c")[0]["c"]}
    out["get_entity"] = timed(lambda: catalog.get_entity(graph, next(it)), repeat)
    out["by_refs_20"] = timed(lambda: catalog.get_entities_by_refs(graph, rng.sample(refs, 20)), repeat // 3)

    cases = {
        "kind=component": [[("kind", "component")]],
        "kind=component,spec.lifecycle=production": [[("kind", "component"), ("spec.lifecycle", "production")]],
        f"spec.owner={owner}": [[("spec.owner", owner)]],
        f"relations.ownedby={owner}": [[("relations.ownedby", owner)]],
        "metadata.tags=java": [[("metadata.tags", "java")]],
        "kind=api OR kind=resource": [[("kind", "api")], [("kind", "resource")]],
    }
    for name, filters in cases.items():
        first = catalog.query_entities(graph, filters=filters, limit=50)
        out[f"list50 {name} (first page)"] = {
            "warm": timed(lambda f=filters: catalog.query_entities(graph, filters=f, limit=50), repeat),
            "cold": timed(lambda f=filters: catalog.query_entities(graph, filters=f, limit=50), repeat // 5,
                          cold=True),
            "totalItems": first["totalItems"],
        }
        # a page deep into the list (10 pages in), through cursors
        cursor = first["pageInfo"]["nextCursor"]
        for _ in range(9):
            if not cursor:
                break
            cursor = catalog.query_entities(graph, cursor=cursor)["pageInfo"]["nextCursor"] or cursor
        out[f"list50 {name} (page 11)"] = {"warm": timed(
            lambda c=cursor: catalog.query_entities(graph, cursor=c), repeat)}
    out["list50 kind=component order by metadata.title desc"] = {"warm": timed(
        lambda: catalog.query_entities(graph, filters=[[("kind", "component")]], order_field="metadata.title",
                                       order="desc", limit=50), repeat // 3)}
    out["list50 text 'billing'"] = {"warm": timed(
        lambda: catalog.query_entities(graph, text="billing", limit=50), repeat // 5)}

    for facet in ("spec.type", "kind", "metadata.tags", "spec.owner"):
        out[f"facets {facet}"] = {
            "warm": timed(lambda f=facet: catalog.entity_facets(graph, [f]), repeat),
            "cold": timed(lambda f=facet: catalog.entity_facets(graph, [f]), 10, cold=True),
        }
    out["facets spec.type with kind=component"] = {
        "warm": timed(lambda: catalog.entity_facets(graph, ["spec.type"], [[("kind", "component")]]), repeat),
        "cold": timed(lambda: catalog.entity_facets(graph, ["spec.type"], [[("kind", "component")]]), 10, cold=True),
    }
    out["neighbourhood depth 2 (component)"] = timed(lambda: catalog.neighbourhood(graph, comp, depth=2), 50)
    out["neighbourhood depth 2 (group owner)"] = timed(lambda: catalog.neighbourhood(graph, owner, depth=2), 50)
    out["paths component -> resource"] = timed(lambda: catalog.find_paths(graph, comp, far), 30)

    # An ordinary reader (a viewer with one team's claims): the visibility predicate is part of every query,
    # including the far end of relation filters and relation facets.
    viewer = Visibility(claims=frozenset({owner}))
    for name, filters in (("kind=component", [[("kind", "component")]]),
                          (f"relations.ownedby={owner}", [[("relations.ownedby", owner)]]),
                          ("kind=group,relations.ownerof", [[("kind", "group"), ("relations.ownerof", None)]])):
        out[f"viewer list50 {name} (first page)"] = {
            "warm": timed(lambda f=filters: catalog.query_entities(graph, filters=f, limit=50, visibility=viewer),
                          repeat),
            "cold": timed(lambda f=filters: catalog.query_entities(graph, filters=f, limit=50, visibility=viewer),
                          repeat // 5, cold=True),
        }
    for facet in ("relations.ownedby", "relations.ownerof", "relations.dependencyof"):
        out[f"viewer facets {facet}"] = {"cold": timed(
            lambda f=facet: catalog.entity_facets(graph, [f], visibility=viewer), 10, cold=True)}
    out["viewer ownership report"] = timed(lambda: ownership_report(graph, None, viewer), 5)

    # Walks (graph.walk under impact/dependencies): 50 roots at depth 10, as an ordinary reader.
    roots = [r for r in refs if r.split(":", 1)[0] in ("resource", "component", "api")][:50]
    for name, fn in (("impact", impact), ("dependencies", dependencies)):
        sizes: list[int] = []
        it_roots = iter(roots * 20)
        out[f"{name} depth 10 (50 roots)"] = timed(
            lambda fn=fn: sizes.append(fn(graph, next(it_roots), 10, viewer)["count"]), 49)
        out[f"{name} depth 10 (50 roots)"]["largest"] = max(sizes)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--reuse", action="store_true", help="measure the catalog already in NEO4J_URI")
    args = parser.parse_args()
    with catalog_graph("qbench", args.entities, reuse=args.reuse) as graph:
        figures = run(graph, args.repeat)
    OUT.mkdir(exist_ok=True)
    (OUT / "queries.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
