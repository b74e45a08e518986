"""The three reads of the Backstage baseline, in its request shapes, with ratios to its 10k figures.

    .venv/bin/python -m benchmarks.reads_bench [--entities 10000] [--clients 16] [--seconds 10] [--no-profile]

Same shapes as shared/reference/backstage-baseline.md: one sequential client on one keep-alive connection,
`GET /api/v1/entities/by-name/component/<ns>/<name>` for 200 random components of the synthetic catalog
(seed 42), `GET /api/v1/entities/by-query?filter=kind=component&limit=50` and
`GET /api/v1/entity-facets?facet=spec.type` (200 each); every request carries a viewer's personal API token
(verified on every request; the visibility predicate applies). Then p95 of each read under `--clients`
concurrent keep-alive clients. gunicorn as `trellis serve` runs it (2 workers x 8 threads).

Then one by-name request is PROFILED end to end, in process (the WSGI app called directly, no socket): its wall
time, the time in each stage (gate and token lookup, roles and claims, visibility, Cypher round trips, the
entity read, serialisation) and cProfile's top functions, so the next engineer can take out what is not the
query. Starts its own throwaway Neo4j and gunicorn; prints tables and writes benchmarks/out/reads.json.
The machine's load (`uptime`) is printed before and after: on a shared machine the figures move with it.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from benchmarks.portal_bench import HEADERS, concurrent, pct, sequential, wait_http
from benchmarks.synthetic import generate

OUT = Path(__file__).resolve().parent / "out"

# Backstage catalog backend 4.0.5, 10k entities, same machine, 2026-12-07 (backstage-baseline.md, "Side by
# side"): p50 / p95 in ms. Targets at 100k from issue 15 (absolute p95).
BACKSTAGE_10K = {"by_name": (1.41, 2.77), "list_50": (11.4, 13.0), "facets": (3.7, 4.4)}
TARGET_100K_P95 = {"by_name": 1.5, "list_50": 10.0, "facets": 3.0}
LIST = "/api/v1/entities/by-query?filter=kind=component&limit=50"
FACETS = "/api/v1/entity-facets?facet=spec.type"


def rss_mib(pid: int) -> float:
    """Resident memory of one process (Linux /proc), MiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        return "?"


def measure(port: int, by_name: list[str], clients: int, seconds: float) -> dict:
    reads = {"by_name": by_name, "list_50": [LIST] * len(by_name), "facets": [FACETS] * len(by_name)}
    out = {}
    for name, paths in reads.items():
        out[name] = {"sequential": sequential(port, paths, warmup=100),
                     "concurrent": concurrent(port, paths, clients, seconds)}
        print(f"{name}: {out[name]}", flush=True)
    return out


def table(figures: dict, entities: int, clients: int) -> str:
    rows = [f"| read ({entities:,} entities) | Backstage 10k p50 / p95 | Trellis p50 / p95 | Trellis / Backstage "
            f"| p95, {clients} clients | 100k target p95 |", "|---|---|---|---|---|---|"]
    for name, (b50, b95) in BACKSTAGE_10K.items():
        seq, conc = figures[name]["sequential"], figures[name]["concurrent"]
        rows.append(f"| {name} | {b50} / {b95} ms | {seq['p50_ms']} / {seq['p95_ms']} ms | "
                    f"{seq['p50_ms'] / b50:.2f} / {seq['p95_ms'] / b95:.2f} | {conc['p95_ms']} ms | "
                    f"<= {TARGET_100K_P95[name]} ms |")
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------ profile

# Stages of one request, as (module file suffix, function name): cProfile's cumulative time of each.
STAGES = [
    ("whole WSGI request", "flask/app.py", "wsgi_app"),
    ("auth gate (token + principal)", "app/auth/session.py", "_gate"),
    ("  token lookup: find_token (Cypher)", "graph/tokens.py", "find_token"),
    ("  token touch: last_used_at (Cypher write)", "graph/tokens.py", "touch_token"),
    ("roles and claims: _build_subject", "app/auth/access.py", "_build_subject"),
    ("  ownership_claims (Cypher)", "graph/ownership.py", "ownership_claims"),
    ("  role_grants (Cypher)", "graph/roles.py", "role_grants"),
    ("access.require (policy decision)", "app/auth/access.py", "require"),
    ("access.visibility", "app/auth/access.py", "visibility"),
    ("catalog.get_entity (Cypher + shaping)", "graph/entities.py", "get_entity"),
    ("all Cypher reads: Graph.read", "graph/driver.py", "read"),
    ("all Cypher writes: Graph.write", "graph/driver.py", "write"),
    ("serialisation: jsonify", "flask/json/__init__.py", "jsonify"),
    ("metrics hook", "app/metrics.py", "_observe"),
    ("audit", "app/auth/audit.py", "audit"),
]


