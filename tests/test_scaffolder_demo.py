"""The demo catalog's own two templates (examples/demo-catalog/templates/: node-service with `.njk` files and
`parseRepoUrl`, static-site) run unchanged: dry runs through the API over the ingested demo catalog."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)


def dry_run(client, ref: str, values: dict) -> dict:
    response = client.post("/api/v1/tasks", json={"templateRef": ref, "values": values, "dryRun": True})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["status"] == "completed", result["error"]
    return result


def test_node_service_renders_its_njk_skeleton_and_places_the_entity(portal_client):
    result = dry_run(portal_client, "template:default/node-service", {
        "name": "gift-cards", "description": "Sells gift cards", "owner": "group:default/checkout-team",
        "system": "system:default/checkout", "repoUrl": "github.com?owner=acme-shop&repo=gift-cards"})
    files = {f["path"]: f["text"] for f in result["files"]}
    assert set(files) == {"README.md", "catalog-info.yaml", "package.json", "src/index.ts"}   # .njk dropped
    assert "github.com/project-slug: acme-shop/gift-cards" in files["catalog-info.yaml"]
    assert {s["id"]: s["status"] for s in result["steps"]}["fetch"] == "completed"
    entity = result["catalog"]["entities"][0]
    assert entity["ref"] == "component:default/gift-cards" and entity["owner"]["state"] == "exists"
    assert entity["system"]["target"] == "system:default/checkout"


def test_static_site_renders_its_docs(portal_client):
    result = dry_run(portal_client, "template:default/static-site", {
        "name": "handbook", "siteTitle": "The handbook", "repoUrl": "github.com?owner=acme-shop&repo=handbook"})
    files = {f["path"]: f["text"] for f in result["files"]}
    assert "mkdocs.yml" in files and "The handbook" in files["mkdocs.yml"] + "".join(v or "" for v in files.values())


def test_missing_values_are_reported_per_field(portal_client):
    response = portal_client.post("/api/v1/tasks", json={"templateRef": "template:default/node-service",
                                                          "values": {"name": "Bad Name"}, "dryRun": True})
    assert response.status_code == 400
    fields = {f["field"] for f in response.get_json()["error"]["details"]["fields"]}
    assert {"name", "owner", "system", "repoUrl"} <= fields


def test_trellis_create_dry_run_json_prints_the_log_files_and_outputs(portal_app, neo4j_uri, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from app.cli import main as cli

    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    monkeypatch.delenv("TRELLIS_URL", raising=False)
    values = tmp_path / "values.yaml"
    values.write_text("name: gift-cards\nowner: group:default/checkout-team\nsystem: system:default/checkout\n"
                      "repoUrl: github.com?owner=acme-shop&repo=gift-cards\n")
    result = CliRunner().invoke(cli, ["create", "template:default/node-service", "--values", str(values),
                                      "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    files = {f["path"]: f["content"] for f in body["files"]}
    assert "name: gift-cards" in files["catalog-info.yaml"].replace('"', "")
    assert any("Skipping because publish:github" in e["message"] for e in body["log"])
    assert body["output"]["links"]
    values.write_text("name: Bad Name\n")
    result = CliRunner().invoke(cli, ["create", "node-service", "--values", str(values), "--dry-run"])
    assert result.exit_code == 2 and "name" in result.output
