"""Jobs benchmark: provider entities through ingest_entities (the path every provider uses), and the latency
of a queued run through a real Celery worker on a real Redis.

    .venv/bin/python -m benchmarks.jobs_bench [--entities 10000] [--runs 10]

Starts its own throwaway Neo4j and redis-server (unless NEO4J_URI is set; then that database is WIPED) and
writes the figures to benchmarks/out/jobs.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from graph.driver import Settings, connect
from ingest.sync import ingest_entities

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parents[1]


def entities(n: int, *, version: int = 0) -> list[tuple[str, dict]]:
    """n components in 100 groups, each depending on the previous one, as a provider would hand them over."""
    out = []
    for i in range(n):
        spec = {"type": "service", "lifecycle": "production", "owner": f"team-{i % 100}"}
        if i:
            spec["dependsOn"] = [f"component:svc-{i - 1}"]
        out.append((f"bench:repo-{i}/catalog-info.yaml", {
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": f"svc-{i}", "description": f"service {i} v{version if i % 10 == 0 else 0}",
                         "tags": ["bench"]},
            "spec": spec}))
    return out


def wipe(graph) -> None:
    while graph.write("MATCH (n) WITH n LIMIT 20000 DETACH DELETE n").counters.nodes_deleted:
        pass


def bench_entities(graph, n: int) -> dict:
    wipe(graph)
    items = entities(n)
    t0 = time.perf_counter()
    first = ingest_entities(graph, "bench", items, target="bench")
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = ingest_entities(graph, "bench", entities(n), target="bench")
    again_s = time.perf_counter() - t0
    assert again.added == again.updated == again.removed == 0, again.as_json()
    t0 = time.perf_counter()
    changed = ingest_entities(graph, "bench", entities(n, version=1), target="bench")
    changed_s = time.perf_counter() - t0
    assert changed.updated == n // 10, changed.as_json()
    return {"entities": first.added, "ingest_s": round(first_s, 2), "entities_per_s": round(first.added / first_s),
            "unchanged_s": round(again_s, 2), "ten_percent_changed_s": round(changed_s, 2)}


def bench_worker(graph, uri: str, runs: int, workdir: Path) -> dict:
    """Queue -> finished latency of a one-entity git source through a real worker, `runs` times."""
    from ingest.jobs import celery_app
    from servers import redis as redis_local
    from ingest.jobs.trigger import queue_run
    from graph.sources import get_run

    info = redis_local.start(workdir / "redis", port=0)
    (workdir / "trellis.yaml").write_text(
        "sources:\n  - {name: inv, provider: git, options: {target: catalog}}\n")
    catalog = workdir / "catalog"
    catalog.mkdir()
    (catalog / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: jobs-bench}\n"
        "spec: {type: service, lifecycle: production, owner: ops}\n")
    os.environ.update(TRELLIS_REDIS_URL=info.url, TRELLIS_CONFIG=str(workdir / "trellis.yaml"))
    celery_app.app = celery_app.make_app()
    from servers.neo4j import env_for

    env = {**env_for(uri), "PYTHONPATH": str(REPO)}   # the worker logs in to this bench's own server
    log = open(workdir / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ingest.jobs", "worker", "--pool=solo",
                               "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    import redis

    from ingest.jobs.locks import SourceLock

    lock = SourceLock(redis.Redis.from_url(info.url))
    latencies = []
    try:
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            outcome = queue_run(graph, "inv")
            # done = recorded as finished and the source's lock released (the worker is free for it again)
            while (run := get_run(graph, outcome.run)) is None or run["status"] not in ("ok", "partial", "failed") \
                    or lock.holder("inv") is not None:
                time.sleep(0.01)
                assert time.perf_counter() - t0 < 120, f"worker did not run the source: {run}"
            assert run["status"] == "ok", run
            latencies.append(time.perf_counter() - t0)
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
        redis_local.stop(workdir / "redis")
    warm = latencies[1:]   # the first includes the worker's start-up
    return {"runs": len(warm), "first_run_s": round(latencies[0], 2),
            "queue_to_done_p50_ms": round(statistics.median(warm) * 1000),
            "queue_to_done_max_ms": round(max(warm) * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    server_home = None
    if not os.environ.get("NEO4J_URI"):
        from graph.server import start
        from servers.base import free_port

        server_home = Path(tempfile.mkdtemp(prefix="trellis-bench-neo4j-"))
        uri = start(server_home, bolt_port=free_port(), http_port=free_port(), heap="2g", pagecache="1g").uri
    else:
        uri = os.environ["NEO4J_URI"]
    workdir = Path(tempfile.mkdtemp(prefix="trellis-jobs-bench-"))
    os.environ["TRELLIS_CACHE"] = str(workdir / "cache")
    try:
        with connect(Settings(uri=uri, user=os.environ.get("NEO4J_USER"),
                              password=os.environ.get("NEO4J_PASSWORD"))) as graph:
            result = {"ingest_entities": bench_entities(graph, args.entities)}
            print(json.dumps(result["ingest_entities"]), flush=True)
            result["worker"] = bench_worker(graph, uri, args.runs, workdir)
            print(json.dumps(result["worker"]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if server_home:
            from servers.neo4j import stop

            stop(server_home)
            shutil.rmtree(server_home, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "jobs.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
