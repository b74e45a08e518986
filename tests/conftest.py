"""Shared pytest fixtures.

Sections (add new fixtures under the matching heading):
  1. Neo4j server  - one real Neo4j 5.26 (+ APOC) per test session, or $NEO4J_URI.
  2. Neo4j access  - driver and database-wiping helpers built on section 1.
  3. Catalog graph - the product's own connection (graph.driver).
  4. Portal        - the Flask app over the demo catalog (pages, browser tests).
  5. Redis         - the job broker.
  6. Markers       - `jvm`, `browser`, `slow`, applied from the fixtures a test uses.
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
    """Credentials for $NEO4J_URI (NEO4J_USER/NEO4J_PASSWORD); the session's own server sets them from the
    password it generated (servers.neo4j.credentials), so child processes inherit them too."""
    user = os.environ.get("NEO4J_USER")
    return (user, os.environ.get("NEO4J_PASSWORD", "")) if user else None


@pytest.fixture(scope="session")
def neo4j_uri() -> Iterator[str]:
    """Bolt URI of the session's Neo4j.

    $NEO4J_URI if set; otherwise ONE throwaway local server (servers.neo4j) in a temp
    home on free ports, reusing the provisioned jars, stopped and deleted at the end.
    """
    external = os.environ.get("NEO4J_URI")
    if external:
        yield external
        return
    from graph.server import start
    from servers.neo4j import credentials, free_port, stop

    home = Path(tempfile.mkdtemp(prefix="trellis-test-neo4j-"))
    saved = {k: os.environ.get(k) for k in ("NEO4J_USER", "NEO4J_PASSWORD")}
    try:
        info = start(home, bolt_port=free_port(), http_port=free_port(), heap="1g", pagecache="256m")
        os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"] = credentials(home)
        yield info.uri
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
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


def _forget_catalog_version() -> None:
    """The database was wiped behind the write path's back: drop the read caches keyed on its version."""
    from graph import versioned

    versioned.clear()


@pytest.fixture
def clean_db(neo4j_driver: Driver) -> Driver:
    """Empty the `neo4j` database before the test (nodes and relationships; schema kept)."""
    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n", database_="neo4j")
    _forget_catalog_version()
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
    _forget_catalog_version()
    return graph_session


# --------------------------------------------------------------------- 4. Portal (Flask app over the demo catalog)

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "demo-catalog"


@pytest.fixture(scope="module")
def demo_catalog(graph_module):
    """The demo catalog ingested into an emptied database, once per module (read-only tests)."""
    from ingest.sync import ingest

    result = ingest(graph_module, str(DEMO_CATALOG))
    assert result.added == 117 and len(result.rejected) == 1, result.as_json()
    return result


@pytest.fixture(scope="module")
def location_root(tmp_path_factory) -> Path:
    """A folder the portal may register locations from (TRELLIS_LOCATION_ROOTS)."""
    return tmp_path_factory.mktemp("locations")


from tests.portal_helpers import OPEN_PORTAL, with_csrf  # noqa: E402


@pytest.fixture(scope="module")
def portal_app(neo4j_uri, demo_catalog, location_root):
    """The portal (create_app) on the session's Neo4j, with the demo catalog loaded."""
    from app import create_app

    auth = neo4j_auth()
    config = {"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_LOCATION_ROOTS": [str(location_root)],
              **OPEN_PORTAL}
    if auth:
        config.update(NEO4J_USER=auth[0], NEO4J_PASSWORD=auth[1])
    app = create_app(config)
    yield app
    app.extensions["trellis.graph"].close()


@pytest.fixture
def portal_client(portal_app):
    return with_csrf(portal_app.test_client())


# --------------------------------------------------------------------- 5. Redis (the job broker)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """URL of a throwaway project-local redis-server (servers.redis) on a free port, or
    $TRELLIS_TEST_REDIS_URL; stopped at the end of the session."""
    external = os.environ.get("TRELLIS_TEST_REDIS_URL")
    if external:
        yield external
        return
    from servers import redis as redis_local

    home = tmp_path_factory.mktemp("redis")
    info = redis_local.start(home, port=0)
    try:
        yield info.url
    finally:
        redis_local.stop(home)


# --------------------------------------------------------------------- 6. Markers

from tests.support.browser import chromium  # noqa: E402,F401  (the shared browser fixture)

# A test that uses one of these fixtures (directly or through another fixture) gets the marker; files whose
# tests start a JVM or a browser themselves set `pytestmark` instead.
JVM_FIXTURES = frozenset({
    "neo4j_uri",                            # the session's Neo4j (section 1)
    "oidc_provider",                        # Keycloak (tests/idp)
    "own_server", "dev_server", "old_db",   # a Neo4j of their own: test_api_recovery, attacks/test_dev_neo4j,
                                            # test_migrate
})
BROWSER_FIXTURES = frozenset({"chromium"})                      # tests/support/browser.py
SLOW_FIXTURES = frozenset({
    "deployment", "wheel",                  # test_packaging: builds, installs and runs the wheel
    "jobs_env", "worker", "worker_env",     # Celery worker processes (test_jobs_worker, test_techdocs_worker,
                                            # test_scaffolder_worker)
    "old_db",                               # test_migrate: web, worker and beat processes over a restored dump
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in (("jvm", JVM_FIXTURES), ("browser", BROWSER_FIXTURES), ("slow", SLOW_FIXTURES)):
            if used & fixtures and not item.get_closest_marker(marker):
                item.add_marker(marker)
