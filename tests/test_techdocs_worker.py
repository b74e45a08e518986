"""`trellis.build_docs` through a real Celery worker (subprocess, --pool=solo) on a real Redis."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph import techdocs

REPO = Path(__file__).resolve().parents[1]
REF = "component:default/queued-docs"


@pytest.fixture
def worker(tmp_path, redis_url, neo4j_uri):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    config = tmp_path / "trellis.yaml"
    config.write_text("sources: []\n")
    sites = tmp_path / "sites"
    env = {**os.environ, "TRELLIS_REDIS_URL": redis_url, "NEO4J_URI": neo4j_uri, "TRELLIS_CONFIG": str(config),
           "TRELLIS_DOCS_DIR": str(sites), "TRELLIS_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    log = tmp_path / "worker.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ingest.jobs", "worker", "--pool=solo", "-n", "docs@%h",
             "-Q", "docs", "--include", "docs_builder.tasks", "--loglevel=INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while b"ready." not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "worker did not start:\n" + log.read_text()
            time.sleep(0.3)
        assert "trellis.build_docs" in log.read_text()   # the task is registered
        yield {"sites": sites, "log": log, "redis_url": redis_url}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_the_build_docs_button_queues_a_build_that_a_worker_runs(graph, worker, tmp_path, monkeypatch):
    from ingest.jobs.celery_app import make_app
    from ingest.sync import ingest

    from docs_builder import tasks

    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: queued-docs\n  annotations:\n"
        "    backstage.io/techdocs-ref: dir:.\nspec: {type: service, lifecycle: production, owner: team-a}\n")
    (repo / "mkdocs.yml").write_text("site_name: Queued\n")
    (repo / "docs" / "index.md").write_text("# Built by a worker\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert ingest(graph, str(repo)).added == 1

    monkeypatch.setenv("TRELLIS_REDIS_URL", worker["redis_url"])
    app = make_app()
    monkeypatch.setattr(tasks, "build_docs", app.task(name="trellis.build_docs")(tasks.run_build))
    assert tasks.enqueue_build(REF) is False          # not asked to queue: the caller builds
    monkeypatch.setenv("TRELLIS_DOCS_ASYNC", "1")
    assert tasks.enqueue_build(REF, trigger="button") is True

    deadline = time.monotonic() + 120
    build = None
    while time.monotonic() < deadline:
        build = techdocs.latest_build(graph, REF)
        if build and build["status"] != "running":
            break
        time.sleep(0.5)
    assert build and build["status"] == "succeeded", (build, worker["log"].read_text()[-3000:])
    assert build["trigger"] == "button" and build["pages"] == 1
    manifests = list(worker["sites"].glob("default/component/queued-docs/manifest.json"))
    assert manifests and "Built by a worker" in next(worker["sites"].glob(
        "default/component/queued-docs/v-*/index.html")).read_text()
