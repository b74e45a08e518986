"""Registering, refreshing and unregistering through the one set of use cases (app.locations) that the pages,
the REST API and the CLI call, and the portal's settings read once at start (app.settings)."""
from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from app import locations, settings
from app.cli import main
from graph.audit import list_events


def failures(graph, target: str) -> list[dict]:
    return [e for e in list_events(graph, action="register_location", outcome="failed", limit=500)
            if e.get("target") == target]


def test_a_location_that_cannot_be_read_fails_alike_on_the_page_the_api_and_the_cli(
        portal_app, portal_client, location_root, neo4j_uri):
    graph = portal_app.extensions["trellis.graph"]
    empty = location_root / "nothing-here"
    empty.mkdir()
    api = portal_client.post("/api/v1/locations", json={"target": str(empty)})
    assert api.status_code == 400 and api.json["error"]["code"] == "location_not_ingestible"
    message = api.json["error"]["message"]
    assert "no catalog-info" in message and api.json["error"]["details"] == {"target": str(empty)}
    page = portal_client.post("/register", data={"target": str(empty)})
    assert page.status_code == 422 and message in page.get_data(as_text=True)
    # both are audited as a failed registration (the page used to record none)
    assert len(failures(graph, str(empty))) == 2
    cli = CliRunner().invoke(main, ["ingest", str(empty)], env={"NEO4J_URI": neo4j_uri})
    assert cli.exit_code == 1 and cli.output.strip().endswith(message)


def test_a_refused_target_is_the_same_400_with_the_roots_on_the_page_and_in_the_api(
        portal_client, location_root, tmp_path):
    api = portal_client.post("/api/v1/locations", json={"target": f"  {tmp_path}  "})
    body = api.json["error"]
    assert api.status_code == 400 and body["code"] == "location_not_allowed"
    assert body["details"] == {"target": str(tmp_path), "allowed_roots": [str(location_root.resolve())]}
    page = portal_client.post("/register", data={"target": str(tmp_path)})
    assert page.status_code == 400 and body["message"] in page.get_data(as_text=True)


def test_any_failure_to_read_a_location_is_a_4xx_with_the_json_body_never_a_500(
        portal_app, portal_client, location_root, monkeypatch):
    """A read error that is not an IngestError (here the outbound policy refusing a fetch mid-run) used to
    escape the API as a 500; the page already showed it. Now both answer as a location that cannot be read."""
    import ingest.sync
    from ingest.integrations import OutboundRefused

    def refused(*_args, **_kwargs):
        raise OutboundRefused("host 10.0.0.1 is not a configured integration")

    monkeypatch.setattr(ingest.sync, "ingest", refused)
    monkeypatch.setattr(locations, "ingest", refused, raising=False)
    folder = location_root / "refused-midway"
    folder.mkdir()
    api = portal_client.post("/api/v1/locations", json={"target": str(folder)})
    assert api.status_code == 400, api.get_data(as_text=True)[:300]
    assert api.json["error"] == {"code": "location_not_ingestible", "details": {"target": str(folder)},
                                 "message": "host 10.0.0.1 is not a configured integration"}
    page = portal_client.post("/register", data={"target": str(folder)})
    assert page.status_code == 422 and "is not a configured integration" in page.get_data(as_text=True)


def test_refresh_and_unregister_through_the_api_are_audited_and_expire_cached_reads(
        portal_app, portal_client, location_root):
    graph = portal_app.extensions["trellis.graph"]
    folder = location_root / "svc-refresh"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-refresh}\n"
        "spec: {type: service, lifecycle: production, owner: team-a}\n")
    assert portal_client.post("/api/v1/locations", json={"target": str(folder)}).status_code == 201
    path = "/api/v1/entities/by-name/component/default/svc-refresh"
    refreshed = portal_client.post(path + "/refresh")
    assert refreshed.status_code == 200 and refreshed.json["unchanged"] == 1
    assert portal_client.delete(path).status_code == 204
    assert portal_client.get(path).status_code == 404
    events = {(e["action"], e["outcome"]) for e in list_events(graph, limit=50)
              if e.get("target") == "component:default/svc-refresh"}
    assert {("refresh", "ok"), ("delete_entity", "ok")} <= events


# ---------------------------------------------------------------------------------------------- settings


def test_the_settings_file_is_read_once_when_the_portal_starts(neo4j_uri, tmp_path, monkeypatch):
    """TRELLIS_CONFIG used to be parsed at start and again on every sources request; now once, and what the
    pages and the API show is what the portal started with."""
    import yaml

    from app import create_app
    from tests.conftest import neo4j_auth
    from tests.portal_helpers import OPEN_PORTAL

    config = tmp_path / "trellis.yaml"
    config.write_text("sources:\n  - {name: first, provider: git, options: {target: /nowhere}}\n")
    reads = []
    real = yaml.safe_load

    def counting(text, *args, **kwargs):
        if "sources:" in str(text):
            reads.append(1)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(yaml, "safe_load", counting)
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    auth = neo4j_auth()
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, **OPEN_PORTAL,
                      **({"NEO4J_USER": auth[0], "NEO4J_PASSWORD": auth[1]} if auth else {})})
    try:
        client = app.test_client()
        config.write_text("sources:\n  - {name: second, provider: git, options: {target: /nowhere}}\n")
        monkeypatch.setenv("TRELLIS_SEARCH_ENGINE", "nosuchengine")   # read at start too
        for _ in range(3):
            items = client.get("/api/v1/ingest/sources").get_json()["items"]
            assert [s["name"] for s in items] == ["first"]
            assert "first" in client.get("/runs").get_data(as_text=True)
        assert client.get("/api/v1/search?q=payments").status_code == 200
        assert len(reads) == 1, f"TRELLIS_CONFIG parsed {len(reads)} times"
        loaded = settings.current(app)
        assert loaded.config_file == str(config) and loaded.search_engine == "neo4j"
        assert [s.name for s in loaded.jobs().sources] == ["first"]
    finally:
        app.extensions["trellis.graph"].close()


def test_an_invalid_sources_section_still_starts_and_is_reported_where_sources_are_shown(neo4j_uri, tmp_path,
                                                                                         monkeypatch):
    from app import create_app
    from tests.conftest import neo4j_auth
    from tests.portal_helpers import OPEN_PORTAL

    config = tmp_path / "trellis.yaml"
    config.write_text("sources:\n  - {name: bad, provider: git, schedule: 'every minute'}\n")
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    auth = neo4j_auth()
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, **OPEN_PORTAL,
                      **({"NEO4J_USER": auth[0], "NEO4J_PASSWORD": auth[1]} if auth else {})})
    try:
        client = app.test_client()
        listed = client.get("/api/v1/ingest/sources")
        assert listed.status_code == 503 and listed.json["error"]["code"] == "invalid_sources_file"
        assert "every minute" in listed.json["error"]["message"]
        assert "every minute" in client.get("/runs").get_data(as_text=True)
    finally:
        app.extensions["trellis.graph"].close()


def test_settings_are_frozen_and_replaced_whole():
    loaded = settings.Settings(config_file=None, env="development", location_roots=(), location_allow_git=True,
                               catalog_rules=(), integrations=None, search_engine="neo4j", metrics_token=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.env = "production"   # type: ignore[misc]
    assert dataclasses.replace(loaded, search_engine="opensearch").search_engine == "opensearch"
    assert json.dumps(loaded.jobs().sources) == "[]"
