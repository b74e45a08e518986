"""Real Celery workers (subprocesses, `celery -A ingest.jobs worker --pool=solo`) on a real Redis, running the
example plugin from examples/example-plugin (built and installed into a temp dir at test time, found through
its entry point exactly like a third-party package) into the real Neo4j."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from graph import sources

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "example-plugin"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """The example plugin pip-installed (no network, no build isolation) into a directory of its own."""
    work = tmp_path_factory.mktemp("example-plugin")
    src = work / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(src)], check=True)
    assert (target / "trellis_example_plugin-0.1.0.dist-info" / "entry_points.txt").exists()
    return target


@pytest.fixture(scope="module")
def jobs_env(tmp_path_factory, redis_url, neo4j_uri, plugin_path) -> dict:
    work = tmp_path_factory.mktemp("jobs")
    inventory = work / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"services": [
        {"name": "billing", "owner": "payments", "description": "Bills customers"},
        {"name": "ledger", "owner": "payments"},
        {"name": "search", "owner": "discovery", "type": "website"},
    ]}))
    slow = work / "slow.yaml"
    slow.write_text(yaml.safe_dump({"services": [{"name": f"slow-{i}", "owner": "ops"} for i in range(8)]}))
    config = work / "trellis.yaml"
    config.write_text(textwrap.dedent("""
        sources:
          - name: inventory
            provider: example-inventory
            options: {path: inventory.yaml}
          - name: slow
            provider: example-inventory
            options: {path: slow.yaml, delay: 0.75}
          - name: broken
            provider: example-inventory
            options: {path: missing.yaml}
          - name: ghost
            provider: no-such-provider
    """))
    env = {**os.environ, "TRELLIS_REDIS_URL": redis_url, "NEO4J_URI": neo4j_uri, "TRELLIS_CONFIG": str(config),
           "TRELLIS_CACHE": str(work / "cache"), "PYTHONPATH": f"{plugin_path}{os.pathsep}{REPO}",
           "TRELLIS_VISIBILITY_TIMEOUT": "4", "TRELLIS_RESTORE_INTERVAL": "1"}
    return {"env": env, "work": work, "config": config}


class Worker:
    def __init__(self, env: dict, log: Path, name: str) -> None:
        self.log = log
        self.fh = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ingest.jobs", "worker", "--pool=solo", "-n", f"{name}@%h",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=REPO, env=env, stdout=self.fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes():
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "worker did not start:\n" + log.read_text()
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.fh.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.fh.close()


@pytest.fixture
def queue(jobs_env, graph, monkeypatch):
    """Queue runs the way the CLI and the API do (ingest.jobs.trigger.queue_run), on the test Redis."""
    import redis

    for key in ("TRELLIS_REDIS_URL", "TRELLIS_CONFIG"):
        monkeypatch.setenv(key, jobs_env["env"][key])
    redis.Redis.from_url(jobs_env["env"]["TRELLIS_REDIS_URL"]).flushdb()
    from ingest.jobs import celery_app

    monkeypatch.setattr(celery_app, "app", celery_app.make_app())
    from ingest.jobs.trigger import queue_run

    return lambda source, **kw: queue_run(graph, source, **kw)


def wait_run(graph, run_id: str, statuses: set[str], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = sources.get_run(graph, run_id)
        if run and run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run and run['status']}"
        time.sleep(0.2)


def refs(graph) -> set[str]:
    rows = graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")
    return {r["ref"] for r in rows}


def test_a_plugin_source_lands_in_neo4j_through_a_worker_and_failures_stay_isolated(graph, queue, jobs_env):
    worker = Worker(jobs_env["env"], jobs_env["work"] / "w1.log", "w1")
    try:
        broken = queue("broken")
        ghost = queue("ghost")
        good = queue("inventory", trigger="schedule")
        assert {broken.status, ghost.status, good.status} == {"queued"}
        run = wait_run(graph, good.run, {"ok", "partial", "failed"})
        assert run["status"] == "ok", run
        assert run["trigger"] == "schedule" and run["name"] == "inventory"
        assert run["counts"]["added"] == 3
        assert refs(graph) == {"component:default/billing", "component:default/ledger", "component:default/search"}
        row = graph.read("MATCH (c:Entity {ref: 'component:default/search'})-[:OWNED_BY]->(g) "
                         "RETURN c.type AS type, g.ref AS owner")[0]
        assert (row["type"], row["owner"]) == ("website", "group:default/discovery")
        # the two failing sources before it did not stop it, and each says why
        failed = wait_run(graph, broken.run, {"failed"})
        assert "missing.yaml" in failed["error"] and failed["finished_at"]
        assert "unknown provider 'no-such-provider'" in wait_run(graph, ghost.run, {"failed"})["error"]
        # a source that fails later deletes nothing it stored before
        jobs_env["config"].write_text(jobs_env["config"].read_text().replace("path: inventory.yaml",
                                                                            "path: gone.yaml"))
        try:
            again = wait_run(graph, queue("inventory").run, {"ok", "failed"})
        finally:
            jobs_env["config"].write_text(jobs_env["config"].read_text().replace("path: gone.yaml",
                                                                                "path: inventory.yaml"))
        assert again["status"] == "failed"
        assert len(refs(graph)) == 3
    finally:
        worker.stop()


def test_one_run_per_source_and_a_killed_worker_s_run_is_redelivered(graph, queue, jobs_env):
    first = Worker(jobs_env["env"], jobs_env["work"] / "w2.log", "w2")
    try:
        run = queue("slow", trigger="manual")
        again = queue("slow")
        assert again.status == "skipped" and again.running == run.run
        # wait until the worker is inside the run, with live progress recorded
        deadline = time.monotonic() + 60
        while True:
            state = sources.get_run(graph, run.run)
            if state["status"] == "running" and state["progress"]["stage"] == "fetching" \
                    and state["progress"]["done"] >= 2:
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.1)
        assert state["progress"]["total"] == 8
        while_running = queue("slow")
        assert while_running.status == "skipped"
        first.kill()   # SIGKILL mid-run: the task was not acknowledged
    finally:
        first.kill()
    assert sources.get_run(graph, run.run)["status"] == "running"
    assert refs(graph) == set()
    second = Worker(jobs_env["env"], jobs_env["work"] / "w3.log", "w3")
    try:
        done = wait_run(graph, run.run, {"ok", "failed"}, timeout=120)
        assert done["status"] == "ok" and done["counts"]["added"] == 8
        assert done["trigger"] == "manual"
        assert len(refs(graph)) == 8
        skipped = sources.list_runs(graph, source="slow", status="skipped")
        assert {r["id"] for r in skipped} == {again.run, while_running.run}
        # the lock was freed by the finished run
        import redis
        from ingest.jobs.locks import SourceLock
        assert SourceLock(redis.Redis.from_url(jobs_env["env"]["TRELLIS_REDIS_URL"])).holder("slow") is None
    finally:
        second.stop()