def profile_by_name(uri: str, token: str, path: str, n: int = 300, *, cold_path: str | None = None) -> dict:
    """Call the WSGI app in process `n` times for one by-name path: wall time without a profiler, the
    number of Cypher round trips and their time (Graph.read/write timed on the instance), then cProfile."""
    from app import create_app
    from servers.neo4j import env_for

    for key, value in env_for(uri).items():
        os.environ[key] = value
    app = create_app({"TRELLIS_ENV": "development", "TRELLIS_GUEST_ROLE": "viewer", "NEO4J_URI": uri})
    path_info, _, query_string = path.partition("?")
    environ_base = {"REQUEST_METHOD": "GET", "PATH_INFO": path_info, "QUERY_STRING": query_string,
                    "SERVER_NAME": "127.0.0.1",
                    "SERVER_PORT": "80", "wsgi.url_scheme": "http", "HTTP_AUTHORIZATION": f"Bearer {token}",
                    "HTTP_HOST": "127.0.0.1", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
                    "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
                    "SERVER_PROTOCOL": "HTTP/1.1"}

    def call() -> int:
        status = []
        body = app(dict(environ_base, **{"wsgi.input": io.BytesIO(b"")}),
                   lambda s, h, exc_info=None: status.append(s))
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        return int(status[0].split()[0])

    assert call() == 200
    for _ in range(200):
        call()
    graph = app.extensions["trellis.graph"]
    spent = {"read": [0.0, 0], "write": [0.0, 0]}
    originals = {name: getattr(graph, name) for name in spent}

    def timed(name):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name][0] += time.perf_counter() - t0
                spent[name][1] += 1
        return run

    walls = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        walls.append((time.perf_counter() - t0) * 1000)
    for name in spent:
        setattr(graph, name, timed(name))
    timed_walls = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        timed_walls.append((time.perf_counter() - t0) * 1000)
    for name in spent:
        delattr(graph, name)
    cold = None
    if cold_path:   # nothing cached: what the first reader after an ingest waits for (page query + documents)
        from graph import versioned

        environ_base.update(zip(("PATH_INFO", "QUERY_STRING"), cold_path.partition("?")[::2]))
        cold_walls = []
        for _ in range(100):
            versioned.clear()
            t0 = time.perf_counter()
            call()
            cold_walls.append((time.perf_counter() - t0) * 1000)
        environ_base.update(zip(("PATH_INFO", "QUERY_STRING"), path.partition("?")[::2]))
        cold = {"path": cold_path, "wall_ms_p50": round(statistics.median(cold_walls), 3),
                "wall_ms_p95": round(pct(cold_walls, 95), 3)}
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_stage = {}
    for label, suffix, func in STAGES:
        total = calls = 0.0
        for (filename, _line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
            if name == func and filename.replace("\\", "/").endswith(suffix):
                total += ct
                calls += nc
        by_stage[label] = {"ms_per_request": round(total / n * 1000, 3), "calls_per_request": round(calls / n, 2)}
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    app.extensions["trellis.graph"].close()
    return {
        "path": path, "requests": n,
        "wall_ms_p50": round(statistics.median(walls), 3), "wall_ms_p95": round(pct(walls, 95), 3),
        "cypher": {name: {"round_trips_per_request": round(c / n, 2), "ms_per_request": round(s / n * 1000, 3)}
                   for name, (s, c) in spent.items()},
        "wall_ms_p50_while_timing_cypher": round(statistics.median(timed_walls), 3),
        "stages_under_cprofile": by_stage,
        "top_functions_by_own_time": text.getvalue(),
        "cold": cold,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10, help="seconds of each concurrent run")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    from graph.driver import Settings, connect
    from graph.server import start
    from servers.base import free_port
    from servers.neo4j import env_for, stop
    from ingest.sync import ingest

    print(f"load before: {uptime()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="trellis-reads-bench-"))
    os.environ["TRELLIS_CACHE"] = str(work / "cache")
    home = work / "neo4j"
    info = start(home, bolt_port=free_port(), http_port=free_port(), heap="2g", pagecache="1g")
    server = None
    try:
        catalog = work / "catalog"
        generate(catalog, args.entities, seed=42)
        with connect(Settings(uri=info.uri)) as graph:
            t0 = time.perf_counter()
            result = ingest(graph, str(catalog))
            print(f"ingested {result.added} entities in {time.perf_counter() - t0:.1f}s", flush=True)
            rows = graph.read("MATCH (n:Component) WHERE NOT n:Unresolved "
                              "RETURN n.namespace AS ns, n.name AS name ORDER BY n.ref")
            from app.auth.tokens import issue_token

            token, _ = issue_token(graph, name="bench", owner="user:default/bench-viewer", kind="personal",
                                   scopes=["catalog:read"])
        sample = random.Random(11).sample(rows, 200)
        by_name = [f"/api/v1/entities/by-name/component/{r['ns']}/{quote(r['name'])}" for r in sample]
        HEADERS["Authorization"] = f"Bearer {token}"
        port = free_port()
        env = {**env_for(info.uri), "TRELLIS_ENV": "development", "TRELLIS_GUEST_ROLE": "viewer"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "app:create_app()", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30",
             "--log-level", "warning"], env=env)
        wait_http(port)
        warm = concurrent(port, by_name + [LIST, FACETS] * 20, 4, 15)   # JIT, plan cache, page cache
        print(f"warm-up: {warm}", flush=True)
        figures = measure(port, by_name, args.clients, args.seconds)
        import resource

        memory = {
            "neo4j_rss_mib": rss_mib(info.pid),
            "gunicorn_rss_mib": {"master": rss_mib(server.pid),
                                 "workers": [rss_mib(c) for c in children(server.pid)]},
            "ingest_process_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        figures["memory"] = memory
        print(f"memory: {memory}", flush=True)
        server.terminate()
        server.wait(15)
        server = None
        profile = None if args.no_profile else profile_by_name(info.uri, token, by_name[0], cold_path=LIST)
        load_after = uptime()
        print(f"load after: {load_after}\n")
        print(table(figures, result.added, args.clients))
        if profile:
            print(f"\nProfile of one by-name request ({profile['path']}), in process, {profile['requests']} times:")
            print(f"  wall p50 {profile['wall_ms_p50']} ms, p95 {profile['wall_ms_p95']} ms (no profiler)")
            for name, row in profile["cypher"].items():
                print(f"  Graph.{name}: {row['round_trips_per_request']} round trips, {row['ms_per_request']} ms "
                      "per request")
            print("  stages (cProfile cumulative, inflated by the profiler; compare shares, not absolutes):")
            for label, row in profile["stages_under_cprofile"].items():
                print(f"    {label:<44} {row['ms_per_request']:>8.3f} ms  x{row['calls_per_request']}")
            print(profile["top_functions_by_own_time"])
            cold = profile["cold"]
            print(f"List page with every cache emptied before each request (the first reader after an ingest), "
                  f"in process: p50 {cold['wall_ms_p50']} ms, p95 {cold['wall_ms_p95']} ms")
        OUT.mkdir(exist_ok=True)
        (OUT / f"reads-{args.entities}.json").write_text(json.dumps(
            {"entities": result.added, "clients": args.clients, "figures": figures, "profile": profile,
             "load_after": load_after, "backstage_10k": BACKSTAGE_10K}, indent=2))
    finally:
        if server:
            server.terminate()
            server.wait(15)
        stop(home)   # the store files on disk are complete after the shutdown checkpoint
        from servers.neo4j import _machine_memory, memory_for, store_bytes

        store = store_bytes(home)
        print(f"store on disk: {store / (1 << 20):.1f} MiB; sized heap, page cache: "
              f"{memory_for(store, _machine_memory())}", flush=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
