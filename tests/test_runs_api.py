"""Ingest runs in the REST API (/api/v1/ingest/...), the portal's Runs pages (live progress in Chromium) and
the CLI (`trellis runs`, `trellis sync`), over the demo catalog's recorded run and runs made here."""
from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from graph import sources
from graph import runs as graph_runs
from servers.base import free_port
from tests.support.live_server import LiveServer


@pytest.fixture(scope="module")
def sources_file(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("runs-config")
    (work / "inventory.yaml").write_text("services: []\n")
    file = work / "trellis.yaml"
    file.write_text(textwrap.dedent("""
        sources:
          - name: inventory
            provider: example-inventory
            schedule: "*/10 * * * *"
            options: {path: inventory.yaml}
          - name: demo
            provider: git
            options: {target: /nowhere}
    """))
    return file


@pytest.fixture
def jobs(monkeypatch, redis_url, sources_file, portal_app):
    """TRELLIS_CONFIG (as the session's portal had read it at start) and a Celery app on the session's Redis
    (emptied: no lock or message left over)."""
    import dataclasses

    import redis

    from app import settings
    from ingest.jobs import celery_app
    from ingest.jobs.config import load_config

    monkeypatch.setenv("TRELLIS_REDIS_URL", redis_url)
    monkeypatch.setenv("TRELLIS_CONFIG", str(sources_file))
    monkeypatch.setitem(portal_app.extensions, settings.EXTENSION, dataclasses.replace(
        settings.current(portal_app), config_file=str(sources_file), sources=load_config(sources_file)))
    redis.Redis.from_url(redis_url).flushdb()
    monkeypatch.setattr(celery_app, "app", celery_app.make_app())
    return redis_url


@pytest.fixture
def demo_run(portal_client):
    items = portal_client.get("/api/v1/ingest/runs?limit=500").get_json()["items"]
    return next(r for r in items if r["target"] and r["target"].endswith("demo-catalog"))


def test_runs_list_with_filters_and_paging(portal_client, demo_run):
    assert demo_run["status"] == "partial" and demo_run["trigger"] == "manual"
    assert demo_run["counts"]["rejected"] == 1 and demo_run["progress"]["stage"] == "done"
    body = portal_client.get("/api/v1/ingest/runs?status=partial&limit=1").get_json()
    assert body["limit"] == 1 and body["offset"] == 0 and body["total"] >= 1
    assert all(r["status"] == "partial" for r in body["items"])
    none = portal_client.get("/api/v1/ingest/runs?status=skipped&source=nothing-like-this").get_json()
    assert none == {"items": [], "total": 0, "limit": 50, "offset": 0, "next_offset": None}
    by_source = portal_client.get("/api/v1/ingest/runs", query_string={"source": demo_run["source"]}).get_json()
    assert demo_run["id"] in [r["id"] for r in by_source["items"]]


def test_bad_filters_are_clear_400s(portal_client):
    res = portal_client.get("/api/v1/ingest/runs?status=exploded")
    assert res.status_code == 400
    assert "status must be one of queued, running" in res.get_json()["error"]["message"]
    assert portal_client.get("/api/v1/ingest/runs?limit=0").status_code == 400
    assert portal_client.get("/api/v1/ingest/runs?offset=-1").status_code == 400


def test_one_run_with_its_rejections(portal_client, demo_run):
    run = portal_client.get(f"/api/v1/ingest/runs/{demo_run['id']}").get_json()
    assert run["rejected"][0]["reason"] and run["rejected"][0]["file"]
    missing = portal_client.get("/api/v1/ingest/runs/doesnotexist")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_sync_queues_a_run_once_and_reports_the_second_trigger(portal_client, portal_app, jobs):
    res = portal_client.post("/api/v1/ingest/sources/inventory/sync")
    assert res.status_code == 202, res.get_json()
    body = res.get_json()
    assert body["status"] == "queued" and res.headers["Location"] == f"/api/v1/ingest/runs/{body['run']}"
    queued = portal_client.get(body["url"]).get_json()
    assert (queued["status"], queued["trigger"], queued["name"]) == ("queued", "manual", "inventory")
    again = portal_client.post("/api/v1/ingest/sources/inventory/sync")
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "sync_in_progress" and error["details"]["running"] == body["run"]
    skipped = portal_client.get(f"/api/v1/ingest/runs/{error['details']['run']}").get_json()
    assert skipped["status"] == "skipped"
    # the message really is on the broker, for a worker to take
    import redis
    assert redis.Redis.from_url(jobs).llen("celery") == 1


def test_sync_of_an_unknown_source_or_without_a_broker(portal_client, jobs, monkeypatch):
    res = portal_client.post("/api/v1/ingest/sources/nope/sync")
    assert res.status_code == 404 and res.get_json()["error"]["code"] == "unknown_source"
    assert "configured sources: inventory, demo" in res.get_json()["error"]["message"]
    from ingest.jobs import celery_app

    monkeypatch.setenv("TRELLIS_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(celery_app, "app", celery_app.make_app())
    down = portal_client.post("/api/v1/ingest/sources/demo/sync")
    assert down.status_code == 503 and down.get_json()["error"]["code"] == "jobs_unavailable"


def test_configured_sources_are_listed(portal_client, jobs):
    items = portal_client.get("/api/v1/ingest/sources").get_json()["items"]
    assert [(s["name"], s["provider"], s["schedule"]) for s in items] == [
        ("inventory", "example-inventory", "*/10 * * * *"), ("demo", "git", None)]


def test_runs_are_documented_in_openapi(portal_client):
    doc = portal_client.get("/api/v1/openapi.json").get_json()
    params = {p["name"] for p in doc["paths"]["/ingest/runs"]["get"]["parameters"]}
    assert {"source", "status", "limit", "offset"} <= params
    assert "202" in doc["paths"]["/ingest/sources/{name}/sync"]["post"]["responses"]
    assert "409" in doc["paths"]["/ingest/sources/{name}/sync"]["post"]["responses"]


def test_runs_page_and_run_page(portal_client, demo_run, jobs):
    page = portal_client.get("/runs").get_data(as_text=True)
    assert 'href="/runs"' in page and "aria-current" in page
    assert f'href="/runs/{demo_run["id"]}"' in page
    assert "Configured sources" in page and 'data-sync-source="inventory"' in page
    assert "<code>*/10 * * * *</code> (UTC)" in page
    detail = portal_client.get(f"/runs/{demo_run['id']}").get_data(as_text=True)
    assert "Rejected documents (1)" in detail
    assert portal_client.get("/runs/doesnotexist").status_code == 404
    assert portal_client.get("/runs?status=exploded").status_code == 400


# ------------------------------------------------------------------------------------ live progress


@pytest.fixture(scope="module")
def base_url(portal_app):
    with LiveServer(portal_app) as server:
        yield server.url


def test_running_run_shows_live_progress_in_the_browser(portal_app, base_url, chromium):
    from playwright.sync_api import expect

    graph = portal_app.extensions["trellis.graph"]
    now = int(time.time() * 1000)
    graph_runs.record_run(graph, {"id": "live00000001", "source": "inventory", "name": "inventory", "target": "t",
                             "trigger": "schedule", "status": "running", "started_at": now})
    sources.record_progress(graph, "live00000001", "fetching", 3, 10)
    page = chromium.new_page(base_url=base_url)
    try:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/runs")
        row = page.locator('tr[data-run="live00000001"]')
        expect(row.locator('[data-field="stage"]')).to_have_text("fetching 3/10")
        sources.record_progress(graph, "live00000001", "writing entities", 7, 12)
        expect(row.locator('[data-field="stage"]')).to_have_text("writing entities 7/12", timeout=10_000)
        assert row.locator("progress").get_attribute("max") == "12"
        graph_runs.record_run(graph, {"id": "live00000001", "status": "ok", "added": 12, "finished_at": now + 5000,
                                 "seconds": 5.0, "progress_stage": "done"})
        expect(row.locator('[data-field="status"]')).to_have_text("ok", timeout=10_000)
        expect(row.locator('[data-field="counts"]')).to_have_text("12 / 0 / 0 / 0")
        assert row.get_attribute("data-live") is None   # polling stopped
        assert not errors, errors
    finally:
        page.close()


# ------------------------------------------------------------------------------------ CLI


def test_cli_runs_and_sync(portal_app, neo4j_uri, monkeypatch, jobs, demo_run):
    from app.cli import main

    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    runner = CliRunner()
    listed = runner.invoke(main, ["runs", "--json", "--limit", "500"])
    assert listed.exit_code == 0, listed.output
    assert demo_run["id"] in [r["id"] for r in json.loads(listed.output)["items"]]
    table = runner.invoke(main, ["runs", "--status", "partial"])
    assert table.exit_code == 0 and demo_run["id"] in table.output and "partial" in table.output
    unknown = runner.invoke(main, ["sync", "nope"])
    assert unknown.exit_code == 1 and "unknown source 'nope'" in unknown.output
    queued = runner.invoke(main, ["sync", "demo", "--json"])
    assert queued.exit_code == 0, queued.output
    assert json.loads(queued.output)["status"] == "queued"
    twice = runner.invoke(main, ["sync", "demo"])
    assert twice.exit_code == 1 and "already has a run queued or in progress" in twice.output


def test_a_running_run_without_progress_for_long_is_flagged_stale(portal_client, portal_app):
    graph = portal_app.extensions["trellis.graph"]
    long_ago = int(time.time() * 1000) - 20 * 60 * 1000
    graph_runs.record_run(graph, {"id": "stale0000001", "source": "s", "name": "s", "target": "t", "trigger": "schedule",
                             "status": "running", "started_at": long_ago, "updated_at": long_ago})
    graph_runs.record_run(graph, {"id": "fresh0000001", "source": "s", "name": "s", "target": "t", "trigger": "schedule",
                             "status": "running", "started_at": long_ago})
    sources.record_progress(graph, "fresh0000001", "fetching", 1, 2)   # moved just now
    assert portal_client.get("/api/v1/ingest/runs/stale0000001").get_json()["stale"] is True
    assert portal_client.get("/api/v1/ingest/runs/fresh0000001").get_json()["stale"] is False
    assert "stalled" in portal_client.get("/runs/stale0000001").get_data(as_text=True)
