"""The project-local development Neo4j (servers.neo4j): what another local process or a web page could do.

The attacker is any process on the developer's machine, or a web page the developer opens (browsers send
cross-origin requests to localhost ports): with auth off, an HTTP connector and unrestricted APOC, either
could read the catalog, write it, or read files and fetch URLs through APOC.
"""
from __future__ import annotations

import shutil
import socket
import stat

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, ClientError

from graph import server
from servers import neo4j as local_neo4j


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("dev-neo4j")
    kwargs = dict(bolt_port=local_neo4j.free_port(), http_port=local_neo4j.free_port(), heap="512m",
                  pagecache="64m")
    try:
        yield home, server.start(home, **kwargs), kwargs
    finally:
        local_neo4j.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def test_the_dev_server_refuses_unauthenticated_and_wrong_password_logins(dev_server):
    home, info, _ = dev_server
    for auth in (None, ("neo4j", "neo4j"), ("neo4j", "password")):
        with GraphDatabase.driver(info.uri, auth=auth) as driver, pytest.raises(AuthError):
            driver.execute_query("MATCH (n) RETURN count(n)", database_="neo4j")
    password = home / "auth" / "password"
    assert stat.S_IMODE(password.stat().st_mode) == 0o600, "the generated password is readable by others"
    # every command finds the password: the product's own connection, given only the URI
    from graph.driver import Graph, Settings

    with Graph(Settings(uri=info.uri)) as graph:
        assert graph.read("RETURN 1 AS one")[0]["one"] == 1


def test_the_dev_server_has_no_http_port_for_web_pages(dev_server):
    _, info, _ = dev_server
    assert not _listening(info.http_port), f"Neo4j's HTTP API answers on 127.0.0.1:{info.http_port}"


def _auth(home):
    """The home's credentials (None on a server without them, as before the hardening)."""
    return getattr(local_neo4j, "credentials", lambda _home: None)(home)


def test_apoc_offers_only_what_trellis_calls(dev_server):
    home, info, _ = dev_server
    with GraphDatabase.driver(info.uri, auth=_auth(home)) as driver:
        for query in ("CALL apoc.load.json('file:///etc/passwd')",
                      "RETURN apoc.cypher.runFirstColumnSingle('RETURN 1', {})",
                      "CALL apoc.export.csv.all('x.csv', {})"):
            with pytest.raises(ClientError):
                driver.execute_query(query, database_="neo4j")
        records, _, _ = driver.execute_query(
            "CREATE (a:T)-[:R]->(b:T) WITH a CALL apoc.path.spanningTree(a, {relationshipFilter: 'R>'}) "
            "YIELD path RETURN count(path) AS n, apoc.version() AS v", database_="neo4j")
        assert records[0]["n"] == 2 and records[0]["v"].startswith("5.26.")


def test_the_password_survives_a_restart(dev_server):
    home, info, kwargs = dev_server
    before = _auth(home)
    assert before is not None, "the server has no password"
    local_neo4j.stop(home)
    again = server.start(home, **kwargs)
    assert _auth(home) == before
    with GraphDatabase.driver(again.uri, auth=before) as driver:
        assert driver.execute_query("RETURN 1 AS one", database_="neo4j").records[0]["one"] == 1
