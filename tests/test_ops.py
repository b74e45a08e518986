"""Operating the portal: health, liveness and readiness; /metrics behind its token; JSON logs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servers.base import free_port
from tests.portal_helpers import OPEN_PORTAL

REPO = Path(__file__).resolve().parents[1]
TOKEN = "metrics-token-0123456789abcdef"


def make_app(**config):
    from app import create_app

    return create_app({"TESTING": True, **OPEN_PORTAL, **config})


@pytest.fixture
def down_app():
    """A portal whose Neo4j is down, configured with a password and an address an attacker would like."""
    port = free_port()
    app = make_app(NEO4J_URI=f"bolt://127.0.0.1:{port}", NEO4J_USER="neo4j", NEO4J_PASSWORD="hunter2-pw")
    yield app, port
    app.extensions["trellis.graph"].close()


def test_health_errors_never_show_the_database_address_or_credentials(down_app):
    app, port = down_app
    client = app.test_client()
    for path in ("/api/v1/health", "/api/v1/health/ready", "/api/v1/entities", "/catalog"):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 503, (path, response.status_code)
        text = response.get_data(as_text=True)
        assert str(port) not in text and "127.0.0.1" not in text and "hunter2" not in text, (path, text)
        if path.startswith("/api/"):
            assert response.get_json()["error"]["code"] == "graph_unavailable"


def test_liveness_stays_up_while_readiness_follows_neo4j(down_app, neo4j_uri):
    app, _ = down_app
    client = app.test_client()
    live = client.get("/api/v1/health/live")
    assert live.status_code == 200 and live.get_json()["live"] is True
    ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 503 and ready.get_json()["ready"] is False and ready.get_json()["neo4j"] == "down"
    up = make_app(NEO4J_URI=neo4j_uri)
    try:
        body = up.test_client().get("/api/v1/health/ready").get_json()
        from graph.migrations import SCHEMA_VERSION

        assert body["ready"] is True and body["schema"]["version"] == SCHEMA_VERSION
    finally:
        up.extensions["trellis.graph"].close()


@pytest.fixture
def metrics_app(graph, neo4j_uri, redis_url, monkeypatch):
    monkeypatch.setenv("TRELLIS_REDIS_URL", redis_url)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = make_app(NEO4J_URI=neo4j_uri, TRELLIS_METRICS_TOKEN=TOKEN)
    yield app
    app.extensions["trellis.graph"].close()


def test_metrics_are_never_public(metrics_app, neo4j_uri, monkeypatch):
    client = metrics_app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN[:-1]}"}, {"Cookie": "session=x"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert b"trellis_" not in response.data and response.get_json()["error"]["code"] == "unauthorized"
    # no token configured: there is no /metrics at all (not an open one)
    monkeypatch.delenv("TRELLIS_METRICS_TOKEN", raising=False)
    off = make_app(NEO4J_URI=neo4j_uri)
    try:
        response = off.test_client().get("/metrics", headers={"Authorization": "Bearer "})
        assert response.status_code == 404 and b"trellis_" not in response.data
    finally:
        off.extensions["trellis.graph"].close()


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics_report_requests_runs_queue_and_pool(metrics_app, graph, redis_url):
    import redis

    from graph.runs import record_run

    now = int(time.time() * 1000)
    for i, (status, seconds) in enumerate((("ok", 0.4), ("ok", 20.0), ("failed", 3.0))):
        record_run(graph, {"id": f"run-{i}", "source": "s", "name": "s", "status": status,
                           "started_at": now - 60_000, "finished_at": now - 30_000, "seconds": seconds})
    client = redis.Redis.from_url(redis_url)
    client.delete("docs")
    client.rpush("docs", "a", "b", "c")
    try:
        app_client = metrics_app.test_client()
        assert app_client.get("/api/v1/entities?limit=1").status_code == 200
        response = app_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        client.delete("docs")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = _samples(response.get_data(as_text=True))
    assert samples['trellis_http_request_duration_seconds_count{method="GET",route="/api/v1/entities",'
                   'status="200"}'] >= 1
    assert samples['trellis_ingest_runs_total{status="ok"}'] == 2
    assert samples['trellis_ingest_runs_total{status="failed"}'] == 1
    assert samples['trellis_ingest_run_duration_seconds_bucket{le="5.0",status="ok"}'] == 1
    assert samples['trellis_ingest_run_duration_seconds_bucket{le="+Inf",status="ok"}'] == 2
    assert samples['trellis_ingest_run_duration_seconds_sum{status="ok"}'] == pytest.approx(20.4)
    assert samples['trellis_queue_depth{queue="docs"}'] == 3
    assert samples["trellis_neo4j_up"] == 1 and samples["trellis_redis_up"] == 1
    assert samples['trellis_neo4j_pool_connections{state="in_use"}'] >= 0
    assert samples["trellis_neo4j_pool_max_connections"] > 0
    # a second scrape does not count the same runs again
    again = _samples(metrics_app.test_client().get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True))
    assert again['trellis_ingest_runs_total{status="ok"}'] == 2


def test_json_logs_one_object_per_line_with_the_request(neo4j_uri, tmp_path):
    script = (
        "from app.logging_setup import configure_logging; configure_logging()\n"
        "from app import create_app\n"
        f"app = create_app({{'TESTING': True, 'NEO4J_URI': {neo4j_uri!r}, 'TRELLIS_ENV': 'development', "
        "'TRELLIS_GUEST_ROLE': 'viewer'})\n"
        "assert app.test_client().get('/api/v1/health/live').status_code == 200\n"
        "import logging; logging.getLogger('trellis.test').error('boom', exc_info=ValueError('bad'))\n"
    )
    env = {**os.environ, "TRELLIS_LOG_FORMAT": "json", "TRELLIS_STATE_DIR": str(tmp_path),
           "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]   # every line is JSON
    access = [r for r in records if r["logger"] == "trellis.access"]
    assert access and access[0]["http"]["route"] == "/api/v1/health/live" and access[0]["http"]["status"] == 200
    boom = next(r for r in records if r["message"] == "boom")
    assert boom["level"] == "error" and "ValueError: bad" in boom["exception"]
    bad = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "migrate", "--status"],
                         env={**env, "TRELLIS_LOG_FORMAT": "yaml"}, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "TRELLIS_LOG_FORMAT" in bad.stderr
