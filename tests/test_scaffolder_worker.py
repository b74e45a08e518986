"""The shipped templates (templates/) run end to end through a real Celery worker (`-Q scaffolder`, a
subprocess) on a real Redis and Neo4j: each creates a bare repository under scaffolder.git_roots, registers
it, the created repository's own tests pass, its entity is in the catalog owned by the chosen team, and its
docs build with the portal's TechDocs builder."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph import catalog as catalog_reads
from graph import scaffolder as store
from ingest.sync import ingest
from scaffolder import service
from scaffolder.service import Initiator

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(400)

ORG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: payments}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: checkout}
spec: {owner: payments}
"""


@pytest.fixture(scope="module")
def worker_env(tmp_path_factory, redis_url, neo4j_uri, graph_module):
    work = tmp_path_factory.mktemp("scaffolder-worker")
    (work / "org").mkdir()
    (work / "org" / "catalog-info.yaml").write_text(ORG)
    for target in (work / "org", REPO / "templates" / "catalog-info.yaml"):
        assert ingest(graph_module, str(target)).ok
    git_root = work / "git"
    git_root.mkdir()
    config = work / "trellis.yaml"
    config.write_text(json.dumps({"scaffolder": {"workdir": str(work / "tasks"), "git_roots": [str(git_root)]}}))
    env = {**os.environ, "TRELLIS_REDIS_URL": redis_url, "NEO4J_URI": neo4j_uri, "TRELLIS_CONFIG": str(config),
           "TRELLIS_CACHE": str(work / "cache"), "TRELLIS_SECRET_KEY": "w" * 40, "PYTHONPATH": str(REPO)}
    log = work / "worker.log"
    fh = open(log, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ingest.jobs", "worker", "--pool=solo",
                             "-Q", "scaffolder", "-n", "scaffolder@%h", "--loglevel=INFO", "--without-gossip",
                             "--without-mingle", "--without-heartbeat"], cwd=REPO, env=env, stdout=fh,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while b"ready." not in log.read_bytes():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)
    mp = pytest.MonkeyPatch()
    for key in ("TRELLIS_REDIS_URL", "TRELLIS_CONFIG", "TRELLIS_SECRET_KEY"):
        mp.setenv(key, env[key])
    from ingest.jobs import celery_app
    from scaffolder import tasks

    fresh = celery_app.make_app()
    mp.setattr(celery_app, "app", fresh)
    mp.setattr(tasks, "celery_app", fresh)
    yield {"git": git_root, "work": work, "log": log, "graph": graph_module}
    mp.undo()
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    fh.close()


def run_through_worker(env, ref: str, values: dict, timeout: float = 180) -> dict:
    graph = env["graph"]
    template = service.get_template(graph, ref, Initiator(id="t", label="t").visibility)
    who = Initiator(id="local:alice", label="alice", catalog_rules=None)
    task = service.create_task(graph, template, values, {}, who)
    deadline = time.monotonic() + timeout
    while True:
        task = store.get_task(graph, task["id"])
        if task["status"] in store.FINISHED:
            return task
        assert time.monotonic() < deadline, (task["status"], env["log"].read_text()[-3000:])
        time.sleep(0.3)


def clone(env, name: str, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(env["git"] / f"{name}.git"), str(dest)], check=True)
    return dest


def own_tests_pass(repo: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=repo,
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(repo / "src")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize("template, name, extra", [
    ("flask-service", "gift-cards", {"port": 8090, "providesApi": True}),
    ("python-library", "money-utils", {}),
    ("techdocs-site", "payments-handbook", {"pages": ["Getting started", "On call"]}),
])
def test_a_shipped_template_creates_a_working_registered_repository(worker_env, tmp_path, template, name, extra):
    from docs_builder.build import build_entity_docs
    from docs_builder.storage import LocalStorage

    values = {"name": name, "owner": "group:default/payments", "system": "system:default/checkout",
              "description": f"{name} made by a test", "remote": str(worker_env["git"] / f"{name}.git"), **extra}
    task = run_through_worker(worker_env, f"template:default/{template}", values)
    assert task["status"] == "completed", (task.get("error"), worker_env["log"].read_text()[-2000:])
    assert task["worker"] and task["template_etag"]
    repo = clone(worker_env, name, tmp_path / name)
    assert "passed" in own_tests_pass(repo)
    ref = f"component:default/{name}"
    entity = catalog_reads.get_entity(worker_env["graph"], ref)
    assert entity is not None, task.get("registered")
    relations = {(r["type"], r["targetRef"]) for r in entity["relations"]}
    assert ("ownedBy", "group:default/payments") in relations
    assert entity["metadata"]["annotations"]["backstage.io/techdocs-ref"]
    outcome = build_entity_docs(worker_env["graph"], ref, LocalStorage(tmp_path / "site"), force=True)
    assert outcome.status == "succeeded" and outcome.pages >= 2, outcome
    shutil.rmtree(repo)
