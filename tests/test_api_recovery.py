"""Neo4j going away and coming back: the API answers 503 (JSON) meanwhile and recovers by itself."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from app import create_app
from tests.portal_helpers import OPEN_PORTAL
from graph.server import start
from servers.neo4j import free_port, stop


@pytest.fixture
def own_server():
    home = Path(tempfile.mkdtemp(prefix="trellis-recovery-"))
    ports = {"bolt_port": free_port(), "http_port": free_port()}
    info = start(home, heap="512m", pagecache="64m", **ports)
    yield home, ports, info.uri
    stop(home)
    shutil.rmtree(home, ignore_errors=True)


def test_503_while_down_then_recovers(own_server):
    home, ports, uri = own_server
    app = create_app({"NEO4J_URI": uri, "TESTING": True, **OPEN_PORTAL})
    client = app.test_client()
    try:
        assert client.get("/api/v1/health").status_code == 200
        assert client.get("/api/v1/entities").status_code == 200
        stop(home)
        down = client.get("/api/v1/entities?filter=kind=component")
        assert down.status_code == 503 and down.headers["Retry-After"] == "5"
        assert down.get_json()["error"]["code"] == "graph_unavailable"
        health = client.get("/api/v1/health")
        assert health.status_code == 503 and health.get_json()["neo4j"] == "down"
        start(home, heap="512m", pagecache="64m", **ports)
        assert client.get("/api/v1/health").status_code == 200
        assert client.get("/api/v1/entities?filter=kind=component").status_code == 200
    finally:
        app.extensions["trellis.graph"].close()


def test_app_starts_while_neo4j_is_down():
    app = create_app({"NEO4J_URI": f"bolt://127.0.0.1:{free_port()}", "TESTING": True, **OPEN_PORTAL})
    try:
        response = app.test_client().get("/api/v1/entities/by-name/component/default/x")
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "graph_unavailable"
    finally:
        app.extensions["trellis.graph"].close()
