"""The real Neo4j 5.26 Community server (+ APOC) from servers/neo4j.py (+ graph/server.py), and `trellis neo4j`."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner
from neo4j import GraphDatabase

from app.cli.neo4j_cmd import neo4j as neo4j_cli
from graph import server
from servers import neo4j as local_neo4j

pytestmark = pytest.mark.jvm   # every test here is about, or starts, a Neo4j server


def test_bolt_answers(neo4j_driver):
    records, _, _ = neo4j_driver.execute_query("RETURN 1 AS one", database_="neo4j")
    assert records[0]["one"] == 1


def test_components_report_5_26_community(neo4j_driver):
    records, _, _ = neo4j_driver.execute_query(
        "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition",
        database_="neo4j")
    kernel = {r["name"]: r for r in records}["Neo4j Kernel"]
    assert kernel["versions"][0].startswith("5.26.")
    if not os.environ.get("NEO4J_URI"):  # our own server: exactly the pinned build
        assert kernel["versions"][0] == local_neo4j.neo4j_version()
        assert kernel["edition"] == "community"


def test_apoc_is_loaded(neo4j_driver):
    records, _, _ = neo4j_driver.execute_query("RETURN apoc.version() AS v", database_="neo4j")
    assert records[0]["v"].startswith("5.26.")


def test_apoc_spanning_tree(clean_db):
    records, _, _ = clean_db.execute_query(
        """
        CREATE (a:T {n: 'a'})-[:R]->(b:T {n: 'b'})-[:R]->(c:T {n: 'c'}), (a)-[:R]->(c), (c)-[:R]->(d:T {n: 'd'})
        WITH a
        CALL apoc.path.spanningTree(a, {relationshipFilter: 'R>', maxLevel: 3}) YIELD path
        RETURN [n IN nodes(path) | n.n] AS names
        """,
        database_="neo4j")
    paths = [r["names"] for r in records]
    # a spanning tree reaches each node exactly once, by a shortest path
    assert sorted(p[-1] for p in paths) == ["a", "b", "c", "d"]
    assert ["a", "c"] in paths and ["a", "c", "d"] in paths


def test_data_survives_stop_and_start(tmp_path):
    """A separate small server: write, stop, check status, start again, read back."""
    home = tmp_path / "neo4j-home"
    kwargs = dict(bolt_port=local_neo4j.free_port(), http_port=local_neo4j.free_port(), heap="512m",
                  pagecache="64m")
    try:
        info = server.start(home, **kwargs)
        assert server.start(home, **kwargs) == info  # already running: same server, no second JVM
        with GraphDatabase.driver(info.uri, auth=local_neo4j.credentials(home)) as driver:
            driver.execute_query("CREATE (:Keep {id: 42})", database_="neo4j")
        assert server.status(home)["ready"] is True

        assert local_neo4j.stop(home) is True
        st = server.status(home)
        assert st["running"] is False and st["pid"] is None
        assert local_neo4j.stop(home) is False  # idempotent

        info2 = server.start(home, **kwargs)
        assert info2.pid != info.pid
        with GraphDatabase.driver(info2.uri, auth=local_neo4j.credentials(home)) as driver:
            records, _, _ = driver.execute_query("MATCH (k:Keep) RETURN k.id AS id", database_="neo4j")
        assert [r["id"] for r in records] == [42]
    finally:
        local_neo4j.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def test_cli_status_json_for_the_session_server(neo4j_uri):
    result = CliRunner().invoke(neo4j_cli, ["status", "--json"], env={"NEO4J_URI": neo4j_uri})
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["external"] is True and info["uri"] == neo4j_uri
    assert info["ready"] is True and info["version"].startswith("5.26.")


def test_cli_status_json_when_not_running(tmp_path):
    result = CliRunner().invoke(neo4j_cli, ["status", "--json", "--home", str(tmp_path)],
                                env={"NEO4J_URI": None})
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["running"] is False and info["external"] is False
    assert info["home"] == str(tmp_path.resolve())


def test_cli_start_with_external_uri_starts_nothing(tmp_path):
    result = CliRunner().invoke(neo4j_cli, ["start", "--home", str(tmp_path)],
                                env={"NEO4J_URI": "bolt://127.0.0.1:1"})
    assert result.exit_code == 0
    assert "external" in result.output
    assert not (tmp_path / "conf").exists()


def test_start_failure_is_a_server_error_with_the_log_tail(tmp_path):
    with pytest.raises(local_neo4j.ServerError, match="zzz"):
        server.start(tmp_path / "bad", bolt_port=local_neo4j.free_port(), http_port=local_neo4j.free_port(),
                     heap="256m", pagecache="zzz", timeout=60)
    assert server.status(tmp_path / "bad")["running"] is False


def test_a_child_process_reaches_a_server_this_process_started_whatever_credentials_it_inherited(neo4j_uri):
    """A worker or CLI spawned for a server started here (tests, benchmarks) logs in with that server's
    generated password, even when its parent's environment holds credentials for another server."""
    import subprocess
    import sys
    from pathlib import Path

    if neo4j_uri not in local_neo4j._STARTED:
        pytest.skip("the session uses an external NEO4J_URI")
    inherited = {**os.environ, "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": "another-servers-password"}
    code = "from graph.driver import Graph, Settings; print(Graph(Settings.from_env()).read('RETURN 41 + 1 AS x'))"
    repo = str(Path(__file__).resolve().parents[1])
    wrong = subprocess.run([sys.executable, "-c", code], env={**inherited, "NEO4J_URI": neo4j_uri}, cwd=repo,
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0   # the inherited credentials are not this server's
    env = local_neo4j.env_for(neo4j_uri, inherited)
    assert "another-servers-password" not in env.values() and "NEO4J_PASSWORD" not in env
    child = subprocess.run([sys.executable, "-c", code], env=env, cwd=repo, capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 0 and "42" in child.stdout, child.stderr[-2000:]
