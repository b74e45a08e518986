"""The CI card on entity pages and GET /api/v1/entities/by-name/{kind}/{namespace}/{name}/builds."""
from __future__ import annotations

import pytest

from graph import builds as graph_builds

REF = "component:default/storefront-web"


def _build(i: int, status: str, **over) -> dict:
    return {"key": f"jenkins:web/storefront:{i}", "provider": "jenkins", "id": str(i), "name": f"#{i}", "number": i,
            "status": status, "branch": "main", "commit": f"{i:040d}", "started_at": 1_790_000_000_000 + i * 60_000,
            "duration_ms": 125_000, "url": f"https://jenkins.example.com/job/web/job/storefront/{i}/", **over}


@pytest.fixture(scope="module")
def with_builds(portal_app):
    graph = portal_app.extensions["trellis.graph"]
    builds = [_build(1, "succeeded"), _build(2, "failed"), _build(3, "succeeded"), _build(4, "failed"),
              _build(5, "cancelled"), _build(6, "running", duration_ms=None, url="javascript:alert(1)")]
    graph_builds.load_builds(graph, "ci-portal-test", "run1", [{"ref": REF, "builds": builds}])
    yield graph
    graph.write("MATCH (b:Build) DETACH DELETE b")


def test_builds_api_returns_newest_first_with_health(portal_client, with_builds):
    resp = portal_client.get("/api/v1/entities/by-name/component/default/storefront-web/builds")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["entity"] == REF
    assert [b["id"] for b in body["builds"]] == ["6", "5", "4", "3", "2", "1"]
    assert body["health"]["last_status"] == "running" and body["health"]["last_finished_status"] == "failed"
    assert body["health"]["failure_rate"] == 0.5 and body["health"]["failures"] == 2
    limited = portal_client.get("/api/v1/entities/by-name/component/default/storefront-web/builds?limit=2")
    assert [b["id"] for b in limited.get_json()["builds"]] == ["6", "5"]
    other = portal_client.get("/api/v1/entities/by-name/component/default/storefront-web/builds?provider=gitlab")
    assert other.get_json()["builds"] == [] and other.get_json()["health"]["failure_rate"] is None


@pytest.mark.parametrize("query,status,code", [
    ("?limit=0", 400, "invalid_parameter"), ("?limit=x", 400, "invalid_parameter"),
    ("?provider=travis", 400, "invalid_parameter"),
])
def test_builds_api_rejects_bad_parameters(portal_client, with_builds, query, status, code):
    resp = portal_client.get(f"/api/v1/entities/by-name/component/default/storefront-web/builds{query}")
    assert resp.status_code == status and resp.get_json()["error"]["code"] == code


def test_builds_api_unknown_entity_is_404(portal_client):
    resp = portal_client.get("/api/v1/entities/by-name/component/default/no-such-thing/builds")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_builds_endpoint_is_documented(portal_client):
    doc = portal_client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/entities/by-name/{kind}/{namespace}/{name}/builds"]["get"]
    assert op["operationId"] == "getEntityBuilds"
    assert {p["name"] for p in op["parameters"]} == {"kind", "namespace", "name", "limit", "provider"}


def test_entity_page_shows_the_ci_card(portal_client, with_builds):
    html = portal_client.get("/catalog/default/component/storefront-web").get_data(as_text=True)
    assert 'id="ci"' in html
    assert 'data-ci-last="running"' in html and 'data-ci-failure-rate="0.5"' in html
    assert "50%" in html and "(2 of 4 finished builds failed)" in html
    assert "https://jenkins.example.com/job/web/job/storefront/5/" in html
    assert "javascript:alert" not in html               # unsafe build links are not rendered as links
    assert "2m 05s" in html                              # durations shown readably
    assert "/job/web/job/storefront/1/" not in html      # only the newest five are listed


def test_entity_with_ci_annotation_but_no_builds_says_so(portal_client, with_builds):
    html = portal_client.get("/catalog/default/component/checkout-ui-kit").get_data(as_text=True)
    assert 'id="ci"' in html and "No builds recorded yet" in html


def test_entity_without_ci_has_no_card(portal_client, with_builds):
    html = portal_client.get("/catalog/default/group/checkout-team").get_data(as_text=True)
    assert "checkout-team" in html and 'id="ci"' not in html
