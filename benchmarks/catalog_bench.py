"""Catalog benchmark: ingest 10k and 100k synthetic entities, re-ingest unchanged, impact latency vs floor.

    .venv/bin/python -m benchmarks.catalog_bench [--sizes 10000,100000] [--roots 100]

Starts its own throwaway Neo4j (unless NEO4J_URI is set; then that database is WIPED), prints a table and
writes the figures to benchmarks/out/catalog.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.synthetic import generate
from graph.driver import Settings, connect
from graph.impact import impact
from ingest.sync import ingest

OUT = Path(__file__).resolve().parent / "out"

# The floor: the same walk as graph.impact, written by hand as one query returning only refs and distances.
FLOOR_QUERY = """
MATCH (root:Entity {ref: $ref})
CALL apoc.path.spanningTree(root, {relationshipFilter: '<DEPENDS_ON|<CONSUMES_API|PROVIDES_API>|PART_OF>',
     labelFilter: '-System|-Domain', minLevel: 1, maxLevel: 10, bfs: true}) YIELD path
RETURN last(nodes(path)).ref AS ref, length(path) AS distance
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wipe(graph) -> None:
    while graph.write("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n").counters.nodes_deleted:
        pass


def bench_size(graph, n: int, workdir: Path, roots: int) -> dict:
    wipe(graph)
    catalog = workdir / f"catalog-{n}"
    t0 = time.perf_counter()
    summary = generate(catalog, n, seed=42)
    gen_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    first = ingest(graph, str(catalog))
    ingest_s = time.perf_counter() - t0
    relations = graph.read("MATCH ()-[r]->() RETURN count(r) AS c")[0]["c"]
    t0 = time.perf_counter()
    again = ingest(graph, str(catalog))
    reingest_s = time.perf_counter() - t0
    assert again.added == again.updated == again.removed == 0, again.as_json()
    # The same without the parse cache: every file read, parsed, validated and compared again.
    shutil.rmtree(os.environ["TRELLIS_CACHE"], ignore_errors=True)
    t0 = time.perf_counter()
    cold = ingest(graph, str(catalog))
    reingest_cold_s = time.perf_counter() - t0
    assert cold.added == cold.updated == cold.removed == 0 and cold.reused_files == 0, cold.as_json()

    row = {
        "entities": first.added, "relations": relations, "generated_s": round(gen_s, 1),
        "ingest_s": round(ingest_s, 1), "entities_per_s": round(first.added / ingest_s),
        "reingest_unchanged_s": round(reingest_s, 1), "reused_files": again.reused_files,
        "reingest_unchanged_nocache_s": round(reingest_cold_s, 1), "rejected": len(first.rejected),
        "generator": summary,
    }
    if roots:
        row.update(bench_impact(graph, roots))
    return row


def bench_impact(graph, roots: int) -> dict:
    refs = [r["ref"] for r in graph.read(
        "MATCH (n:Entity) WHERE n.kind IN ['Resource', 'Component', 'API'] AND NOT n:Unresolved RETURN n.ref AS ref"
    )]
    sample = random.Random(7).sample(refs, min(roots, len(refs)))
    for ref in sample[:10]:   # warm the page cache and query plans
        impact(graph, ref, 10)
        graph.read(FLOOR_QUERY, ref=ref)
    ours, floor, sizes = [], [], []
    for ref in sample:
        t0 = time.perf_counter()
        answer = impact(graph, ref, 10)
        ours.append((time.perf_counter() - t0) * 1000)
        sizes.append(answer["count"])
        t0 = time.perf_counter()
        graph.read(FLOOR_QUERY, ref=ref)
        floor.append((time.perf_counter() - t0) * 1000)
    return {
        "impact_roots": len(sample),
        "impact_p50_ms": round(statistics.median(ours), 2), "impact_p95_ms": round(pct(ours, 95), 2),
        "floor_p50_ms": round(statistics.median(floor), 2), "floor_p95_ms": round(pct(floor, 95), 2),
        "ratio_p95": round(pct(ours, 95) / pct(floor, 95), 2),
        "blast_radius_median": statistics.median(sizes), "blast_radius_max": max(sizes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--roots", type=int, default=100, help="impact roots at the largest size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    server_home = None
    if not os.environ.get("NEO4J_URI"):
        from graph.server import start
        from servers.base import free_port

        server_home = Path(tempfile.mkdtemp(prefix="trellis-bench-neo4j-"))
        info = start(server_home, bolt_port=free_port(), http_port=free_port(), heap="4g", pagecache="2g")
        uri = info.uri
    else:
        uri = os.environ["NEO4J_URI"]
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
    os.environ["TRELLIS_CACHE"] = str(workdir / "cache")
    results = []
    try:
        with connect(Settings(uri=uri, user=os.environ.get("NEO4J_USER"),
                              password=os.environ.get("NEO4J_PASSWORD"))) as graph:
            for n in sizes:
                row = bench_size(graph, n, workdir, args.roots if n == max(sizes) else 0)
                results.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "generator"}), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if server_home:
            from servers.neo4j import stop

            stop(server_home)
            shutil.rmtree(server_home, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "catalog.json").write_text(json.dumps(results, indent=2))
    print("\nentities  relations  ingest_s  per_s  reingest_s (no cache)  impact_p50/p95_ms  floor_p50/p95_ms  ratio")
    for r in results:
        imp = f"{r.get('impact_p50_ms', '-')}/{r.get('impact_p95_ms', '-')}"
        flo = f"{r.get('floor_p50_ms', '-')}/{r.get('floor_p95_ms', '-')}"
        print(f"{r['entities']:>8}  {r['relations']:>9}  {r['ingest_s']:>8}  {r['entities_per_s']:>5}  "
              f"{r['reingest_unchanged_s']:>10} ({r['reingest_unchanged_nocache_s']:>5})  {imp:>17}  {flo:>16}  {r.get('ratio_p95', '-')}")


if __name__ == "__main__":
    main()
