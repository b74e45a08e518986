"""Portal benchmark at 100k synthetic entities, over real HTTP against gunicorn.

    .venv/bin/python -m benchmarks.portal_bench [--entities 100000] [--seconds 20] [--clients 16]

1. One sequential client on one keep-alive connection (as Backstage's baseline was measured): entity by
   name, a filtered list page of 50, facets.
2. 16 concurrent clients: catalog list page, entity page, impact API, graph API.
Starts its own Neo4j and gunicorn; prints a table and writes benchmarks/out/portal.json.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from benchmarks.synthetic import generate

OUT = Path(__file__).resolve().parent / "out"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# API requests carry a viewer's personal API token (as an automation client's would: verified on every
# request); pages are served to development-mode guests with the viewer role. Both pay for the visibility
# predicate inside every query.
HEADERS: dict[str, str] = {}


class Client:
    """A keep-alive HTTP/1.1 connection; times each request in milliseconds."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> tuple[int, float]:
        t0 = time.perf_counter()
        try:
            self.conn.request("GET", path, headers=HEADERS if path.startswith("/api/") else {})
            response = self.conn.getresponse()
            response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return 599, (time.perf_counter() - t0) * 1000
        return response.status, (time.perf_counter() - t0) * 1000


def sequential(port: int, paths: list[str], warmup: int = 300) -> dict:
    client = Client(port)
    for i in range(warmup):   # JIT, plan cache and page cache warm-up (Neo4j and the workers)
        client.get(paths[i % len(paths)])
    times, errors = [], 0
    for path in paths:
        status, ms = client.get(path)
        errors += status != 200
        times.append(ms)
    return {"n": len(times), "p50_ms": round(statistics.median(times), 2), "p95_ms": round(pct(times, 95), 2),
            "errors": errors}


def concurrent(port: int, paths: list[str], clients: int, seconds: float) -> dict:
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        client = Client(port)
        local, bad = [], 0
        while time.perf_counter() < stop:
            status, ms = client.get(rng.choice(paths))
            local.append(ms)
            bad += status != 200
        with lock:
            times.extend(local)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"n": len(times), "rps": round(len(times) / seconds, 1), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(pct(times, 95), 1), "errors": errors[0]}


def wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if Client(port).get("/api/v1/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=500, help="sequential requests per endpoint")
    args = parser.parse_args()

    from graph.driver import Settings, connect
    from graph.server import start
    from servers.neo4j import free_port, stop
    from ingest.sync import ingest

    work = Path(tempfile.mkdtemp(prefix="trellis-portal-bench-"))
    os.environ["TRELLIS_CACHE"] = str(work / "cache")
    home = work / "neo4j"
    info = start(home, bolt_port=free_port(), http_port=free_port(), heap="4g", pagecache="2g")
    server = None
    try:
        catalog = work / "catalog"
        generate(catalog, args.entities, seed=42)
        with connect(Settings(uri=info.uri)) as graph:
            t0 = time.perf_counter()
            result = ingest(graph, str(catalog))
            print(f"ingested {result.added} entities in {time.perf_counter() - t0:.1f}s", flush=True)
            rows = graph.read(
                "MATCH (n:Entity) WHERE NOT n:Unresolved AND n.kind IN ['Component', 'Resource', 'API'] "
                "RETURN n.kind AS kind, n.namespace AS ns, n.name AS name, n.ref AS ref, n.owner AS owner")
            owners = [r["owner"] for r in rows if r["owner"]]
        rng = random.Random(11)
        sample = rng.sample(rows, 2000)
        port = free_port()
        from app.auth.tokens import issue_token

        with connect(Settings(uri=info.uri)) as bench_graph:
            token, _ = issue_token(bench_graph, name="bench", owner="user:default/bench-viewer", kind="personal",
                                   scopes=["catalog:read", "reports:read"])
        HEADERS["Authorization"] = f"Bearer {token}"
        from servers.neo4j import env_for

        env = {**env_for(info.uri), "TRELLIS_ENV": "development", "TRELLIS_GUEST_ROLE": "viewer"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "app:create_app()", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30",
             "--log-level", "warning"], env=env)
        wait_http(port)

        by_name = [f"/api/v1/entities/by-name/{r['kind'].lower()}/{r['ns']}/{quote(r['name'])}" for r in sample]
        filters = ["kind=component,spec.lifecycle=production", "kind=component,spec.type=service", "kind=api",
                   "kind=resource,spec.type=database"] + [f"relations.ownedby={o}" for o in rng.sample(owners, 20)]
        lists = ["/api/v1/entities/by-query?" + urlencode({"filter": rng.choice(filters), "limit": 50})
                 for _ in range(args.requests)]
        facets = ["/api/v1/entity-facets?" + urlencode({"facet": f})
                  for f in rng.choices(["spec.type", "kind", "spec.lifecycle"], k=args.requests)]
        pages = {
            "catalog_list_page": ["/catalog?" + urlencode({"kind": k}) for k in ("component", "api", "resource")]
            + ["/catalog?" + urlencode({"kind": "component", "lifecycle": "production"})],
            "entity_page": [f"/catalog/{r['ns']}/{r['kind'].lower()}/{quote(r['name'])}" for r in sample],
            "impact_api": [f"/api/v1/entities/by-name/{r['kind'].lower()}/{r['ns']}/{quote(r['name'])}/impact?depth=10"
                           for r in sample],
            "graph_api": ["/api/v1/graph/neighbourhood?" + urlencode({"ref": r["ref"], "depth": 2}) for r in sample],
        }
        # A freshly started server is measured warm, as a long-running one would be: JIT-compiled (Neo4j
        # and its Cypher runtime), plans cached. 40 s of mixed traffic, on entities (the second half of the
        # sample) other than the ones measured afterwards (the first half).
        everything = by_name[1000:] + lists + facets + [p for ps in pages.values() for p in ps[1000:] or ps]
        warm = concurrent(port, everything, 4, 40)
        print(f"warm-up: {warm}", flush=True)
        seq = {
            "entity_by_name": sequential(port, by_name[: args.requests]),
            "list_page_50_filtered": sequential(port, lists),
            "facets": sequential(port, facets),
        }
        for name, row in seq.items():
            print(f"sequential {name}: {row}", flush=True)

        conc = {}
        for name, paths in pages.items():
            paths = paths[:1000] if len(paths) > 1000 else paths
            conc[name] = concurrent(port, paths, args.clients, args.seconds)
            print(f"{args.clients} clients {name}: {conc[name]}", flush=True)
        OUT.mkdir(exist_ok=True)
        (OUT / "portal.json").write_text(json.dumps(
            {"entities": result.added, "sequential": seq, "concurrent": conc, "clients": args.clients}, indent=2))
    finally:
        if server:
            server.terminate()
            server.wait(15)
        stop(home)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
