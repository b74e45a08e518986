"""Catalog benchmark: ingest 10k and 100k synthetic entities, re-ingest unchanged, impact latency vs floor.

    .venv/bin/python -m benchmarks.catalog_bench [--sizes 10000,100000] [--roots 100]
    .venv/bin/python -m benchmarks.catalog_bench --ingest-only [--sizes 10000,100000] [--runs 2]

Starts its own throwaway Neo4j (unless NEO4J_URI is set; then that database is WIPED), prints a table and
writes the figures to benchmarks/out/catalog.json.

`--ingest-only` measures ingest end to end as a user runs it: `trellis ingest DIR --json` in its own process
(start-up, reading, validation, writes, run record), on an empty graph, then again unchanged; each run's
wall time, the CLI's CPU time, the local Neo4j's CPU time (when this benchmark started it) and `uptime`'s
load, to benchmarks/out/ingest.json. The machine's other work shows in the load: compare runs only next
to their load.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from benchmarks.synthetic import generate
from graph.driver import Settings, connect
from graph.impact import impact
from graph.schema import apply_schema
from graph.server import start
from ingest.sync import ingest
from servers.base import free_port
from servers.neo4j import env_for, stop

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


def _load() -> str:
    """The load averages (1, 5, 15 minutes), as `uptime` shows them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process (0 when unknown): the local Neo4j's share of a run."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cli_ingest(catalog: Path, env: dict, neo4j_pid: int | None) -> dict:
    """One `trellis ingest CATALOG --json` in its own process: wall, its CPU, Neo4j's CPU, load, counts."""
    load = _load()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    neo4j_before = _process_cpu(neo4j_pid)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "ingest", str(catalog),
                           "--json"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 2):
        raise RuntimeError(f"trellis ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    out = json.loads(done.stdout)
    return {
        "wall_s": round(wall, 1), "cli_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime
                                                     - before.ru_stime, 1),
        "neo4j_cpu_s": round(_process_cpu(neo4j_pid) - neo4j_before, 1) if neo4j_pid else None,
        "load_before": load, "load_after": _load(),
        **{k: out[k] for k in ("added", "updated", "unchanged", "removed", "files", "reused_files")},
        "rejected": len(out["rejected"]), "conflicts": len(out["conflicts"]),
    }


def bench_ingest_cli(graph, n: int, workdir: Path, env: dict, neo4j_pid: int | None, runs: int) -> list[dict]:
    """`runs` times: empty graph and parse cache, `trellis ingest`, then `trellis ingest` unchanged."""
    catalog = workdir / f"catalog-{n}"
    if not catalog.exists():
        generate(catalog, n, seed=42)
    rows = []
    for _ in range(runs):
        wipe(graph)
        shutil.rmtree(env["TRELLIS_CACHE"], ignore_errors=True)
        time.sleep(2)   # let the deletes settle before timing
        fresh = cli_ingest(catalog, env, neo4j_pid)
        assert fresh["added"] >= n * 0.95, fresh
        again = cli_ingest(catalog, env, neo4j_pid)
        assert again["added"] == again["updated"] == again["removed"] == 0, again
        for kind, row in (("fresh", fresh), ("unchanged", again)):
            row = {"entities": n, "run": kind, **row}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


@contextmanager
def bench_server(*, heap: str, pagecache: str) -> Iterator[tuple[str, int | None]]:
    """(uri, pid): NEO4J_URI's server when set (its pid unknown), otherwise a throwaway local Neo4j, stopped
    and deleted afterwards."""
    if os.environ.get("NEO4J_URI"):
        yield os.environ["NEO4J_URI"], None
        return
    home = Path(tempfile.mkdtemp(prefix="trellis-bench-neo4j-"))
    try:
        info = start(home, bolt_port=free_port(), http_port=free_port(), heap=heap, pagecache=pagecache)
        yield info.uri, info.pid
    finally:
        stop(home)
        shutil.rmtree(home, ignore_errors=True)


def bench_settings(uri: str) -> Settings:
    """How this process connects: the credentials in the environment, or a local server's generated ones."""
    return Settings(uri=uri, user=os.environ.get("NEO4J_USER"), password=os.environ.get("NEO4J_PASSWORD"))


@contextmanager
def bench_session(*, heap: str, pagecache: str) -> Iterator[tuple]:
    """(graph, uri, Neo4j pid, a scratch folder): `bench_server`, connected, the folder deleted afterwards."""
    with bench_server(heap=heap, pagecache=pagecache) as (uri, pid):
        workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
        try:
            with connect(bench_settings(uri)) as graph:
                yield graph, uri, pid, workdir
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def main_ingest_only(args, sizes: list[int]) -> None:
    rows: list[dict] = []
    with bench_session(heap="2g", pagecache="1g") as (graph, uri, neo4j_pid, workdir):
        env = env_for(uri)   # the CLI finds a local server's generated password itself, never in its env
        env["TRELLIS_CACHE"] = str(workdir / "cache")
        # A new database's indexes, and a fresh server's query plans and JIT, before anything is timed.
        apply_schema(graph)
        generate(workdir / "warm-up", 500, seed=1)
        cli_ingest(workdir / "warm-up", env, neo4j_pid)
        for n in sizes:
            rows.extend(bench_ingest_cli(graph, n, workdir, env, neo4j_pid, args.runs))
    OUT.mkdir(exist_ok=True)
    (OUT / "ingest.json").write_text(json.dumps(rows, indent=2))
    print("\nentities  run        wall_s  cli_cpu_s  neo4j_cpu_s  load (1, 5, 15 min) before")
    for r in rows:
        print(f"{r['entities']:>8}  {r['run']:<9}  {r['wall_s']:>6}  {r['cli_cpu_s']:>9}  "
              f"{r['neo4j_cpu_s'] if r['neo4j_cpu_s'] is not None else '-':>11}  {r['load_before']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--roots", type=int, default=100, help="impact roots at the largest size")
    parser.add_argument("--ingest-only", action="store_true",
                        help="only `trellis ingest` end to end (fresh, then unchanged), in its own process")
    parser.add_argument("--runs", type=int, default=2, help="with --ingest-only: fresh + unchanged pairs per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.ingest_only:
        main_ingest_only(args, sizes)
        return

    results = []
    with bench_session(heap="4g", pagecache="2g") as (graph, _uri, _pid, workdir):
        os.environ["TRELLIS_CACHE"] = str(workdir / "cache")
        for n in sizes:
            row = bench_size(graph, n, workdir, args.roots if n == max(sizes) else 0)
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "generator"}), flush=True)
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
