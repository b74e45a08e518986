"""Blast radius at scale: the summary-and-cursor service (graph.impact.Radius) on a 6,000-entity radius.

    .venv/bin/python -m benchmarks.impact_bench [--entities 100000] [--repeat 40] [--reuse]

Loads the synthetic catalog (benchmarks/synthetic.py, seed 42) plus a denser dependency graph under one
resource, `resource:default/radius-db`: 6,000 components, each depending on its parent in an 8-ary tree and on
one more earlier component (so 2 dependsOn each, several paths, distances 1-5), owned by 40 teams across 20
systems, 5% restricted to their owners. Measured as a viewer who belongs to none of those teams (the 5% are
hidden, counted and masked), at depth 10, under the default walk cap (graph/walk.py):

- the service: `blast_radius(...).page(50)` (walk + summary + first page with paths + cursor), the target is
  p95 <= 50 ms: cold (the first request after an ingest: every process drops its kept walks when the catalog
  version changes, so this is the version read, the walk and the Python) and warm (the walk kept by the
  process: the Impact tab opened again, a cursor's next page, another reader); the walk alone, Neo4j's own
  share of it, the service's Python on a replayed walk, and what one kept walk costs in memory;
- the first request after a real ingest: of an entity outside the radius (the walk kept: graph.impact
  `_untouched`) and of one inside it (walked again);
- the same over the API (`?limit=50`, Flask in process, a viewer's request: gate, visibility, JSON), cold and
  warm;
- the full answer: the streamed JSON, NDJSON and CSV, time and peak Python memory (tracemalloc) next to
  building the whole answer as one dict and serialising it (what the API did before).

Uses NEO4J_URI when set (that database is WIPED unless --reuse), otherwise a throwaway local server. Prints
the machine's load (`uptime`): on a shared machine the figures move with it. Writes benchmarks/out/impact.json.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable

import orjson

from benchmarks.synthetic import generate

OUT = Path(__file__).resolve().parent / "out"
ROOT = "resource:default/radius-db"
SIZE = 6_000
TEAMS = 40


def radius_catalog(folder: Path, size: int = SIZE) -> None:
    """The denser dependency graph: component i depends on component (i-1)//8 (the first 8 on the resource)
    and on one more random earlier component."""
    rng = random.Random(7)
    head = "apiVersion: backstage.io/v1alpha1\nkind: {kind}\nmetadata: {meta}\nspec: {spec}"
    docs = [head.format(kind="Resource", meta="{name: radius-db}", spec="{type: database, owner: radius-team-0}")]
    for i in range(size):
        deps = ["resource:radius-db"] if i < 8 else [f"component:radius-{(i - 8) // 8:04d}"]
        if i >= 16:
            extra = f"component:radius-{rng.randrange(0, i - 8):04d}"
            if extra not in deps:
                deps.append(extra)
        restricted = ", annotations: {trellis.io/restricted: 'true'}" if i % 20 == 7 else ""
        meta = f"{{name: radius-{i:04d}{restricted}}}"
        docs.append(head.format(kind="Component", meta=meta, spec=(
            f"{{type: service, lifecycle: production, owner: radius-team-{i % TEAMS}, "
            f"system: radius-system-{i % 20}, dependsOn: [{', '.join(deps)}]}}")))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog-info.yaml").write_text("\n---\n".join(docs) + "\n")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn: Callable[[], object], repeat: int) -> dict:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(pct(samples, 95), 1),
            "max_ms": round(max(samples), 1), "n": repeat}


def peak(fn: Callable[[], object]) -> dict:
    tracemalloc.start()
    t0 = time.perf_counter()
    size = fn()
    ms = (time.perf_counter() - t0) * 1000
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"ms": round(ms, 1), "peak_python_mb": round(top / 1e6, 1), "bytes": size}


def drain(chunks) -> int:
    """Consume a stream as a WSGI server would: chunk by chunk, nothing kept."""
    return sum(len(c) for c in chunks)


def server_time(graph, rels: str, free: str, repeat: int) -> dict:
    """The walk query's time inside Neo4j (its result_available_after + result_consumed_after), so the rest
    of `walk alone` is Bolt and Python."""
    import neo4j  # noqa: PLC0415 -- only this measure speaks to the driver directly

    from graph import walk as walk_module  # noqa: PLC0415 -- the query text, as graph.walk sends it

    query = walk_module._QUERY % {"relationships": "CASE WHEN root:`Domain` THEN $r0 WHEN root:`System` THEN $r0 "
                                                   "ELSE $relationships END", "facts": walk_module.WALK_FACTS_CYPHER}
    params = {"ref": ROOT, "relationships": rels, "r0": free, "labels": "-System|-Domain", "max_level": 11,
              "limit": walk_module.node_cap() + 1}
    samples = []
    for _ in range(repeat):
        with graph.driver.session(database=graph.database, default_access_mode=neo4j.READ_ACCESS) as session:
            result = session.run(query, params)
            result.single()
            summary = result.consume()
        samples.append(summary.result_available_after + summary.result_consumed_after)
    return {"p50_ms": statistics.median(samples), "p95_ms": pct(samples, 95), "n": repeat}


def after_ingest(graph, viewer, inside: bool, repeat: int) -> dict:
    """`page(50)` right after each of `repeat` ingests of a one-entity location whose owner flips each time:
    `bench-outside` depends on nothing in the radius, `bench-inside` depends on its root. Only the request is
    timed, not the ingest."""
    from graph.impact import blast_radius  # noqa: PLC0415
    from ingest.sync import ingest  # noqa: PLC0415

    name = "bench-inside" if inside else "bench-outside"
    folder = Path(tempfile.gettempdir()) / f"trellis-ibench-{name}"   # one location: the same one every run
    folder.mkdir(exist_ok=True)
    samples = []
    for i in range(repeat + 3):
        deps = f", dependsOn: [{ROOT}]" if inside else ""
        (folder / "catalog-info.yaml").write_text(
            f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\n"
            f"spec: {{type: service, lifecycle: production, owner: radius-team-{i % 2}{deps}}}\n")
        blast_radius(graph, ROOT, 10, viewer).page(50)   # the tab was open before the ingest
        done = ingest(graph, str(folder / "catalog-info.yaml"))
        assert done.ok, done.as_json()
        t0 = time.perf_counter()
        blast_radius(graph, ROOT, 10, viewer).page(50)
        if i >= 3:
            samples.append((time.perf_counter() - t0) * 1000)
    shutil.rmtree(folder, ignore_errors=True)
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(pct(samples, 95), 1),
            "max_ms": round(max(samples), 1), "n": repeat}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        return "?"


def run(graph, uri: str, repeat: int) -> dict:
    from graph import versioned
    from graph.impact import NOT_PROPAGATING, WALK_CACHE_ENV, WALKS, blast_radius, walked
    from graph.visibility import Visibility
    from graph.walk import node_cap, walk

    viewer = Visibility(claims=frozenset({"user:default/someone-else"}))
    radius = blast_radius(graph, ROOT, 10, viewer)
    summary = radius.summary()
    out: dict = {"entities": graph.read("MATCH (n:Entity) RETURN count(n) AS c")[0]["c"], "cap": node_cap(),
                 "radius": summary["count"] + summary["hidden"], "visible": summary["count"],
                 "hidden": summary["hidden"], "capped": summary["capped"],
                 "max_distance": summary["by_distance"][-1]["distance"], "owners": len(summary["by_owner"])}
    rels = WALKS["impact"]
    free = "|".join(p for p in rels.split("|") if "PART_OF" not in p)
    out["walk alone (graph.walk)"] = timed(lambda: walk(
        graph, ROOT, rels, max_depth=10, labels=NOT_PROPAGATING, root_relationships={"System": free, "Domain": free},
        look_beyond=True), repeat)
    out["walk query, Neo4j's own time (available + consumed)"] = server_time(graph, rels, free, repeat)

    # Cold: the first request after an ingest (every process drops its kept walks when the catalog version
    # changes): the version read, the walk, the service's Python. Warm: the walk kept by this process.
    def cold_page(cursor=None):
        versioned.clear()
        return blast_radius(graph, ROOT, 10, viewer).page(50, cursor)

    out["cold: summary + first 50 with paths + cursor (walk read again: an ingest touched it, or a restart)"] = timed(
        cold_page, repeat)
    out["warm: summary + first 50 with paths + cursor (walk kept)"] = timed(
        lambda: blast_radius(graph, ROOT, 10, viewer).page(50), repeat)
    cursor = radius.page(50)["pageInfo"]["nextCursor"]
    out["warm: a later page (cursor)"] = timed(lambda: blast_radius(graph, ROOT, 10, viewer).page(50, cursor), repeat)
    out["cold: a later page (cursor)"] = timed(lambda: cold_page(cursor), repeat)
    # The first request after a real ingest in this process (the version moves at once), as an Impact tab
    # open on the radius would see it: an ingest that changed an entity outside the radius (the walk is kept),
    # and one that changed an entity inside it (walked again).
    out["first request after an ingest outside the radius (walk kept)"] = after_ingest(graph, viewer, False, repeat)
    out["first request after an ingest inside the radius (walked again)"] = after_ingest(graph, viewer, True, repeat)
    # The service's own Python cost on a cold request, on the walk's answer replayed without the database.
    calls: list = []
    real_read = graph.read

    def capture(query, **params):
        calls.append(real_read(query, **params))
        return calls[-1]

    os.environ[WALK_CACHE_ENV] = "0"
    graph.read = capture
    blast_radius(graph, ROOT, 10, viewer)
    graph.read = lambda query, **params: calls[-1]
    try:
        out["cold, Python only: the service on a replayed walk answer"] = timed(
            lambda: blast_radius(graph, ROOT, 10, viewer).page(50), repeat)
    finally:
        del graph.read
        del os.environ[WALK_CACHE_ENV]
    versioned.clear()
    gc.collect()
    tracemalloc.start()
    held = tracemalloc.get_traced_memory()[0]
    kept = walked(graph, ROOT, 10)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - held
    tracemalloc.stop()
    out["memory: one kept walk"] = {"entities": len(kept.steps), "bytes": held,
                                    "bytes_per_entity": round(held / len(kept.steps))}

    from app import create_app
    from servers.neo4j import env_for

    for key, value in env_for(uri).items():
        os.environ[key] = value
    app = create_app({"TRELLIS_ENV": "development", "TRELLIS_GUEST_ROLE": "viewer", "NEO4J_URI": uri})
    client = app.test_client()
    api = "/api/v1/entities/by-name/resource/default/radius-db/impact"

    def get(path: str) -> int:
        response = client.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return len(response.get_data())

    out["API ?limit=50 (in process, a viewer), warm"] = timed(lambda: get(api + "?limit=50"), repeat)

    def cold_get(path: str) -> int:
        versioned.clear()
        return get(path)

    out["API ?limit=50 (in process, a viewer), cold"] = timed(lambda: cold_get(api + "?limit=50"), repeat)
    out["API full answer, streamed JSON"] = timed(lambda: get(api), max(5, repeat // 4))
    out["full answer bytes"] = get(api)
    app.extensions["trellis.graph"].close()

    held = blast_radius(graph, ROOT, 10, viewer)
    out["memory: whole answer as one dict + orjson.dumps (before)"] = peak(
        lambda: len(orjson.dumps(held.answer())))
    out["memory: streamed JSON chunks"] = peak(lambda: drain(held.json_chunks()))
    out["memory: streamed NDJSON"] = peak(lambda: drain(held.ndjson()))
    out["memory: streamed CSV"] = peak(lambda: drain(c.encode() for c in held.csv_chunks()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="measure the catalog already in NEO4J_URI")
    args = parser.parse_args()
    os.environ.setdefault("TRELLIS_CACHE", tempfile.mkdtemp(prefix="trellis-ibench-cache-"))
    from graph.driver import Settings, connect
    from ingest.sync import ingest

    print(f"load before: {uptime()}", flush=True)
    home = None
    if os.environ.get("NEO4J_URI"):
        settings = Settings.from_env()
    else:
        from graph.server import start
        from servers.base import free_port

        home = Path(tempfile.mkdtemp(prefix="trellis-ibench-"))
        settings = Settings(uri=start(home, bolt_port=free_port(), http_port=free_port(), heap="2g",
                                      pagecache="1g").uri)
    graph = connect(settings)
    try:
        if not args.reuse:
            while graph.write("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n").counters.nodes_deleted:
                pass
            workdir = Path(tempfile.mkdtemp(prefix="trellis-ibench-cat-"))
            radius_catalog(workdir / "radius")
            t0 = time.perf_counter()
            if args.entities:   # --entities 0: the radius alone (its Python cost does not depend on the rest)
                generate(workdir / "catalog", args.entities, seed=42)
                ingest(graph, str(workdir / "catalog"))
            ingest(graph, str(workdir / "radius"))
            print(f"ingested {args.entities} + {SIZE + 1} in {time.perf_counter() - t0:.1f}s", flush=True)
            shutil.rmtree(workdir, ignore_errors=True)
        figures = run(graph, settings.uri, args.repeat)
        figures["load after"] = uptime()
    finally:
        graph.close()
        if home is not None:
            from servers.neo4j import stop

            stop(home)
            shutil.rmtree(home, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "impact.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
