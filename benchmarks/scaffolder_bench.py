"""Software Templates benchmark: a 500-file skeleton rendered and published to a local bare repository, end to
end through a real Celery worker (task created -> completed, as a user waits for it); and a dry run of a
typical 20-file template.

    .venv/bin/python -m benchmarks.scaffolder_bench [--files 500] [--dry-files 20] [--repeat 3]

Uses NEO4J_URI when set, otherwise a throwaway local Neo4j; starts its own Redis and one worker
(`celery -A ingest.jobs worker -Q scaffolder --pool=solo`). The skeleton has nested folders, rendered file
names, `{% if %}`/`{% for %}` blocks and a few binary files. Prints the figures and writes
benchmarks/out/scaffolder.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out"

SOURCE = """\
# ${{ values.name }} module {i}
\"\"\"Part {i} of ${{ values.name }}, owned by ${{ values.owner }}.\"\"\"
{% if values.withMetrics %}from prometheus_client import Counter
REQUESTS_{i} = Counter("${{ values.name | replace('-', '_') }}_{i}_total", "requests")
{% endif %}
SETTINGS = {
{%- for key in values.settings %}
    "${{ key }}": "${{ values.name }}-${{ key }}-{i}",
{%- endfor %}
}


def handler_{i}(event):
    return {"service": "${{ values.name }}", "part": {i}, "port": ${{ values.port }} }
