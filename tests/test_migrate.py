"""Upgrades: a catalog database written by release 0.1.0 is migrated once, by whichever of the web, worker
and beat processes starting together takes the lock; a process refuses a schema newer than it knows; the
portal is not ready while a migration runs; `trellis neo4j dump|load` back up and restore the database.

The 0.1.0 database is `tests/fixtures/v0.1.0/neo4j.dump`: made once with the v0.1.0 tag's wheel (`trellis
ingest` of its demo catalog twice, one local account, one service token) and `trellis neo4j dump`, so no
tag and no old wheel are needed here. It holds 117 entities and two `partial` runs (12.3 s and 0.8 s).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from graph.driver import Graph, Settings
from graph.migrations import MIGRATIONS, SCHEMA_VERSION
from graph.server import start
from servers.neo4j import env_for, free_port, stop
from tests.support.cli import trellis

REPO = Path(__file__).resolve().parents[1]
DUMP_V010 = REPO / "tests" / "fixtures" / "v0.1.0" / "neo4j.dump"

pytestmark = pytest.mark.timeout(300)


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-c", "from app.cli import main; main()", *args], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def http_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture(scope="module")
def old_db(tmp_path_factory, redis_url):
    """A local Neo4j whose database is the 0.1.0 dump, restored with `trellis neo4j load`."""
    home = tmp_path_factory.mktemp("neo4j-v010")
    state = tmp_path_factory.mktemp("state")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "TRELLIS_"))}
    env.update(PYTHONPATH=str(REPO), TRELLIS_STATE_DIR=str(state), TRELLIS_REDIS_URL=redis_url,
               TRELLIS_CACHE=str(state / "cache"), TRELLIS_ENV="development", TRELLIS_GUEST_ROLE="viewer")
    loaded = trellis("neo4j", "load", "--home", str(home), str(DUMP_V010), env=env)
    assert loaded.returncode == 0, loaded.stderr
    ports = {"bolt_port": free_port(), "http_port": free_port()}
    info = start(home, heap="512m", pagecache="64m", **ports)
    env = env_for(info.uri, env)   # the children log in with the password this server generated
    graph = Graph(Settings(uri=info.uri))
    try:
        yield {"home": home, "env": env, "graph": graph, "uri": info.uri, "tmp": state, "ports": ports}
    finally:
        graph.close()
        stop(home)
        shutil.rmtree(home, ignore_errors=True)


def schema_version(graph: Graph) -> int | None:
    rows = graph.read("MATCH (m:CatalogMeta {key: 'schema'}) RETURN m.version AS v")
    return rows[0]["v"] if rows else None


def test_web_worker_and_beat_starting_together_migrate_a_v0_1_0_database_once(old_db):
    graph, env = old_db["graph"], old_db["env"]
    status = trellis("migrate", "--status", env=env)
    assert status.returncode == 0 and "Schema version 1;" in status.stdout, status.stdout + status.stderr
    assert schema_version(graph) is None   # 0.1.0 never wrote one
    assert graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN count(n) AS c")[0]["c"] == 117

    port = free_port()
    logs = {name: old_db["tmp"] / f"{name}.log" for name in ("web", "worker", "beat")}
    procs = [spawn(["serve", "--port", str(port), "--workers", "2"], env, logs["web"]),
             spawn(["worker", "--pool", "solo", "--concurrency", "1"], env, logs["worker"]),
             spawn(["beat"], env, logs["beat"])]
    try:
        deadline = time.monotonic() + 150
        while True:
            try:
                code, body = http_json(f"http://127.0.0.1:{port}/api/v1/health/ready")
            except OSError:
                code, body = None, None
            if code == 200:
                break
            for proc, log in zip(procs, logs.values()):
                assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, {n: p.read_text()[-2000:] for n, p in logs.items()}
            time.sleep(0.5)
        assert body["schema"] == {"version": SCHEMA_VERSION, "expected": SCHEMA_VERSION, "migrating": False}
        # the worker and beat got past their start-time migration too (each waited for the lock or found
        # nothing to do), and are still running
        deadline = time.monotonic() + 60
        while "ready." not in logs["worker"].read_text() or "beat: Starting" not in logs["beat"].read_text():
            assert time.monotonic() < deadline, {n: p.read_text()[-2000:] for n, p in logs.items()}
            time.sleep(0.5)
        assert all(proc.poll() is None for proc in procs)
    finally:
        stop_all(procs)
    migrated = graph.read("MATCH (m:SchemaMigration) RETURN m.version AS v, m.applied_by AS by")
    assert sorted(r["v"] for r in migrated) == [2, 3], migrated   # each once, by one of the three
    assert len({r["by"] for r in migrated}) == 1, migrated
    assert schema_version(graph) == SCHEMA_VERSION
    # migration 3 gave every entity and placeholder 0.1.0 wrote the facts a walk reads
    assert graph.read("MATCH (n:Entity) WHERE n.walk_facts IS NULL RETURN count(n) AS c")[0]["c"] == 0
    # migration 2 folded the runs 0.1.0 recorded into the counters /metrics reports
    from graph import run_stats

    assert run_stats.read(graph) == [{"status": "partial", "count": 2, "seconds_sum": pytest.approx(13.096),
                                      "buckets": [1, 0, 1, 0, 0, 0, 0, 0]}]
    # and what 0.1.0 wrote reads as before: entities, relations, the account and the token
    impact = trellis("impact", "resource:default/payments-db", "--json", env=env)
    assert impact.returncode == 0 and json.loads(impact.stdout)["count"] == 20, impact.stderr
    users = trellis("users", "list", env=env)
    assert "ops" in users.stdout and "user:default/alice.nguyen" in users.stdout, users.stdout + users.stderr
    tokens = trellis("tokens", "list", env=env)
    assert "ci reader" in tokens.stdout, tokens.stdout + tokens.stderr


def test_migrate_is_idempotent(old_db):
    for _ in range(2):
        again = trellis("migrate", env=old_db["env"])
        assert again.returncode == 0 and f"up to date (schema version {SCHEMA_VERSION})" in again.stdout, (
            again.stdout + again.stderr)
    assert len(old_db["graph"].read("MATCH (m:SchemaMigration) RETURN m")) == len(MIGRATIONS)


def test_processes_refuse_a_schema_newer_than_they_know(old_db):
    graph, env = old_db["graph"], old_db["env"]
    graph.write("MATCH (m:CatalogMeta {key: 'schema'}) SET m.version = $v", v=SCHEMA_VERSION + 1)
    try:
        for args in (["serve", "--port", str(free_port())], ["worker", "--pool", "solo"], ["beat"], ["migrate"],
                     ["impact", "resource:default/payments-db"]):
            result = trellis(*args, env=env, timeout=120)
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert f"schema version {SCHEMA_VERSION + 1}, newer than this release knows" in result.stderr, (
                args, result.stderr)
        from app import create_app
        from tests.portal_helpers import OPEN_PORTAL

        app = create_app({"NEO4J_URI": old_db["uri"], "TESTING": True, **OPEN_PORTAL})
        try:
            client = app.test_client()
            ready = client.get("/api/v1/health/ready")
            assert ready.status_code == 503 and ready.get_json()["error"]["code"] == "schema_too_new"
            assert client.get("/api/v1/health/live").status_code == 200
            page = client.get("/api/v1/entities")
            assert page.status_code == 503 and page.get_json()["error"]["code"] == "schema_too_new"
        finally:
            app.extensions["trellis.graph"].close()
    finally:
        graph.write("MATCH (m:CatalogMeta {key: 'schema'}) SET m.version = $v", v=SCHEMA_VERSION)


def test_not_ready_while_another_process_migrates(old_db):
    from app import create_app
    from graph.schema import forget_applied
    from tests.portal_helpers import OPEN_PORTAL

    graph = old_db["graph"]
    forget_applied()
    # back to what 0.1.0 left (no version record, no migration 2), and another process holds the lock
    graph.write("MATCH (n) WHERE n:SchemaMigration OR n:IngestRunStats OR n.key = 'schema' DETACH DELETE n")
    graph.write("MATCH (r:IngestRun) REMOVE r.counted")
    graph.write("MERGE (l:CatalogMeta {key: 'schema-lock'}) SET l.holder = 'other-host:42:abc', "
                "l.expires_at = timestamp() + 600000")
    app = create_app({"NEO4J_URI": old_db["uri"], "TESTING": True, **OPEN_PORTAL})
    try:
        client = app.test_client()
        ready = client.get("/api/v1/health/ready")
        assert ready.status_code == 503, ready.get_json()
        assert ready.get_json()["error"]["code"] == "migrating" and ready.get_json()["schema"]["migrating"] is True
        assert client.get("/api/v1/health/live").status_code == 200
        assert client.get("/api/v1/health").status_code == 200   # Neo4j itself is up
        page = client.get("/api/v1/entities")
        assert page.status_code == 503 and page.get_json()["error"]["code"] == "migrating"
        assert "other-host" not in page.get_data(as_text=True)
        # the other process finished (here: died, and its lock is released): readiness migrates and says so
        graph.write("MATCH (l:CatalogMeta {key: 'schema-lock'}) REMOVE l.holder, l.expires_at")
        ready = client.get("/api/v1/health/ready")
        assert ready.status_code == 200 and ready.get_json()["schema"]["version"] == SCHEMA_VERSION
        assert client.get("/api/v1/entities").status_code == 200
    finally:
        app.extensions["trellis.graph"].close()
    assert len(graph.read("MATCH (m:SchemaMigration) RETURN m")) == len(MIGRATIONS)
    from graph import run_stats

    assert [(s["status"], s["count"]) for s in run_stats.read(graph)] == [("partial", 2)]


def test_neo4j_dump_and_load_restore_the_catalog(old_db, tmp_path):
    env = {**old_db["env"]}
    env.pop("NEO4J_URI")
    home = old_db["home"]
    running = trellis("neo4j", "dump", "--home", str(home), str(tmp_path / "x.dump"), env=env)
    assert running.returncode == 1 and "needs it stopped" in running.stderr
    graph = old_db["graph"]
    before = graph.read("MATCH (n) RETURN count(n) AS c")[0]["c"]
    stop(home)
    dumped = trellis("neo4j", "dump", "--home", str(home), str(tmp_path / "backup.dump"), env=env)
    assert dumped.returncode == 0, dumped.stderr
    other = tmp_path / "restored"
    loaded = trellis("neo4j", "load", "--home", str(other), str(tmp_path / "backup.dump"), env=env)
    assert loaded.returncode == 0, loaded.stderr
    refused = trellis("neo4j", "load", "--home", str(other), str(tmp_path / "backup.dump"), env=env)
    assert refused.returncode == 1 and "--force" in refused.stderr
    info = start(other, bolt_port=free_port(), http_port=free_port(), heap="512m", pagecache="64m")
    try:
        with Graph(Settings(uri=info.uri)) as restored:
            assert restored.read("MATCH (n) RETURN count(n) AS c")[0]["c"] == before
            assert schema_version(restored) == SCHEMA_VERSION
    finally:
        stop(other)
        start(home, heap="512m", pagecache="64m", **old_db["ports"])   # the module's server, for later tests
