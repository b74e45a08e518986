"""URL locations through the portal: POST /api/v1/locations, refresh, and the Register page's analyze step."""
from __future__ import annotations

import dataclasses

import pytest

from app import settings
from ingest.integrations import parse_integrations
from tests.support.url_hosts import FileHost

COMPONENT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec: {{type: service, lifecycle: production, owner: team-a}}
"""
EVIL_GROUP = """\
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: url-admins}
spec: {type: team, children: [], members: [mallory]}
"""


@pytest.fixture
def github(portal_app, monkeypatch):
    with FileHost("github", prefix="/api/v3") as gh:
        hosts = parse_integrations({"integrations": {
            "github": [{"host": gh.url.split("://")[1], "apiBaseUrl": gh.url + "/api/v3"}]}})
        monkeypatch.setitem(portal_app.config, "TRELLIS_INTEGRATIONS", hosts)
        monkeypatch.setitem(portal_app.extensions, settings.EXTENSION,
                            dataclasses.replace(settings.current(portal_app), integrations=hosts))
        yield gh


def test_register_by_url_through_the_api_then_refresh_costs_a_304(portal_client, github):
    github.add("acme/url-api", "catalog-info.yaml", COMPONENT.format(name="url-api-svc") + EVIL_GROUP)
    url = f"{github.url}/acme/url-api/blob/main/catalog-info.yaml"
    dry = portal_client.post("/api/v1/locations?dryRun=true", json={"target": url})
    assert dry.status_code == 200 and dry.json["added"] == 1 and dry.json["dry_run"]
    assert portal_client.get("/api/v1/entities/by-name/component/default/url-api-svc").status_code == 404
    made = portal_client.post("/api/v1/locations", json={"target": url})
    assert made.status_code == 201 and made.json["added"] == 1
    assert [r["ref"] for r in made.json["rejected"]] == ["group:default/url-admins"]   # catalog rules apply
    entity = portal_client.get("/api/v1/entities/by-name/component/default/url-api-svc").json
    assert entity["metadata"]["annotations"]["backstage.io/managed-by-origin-location"] == f"url:{url}"
    github.log.clear()
    refreshed = portal_client.post("/api/v1/entities/by-name/component/default/url-api-svc/refresh")
    assert refreshed.status_code == 200 and refreshed.json["unchanged"] == 1
    assert [s for _, _, s in github.log] == [304]
    page = portal_client.get("/catalog/default/component/url-api-svc").get_data(as_text=True)
    assert f'href="{github.url}/acme/url-api/edit/main/catalog-info.yaml"' in page


def test_an_unconfigured_host_is_a_400_with_the_rule(portal_client, github):
    response = portal_client.post("/api/v1/locations",
                                  json={"target": "https://files.example.org/acme/catalog-info.yaml"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "location_not_allowed"
    assert "not on a configured integration host" in response.json["error"]["message"]


def test_the_register_page_analyzes_before_registering(portal_client, github):
    github.add("acme/url-page", "catalog-info.yaml", COMPONENT.format(name="url-page-svc"))
    url = f"{github.url}/acme/url-page/blob/main/catalog-info.yaml"
    form = portal_client.get("/register").get_data(as_text=True)
    assert 'value="analyze"' in form
    analyzed = portal_client.post("/register", data={"target": url, "action": "analyze"}).get_data(as_text=True)
    assert "Analysis: registering would do this" in analyzed and "Nothing was stored" in analyzed
    assert portal_client.get("/api/v1/entities/by-name/component/default/url-page-svc").status_code == 404
    registered = portal_client.post("/register", data={"target": url, "action": "register"})
    assert registered.status_code == 200 and "Registered" in registered.get_data(as_text=True)
    assert portal_client.get("/api/v1/entities/by-name/component/default/url-page-svc").status_code == 200


MCP_API = """\
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: url-mcp-tools
  title: Tools for assistants
spec:
  type: mcp-server
  lifecycle: experimental
  owner: team-a
  remotes:
    - type: streamable-http
      url: https://mcp.acme.example/api/mcp/v1
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: url-mcp-broken
spec:
  type: mcp-server
  lifecycle: experimental
  owner: team-a
"""


def test_an_mcp_server_api_has_remotes_and_no_definition(portal_client, github):
    github.add("acme/url-mcp", "catalog-info.yaml", MCP_API)
    made = portal_client.post("/api/v1/locations",
                              json={"target": f"{github.url}/acme/url-mcp/blob/main/catalog-info.yaml"})
    assert made.status_code == 201 and made.json["added"] == 1
    assert [(r["ref"], r["field"]) for r in made.json["rejected"]] == [("api:default/url-mcp-broken", "spec.remotes")]
    page = portal_client.get("/catalog/default/api/url-mcp-tools?tab=definition").get_data(as_text=True)
    assert "https://mcp.acme.example/api/mcp/v1" in page and "streamable-http" in page
