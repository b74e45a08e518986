"""Shared pytest fixtures.

Sections (add new fixtures under the matching heading):
  1. Neo4j server  - one real Neo4j 5.26 (+ APOC) per test session, or $NEO4J_URI.
  2. Neo4j access  - driver and database-wiping helpers built on section 1.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from neo4j import Driver, GraphDatabase

# --------------------------------------------------------------------- 1. Neo4j server


def neo4j_auth() -> tuple[str, str] | None:
    """Credentials for $NEO4J_URI (NEO4J_USER/NEO4J_PASSWORD); the local server has auth off."""
    user = os.environ.get("NEO4J_USER")
    return (user, os.environ.get("NEO4J_PASSWORD", "")) if user else None


@pytest.fixture(scope="session")
def neo4j_uri() -> Iterator[str]:
    """Bolt URI of the session's Neo4j.

    $NEO4J_URI if set; otherwise ONE throwaway local server (graph.server) in a temp
    home on free ports, reusing the provisioned jars, stopped and deleted at the end.
    """
    external = os.environ.get("NEO4J_URI")
    if external:
        yield external
        return
    from graph.server import free_port, start, stop

    home = Path(tempfile.mkdtemp(prefix="trellis-test-neo4j-"))
    try:
        info = start(home, bolt_port=free_port(), http_port=free_port(), heap="1g", pagecache="256m")
        yield info.uri
    finally:
        stop(home)
        shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------- 2. Neo4j access


@pytest.fixture(scope="session")
def neo4j_driver(neo4j_uri: str) -> Iterator[Driver]:
    """One `neo4j.Driver` for the whole session (drivers are pooled and thread-safe)."""
    driver = GraphDatabase.driver(neo4j_uri, auth=neo4j_auth())
    driver.verify_connectivity()
    yield driver
    driver.close()


@pytest.fixture
def clean_db(neo4j_driver: Driver) -> Driver:
    """Empty the `neo4j` database before the test (nodes and relationships; schema kept)."""
    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n", database_="neo4j")
    return neo4j_driver


# --------------------------------------------------------------------- 3. Catalog graph (graph.driver)


@pytest.fixture(autouse=True)
def _isolated_git_cache(tmp_path_factory, monkeypatch) -> None:
    """Git clones made by ingestion go to a per-session temp dir, never the user's cache."""
    monkeypatch.setenv("TRELLIS_CACHE", str(tmp_path_factory.getbasetemp() / "trellis-cache"))


@pytest.fixture(scope="session")
def graph_session(neo4j_uri: str):
    """The product's own connection (schema applied), shared by the session."""
    from graph.driver import Settings, connect

    auth = neo4j_auth()
    graph = connect(Settings(uri=neo4j_uri, user=auth[0] if auth else None, password=auth[1] if auth else None))
    yield graph
    graph.close()


@pytest.fixture
def graph(graph_session, clean_db):
    """A connected catalog graph over an empty database."""
    return graph_session


@pytest.fixture(scope="module")
def graph_module(graph_session, neo4j_driver):
    """An empty database shared by one module's tests (for read-only tests over one loaded catalog)."""
    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n", database_="neo4j")
    return graph_session
