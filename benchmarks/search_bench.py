"""Search benchmark: 100k synthetic entities, 1,000 queries of realistic shape, per engine.

    .venv/bin/python -m benchmarks.search_bench [--entities 100000] [--queries 1000] [--engines neo4j,opensearch]

Query mix (deterministic for a seed): full names (30%), partial names (20%: a name's first words or a cut-off
prefix), one-typo names (20%: one deletion, insertion, substitution or transposition in a letter word),
tags (15%), owner (team) names (15%). Every query is one real search call: the page of 20, the honest total
and the facet counts (the API's default), with an ordinary reader's visibility (restricted entities hidden)
so the permission predicate is in every query. Reports p50/p95/max latency per engine and per query shape,
and the quality figures: exact name at rank 1 (target 100%), one-typo name in the top 3 (target >= 95%).

Starts its own throwaway Neo4j (unless NEO4J_URI is set; then that database is WIPED) and, for the
opensearch engine, a local OpenSearch 2.19 node; writes benchmarks/out/search.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import string
import tempfile
import time
from pathlib import Path

from benchmarks.synthetic import generate
from graph.driver import Settings, connect
from graph.search import SearchQuery
from graph.visibility import Visibility
from ingest.sync import ingest

OUT = Path(__file__).resolve().parent / "out"
READER = Visibility(claims=frozenset({"user:default/bench-reader", "group:default/bench-team"}))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def typo(name: str, rng: random.Random) -> str | None:
    """`name` with one edit inside one of its letter words (4+ letters): a real one-letter typo."""
    words = [m for m in re.finditer(r"[a-z]{4,}", name)]
    if not words:
        return None
    m = rng.choice(words)
    w = m.group()
    i = rng.randrange(1, len(w) - 1)
    op = rng.choice(("delete", "insert", "substitute", "transpose"))
    if op == "delete":
        new = w[:i] + w[i + 1:]
    elif op == "insert":
        new = w[:i] + rng.choice(string.ascii_lowercase) + w[i:]
    elif op == "substitute":
        new = w[:i] + rng.choice([c for c in string.ascii_lowercase if c != w[i]]) + w[i + 1:]
    else:
        new = w[:i - 1] + w[i] + w[i - 1] + w[i + 1:] if w[i] != w[i - 1] else w[:i] + w[i + 1:]
    return name[:m.start()] + new + name[m.end():]


def make_queries(graph, n: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    rows = [dict(r) for r in graph.read(
        "MATCH (n:Entity) WHERE NOT n:Unresolved AND NOT coalesce(n.restricted, false) "
        "RETURN n.ref AS ref, n.name AS name, n.kind AS kind, coalesce(n.tags, []) AS tags")]
    names = [r for r in rows if r["kind"] in ("Component", "API", "Resource", "System", "Group", "User")]
    tags = sorted({t for r in rows for t in r["tags"]})
    teams = [r["name"] for r in rows if r["kind"] == "Group" and r["name"].startswith("team-")]
    shapes = [("full", 0.30), ("partial", 0.20), ("typo", 0.20), ("tag", 0.15), ("owner", 0.15)]
    queries: list[dict] = []
    for shape, share in shapes:
        count = int(n * share)
        while count:
            if shape == "full":
                r = rng.choice(names)
                queries.append({"shape": shape, "q": r["name"], "expect": r["ref"], "name": r["name"]})
            elif shape == "partial":
                r = rng.choice(names)
                parts = r["name"].split("-")
                q = "-".join(parts[:max(1, len(parts) - 1)]) if len(parts) > 1 else r["name"][:max(3, len(r["name"]) - 2)]
                queries.append({"shape": shape, "q": q, "expect": None})
            elif shape == "typo":
                r = rng.choice(names)
                q = typo(r["name"], rng)
                if q is None or q == r["name"]:
                    continue
                queries.append({"shape": shape, "q": q, "expect": r["ref"], "name": r["name"]})
            elif shape == "tag":
                queries.append({"shape": shape, "q": rng.choice(tags), "expect": None})
            else:
                queries.append({"shape": shape, "q": rng.choice(teams), "expect": None})
            count -= 1
    rng.shuffle(queries)
    return queries


def run_engine(engine, queries: list[dict], warmup: int = 100) -> dict:
    for q in queries[:warmup]:
        engine.search(SearchQuery(q["q"]), READER)
    timings: dict[str, list[float]] = {}
    exact_hits = exact_total = typo_hits = typo_total = 0
    misses: list[dict] = []
    for q in queries:
        t0 = time.perf_counter()
        result = engine.search(SearchQuery(q["q"]), READER)
        ms = (time.perf_counter() - t0) * 1000
        timings.setdefault(q["shape"], []).append(ms)
        top = result.hits
        if q["shape"] == "full":
            exact_total += 1
            if top and top[0].name == q["name"]:
                exact_hits += 1
            else:
                misses.append({"q": q["q"], "got": [h.ref for h in top[:3]]})
        elif q["shape"] == "typo":
            typo_total += 1
            if q["expect"] in [h.ref for h in top[:3]]:
                typo_hits += 1
            else:
                misses.append({"q": q["q"], "want": q["expect"], "got": [h.ref for h in top[:3]]})
    every = [t for ts in timings.values() for t in ts]
    return {
        "queries": len(every),
        "p50_ms": round(statistics.median(every), 2), "p95_ms": round(pct(every, 95), 2),
        "max_ms": round(max(every), 2),
        "by_shape": {shape: {"n": len(ts), "p50_ms": round(statistics.median(ts), 2),
                             "p95_ms": round(pct(ts, 95), 2)} for shape, ts in sorted(timings.items())},
        "exact_name_at_rank_1": round(100 * exact_hits / max(1, exact_total), 1),
        "one_typo_in_top_3": round(100 * typo_hits / max(1, typo_total), 1),
        "misses_sample": misses[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--engines", default="neo4j,opensearch")
    parser.add_argument("--reuse", action="store_true",
                        help="with NEO4J_URI: keep a catalog already loaded by an earlier run (no wipe, no ingest)")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    server_home = None
    if not os.environ.get("NEO4J_URI"):
        from graph.server import start
        from servers.base import free_port

        server_home = Path(tempfile.mkdtemp(prefix="trellis-bench-neo4j-"))
        uri = start(server_home, bolt_port=free_port(), http_port=free_port(), heap="3g", pagecache="1g").uri
    else:
        uri = os.environ["NEO4J_URI"]
    workdir = Path(tempfile.mkdtemp(prefix="trellis-search-bench-"))
    os.environ["TRELLIS_CACHE"] = str(workdir / "cache")
    os_node = None
    report: dict = {"entities": None, "engines": {}}
    try:
        with connect(Settings(uri=uri, user=os.environ.get("NEO4J_USER"),
                              password=os.environ.get("NEO4J_PASSWORD"))) as graph:
            loaded = graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN count(n) AS c")[0]["c"]
            if args.reuse and os.environ.get("NEO4J_URI") and loaded >= args.entities * 0.9:
                report["entities"], report["ingest_s"] = loaded, None
            else:
                while graph.write("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n").counters.nodes_deleted:
                    pass
                catalog = workdir / "catalog"
                generate(catalog, args.entities, seed=42)
                t0 = time.perf_counter()
                result = ingest(graph, str(catalog))
                report["entities"] = result.added
                report["ingest_s"] = round(time.perf_counter() - t0, 1)
            graph.write("CALL db.awaitIndexes(300)")
            queries = make_queries(graph, args.queries)
            print(f"{report['entities']} entities (ingest {report['ingest_s']} s); {len(queries)} queries; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
            report["load_average_1m"] = round(os.getloadavg()[0], 1)
            for name in engines:
                if name == "neo4j":
                    from graph.search import Neo4jSearch

                    engine = Neo4jSearch(graph)
                elif name == "opensearch":
                    from plugins.builtin.opensearch import make_engine
                    from servers.opensearch import start as start_opensearch

                    os_node = start_opensearch(workdir / "opensearch", heap="1g")
                    engine = make_engine(graph, "opensearch", url=os_node.url, index="trellis-bench")
                    built = engine.rebuild()
                    report.setdefault("opensearch_rebuild", built)
                    print(f"opensearch index rebuilt: {built}", flush=True)
                else:
                    raise SystemExit(f"unknown engine {name}")
                figures = run_engine(engine, queries)
                report["engines"][name] = figures
                print(json.dumps({name: {k: v for k, v in figures.items() if k != "misses_sample"}}), flush=True)
    finally:
        if os_node:
            os_node.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if server_home:
            from servers.neo4j import stop

            stop(server_home)
            shutil.rmtree(server_home, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "search.json").write_text(json.dumps(report, indent=2))
    print("\nengine      p50_ms  p95_ms  max_ms  exact@1  typo@3")
    for name, f in report["engines"].items():
        print(f"{name:<10} {f['p50_ms']:>7} {f['p95_ms']:>7} {f['max_ms']:>7} {f['exact_name_at_rank_1']:>7}% "
              f"{f['one_typo_in_top_3']:>6}%")


if __name__ == "__main__":
    main()