"""


def make_template(root: Path, name: str, files: int) -> Path:
    folder = root / name
    skeleton = folder / "skeleton"
    for i in range(files - 2):
        rel = Path(f"src/${{{{ values.name | replace('-', '_') }}}}/part_{i // 50:02d}/module_{i:03d}.py")
        if i % 25 == 0:
            rel = Path(f"assets/image_{i:03d}.bin")
            (skeleton / rel).parent.mkdir(parents=True, exist_ok=True)
            (skeleton / rel).write_bytes(bytes(range(256)) * 8)
            continue
        (skeleton / rel).parent.mkdir(parents=True, exist_ok=True)
        (skeleton / rel).write_text(SOURCE.replace("{i}", str(i)))
    (skeleton / "README.md").write_text("# ${{ values.name }}\n\nOwned by ${{ values.owner }}.\n")
    (skeleton / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ${{ values.name }}\n"
        "spec:\n  type: service\n  lifecycle: experimental\n  owner: ${{ values.owner }}\n")
    (folder / "template.yaml").write_text(json.dumps({
        "apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
        "metadata": {"name": name, "title": f"Benchmark {files} files"},
        "spec": {"owner": "group:default/bench", "type": "service",
                 "parameters": [{"required": ["name", "remote"], "properties": {
                     "name": {"type": "string"}, "remote": {"type": "string"}}}],
                 "steps": [
                     {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {
                         "name": "${{ parameters.name }}", "owner": "group:default/bench", "port": 8080,
                         "withMetrics": True, "settings": ["host", "port", "timeout", "retries"]}}},
                     {"id": "publish", "action": "publish:git", "input": {"remoteUrl": "${{ parameters.remote }}"}}]}},
        indent=1))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--dry-files", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trellis-sbench-"))
    os.environ["TRELLIS_CACHE"] = str(work / "cache")
    os.environ.setdefault("TRELLIS_SECRET_KEY", "bench-" + "k" * 40)
    git_root = work / "git"
    git_root.mkdir()
    config = work / "trellis.yaml"
    config.write_text(json.dumps({"scaffolder": {"workdir": str(work / "tasks"), "git_roots": [str(git_root)]}}))
    os.environ["TRELLIS_CONFIG"] = str(config)

    from graph.driver import Settings, connect
    from servers import redis as redis_local

    neo4j_home = None
    if os.environ.get("NEO4J_URI"):
        settings = Settings.from_env()
    else:
        from graph.server import start
        from servers.base import free_port

        neo4j_home = work / "neo4j"
        settings = Settings(uri=start(neo4j_home, bolt_port=free_port(), http_port=free_port(), heap="1g",
                                      pagecache="256m").uri)
    redis_home = work / "redis"
    redis = redis_local.start(redis_home, port=0)
    os.environ["TRELLIS_REDIS_URL"] = redis.url
    from ingest.jobs import celery_app
    from scaffolder import tasks

    celery_app.app = tasks.celery_app = celery_app.make_app()   # made at import, before the URL was known
    worker = None
    graph = connect(settings)
    try:
        from graph import scaffolder as store
        from ingest.sync import ingest
        from scaffolder import service
        from scaffolder.service import Initiator

        big = make_template(work / "templates", "bench-big", args.files)
        small = make_template(work / "templates", "bench-small", args.dry_files)
        for folder in (big, small):
            result = ingest(graph, str(folder / "template.yaml"))
            assert result.ok, result.as_json()

        log = work / "worker.log"
        from servers.neo4j import env_for

        env = {**env_for(settings.uri), "PYTHONPATH": str(REPO)}   # the worker logs in to this bench's server
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ingest.jobs", "worker", "--pool=solo", "-Q",
                                   "scaffolder", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                                   "--without-heartbeat"], cwd=REPO, env=env, stdout=open(log, "ab"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        who = Initiator(id="bench", label="bench")
        template = service.get_template(graph, "template:default/bench-big", who.visibility)

        def one_run(n: int) -> tuple[float, dict]:
            values = {"name": f"bench-svc-{n}", "remote": str(git_root / f"bench-svc-{n}.git")}
            t0 = time.perf_counter()
            task = service.create_task(graph, template, values, {}, who)
            while True:
                task = store.get_task(graph, task["id"])
                if task["status"] in store.FINISHED:
                    break
                time.sleep(0.02)
            took = time.perf_counter() - t0
            assert task["status"] == "completed", (task.get("error"), log.read_text()[-2000:])
            return took, task

        one_run(0)                                   # warm-up: the worker's imports and its first connection
        runs = []
        for n in range(1, args.repeat + 1):
            took, task = one_run(n)
            files = subprocess.run(["git", "--git-dir", str(git_root / f"bench-svc-{n}.git"), "ls-tree", "-r",
                                    "--name-only", "main"], capture_output=True, text=True, check=True).stdout.split()
            assert len(files) == args.files, len(files)
            runs.append(took)

        small_template = service.get_template(graph, "template:default/bench-small", who.visibility)
        dry = []
        for n in range(args.repeat + 1):
            t0 = time.perf_counter()
            result = service.dry_run(graph, small_template, {"name": f"dry-{n}", "remote": str(git_root / "x.git")},
                                     who)
            dry.append(time.perf_counter() - t0)
            assert result["status"] == "completed" and len(result["files"]) == args.dry_files, result["error"]
        dry = dry[1:]
        figures = {
            "files": args.files, "repeat": args.repeat,
            "worker_run_median_s": round(statistics.median(runs), 3), "worker_run_max_s": round(max(runs), 3),
            "dry_files": args.dry_files, "dry_run_median_s": round(statistics.median(dry), 3),
            "dry_run_max_s": round(max(dry), 3), "load_average": os.getloadavg()[0],
        }
        print(f"{args.files}-file skeleton rendered + pushed to a bare repository through the worker: "
              f"median {figures['worker_run_median_s']} s, max {figures['worker_run_max_s']} s "
              f"({args.repeat} runs; target < 10 s)")
        print(f"dry run of a {args.dry_files}-file template: median {figures['dry_run_median_s']} s, "
              f"max {figures['dry_run_max_s']} s (target < 1 s)")
        OUT.mkdir(exist_ok=True)
        (OUT / "scaffolder.json").write_text(json.dumps(figures, indent=1))
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        graph.close()
        redis_local.stop(redis_home)
        if neo4j_home is not None:
            from servers.neo4j import stop

            stop(neo4j_home)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
