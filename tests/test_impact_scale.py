"""Blast radius at scale: one summary-and-cursor service (graph.impact.Radius) behind the API, the portal's
Impact tab and the CLI; the full answer, NDJSON and CSV streamed; visibility applied to every page and stream.

The catalog (written here in Backstage's descriptor shape): `resource:hub-db` with 120 direct dependants over
three owners and two systems; one of them (`c-005`) restricted to its owner, with 30 dependants of its own,
whose paths go through it; `c-001` provides `api:hub-api`, consumed by 10 more.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import re

import pytest
from click.testing import CliRunner

from app import create_app
from graph.filters import QueryError
from graph.impact import HIDDEN_REF, blast_radius, impact
from graph.visibility import Visibility
from ingest.sync import ingest

HUB = "resource:default/hub-db"
HIDDEN = "component:default/c-005"
OWNERS = ("team-a", "team-b", "team-c")
API = "/api/v1/entities/by-name/resource/default/hub-db/impact"
VIEWER = Visibility(claims=frozenset({"user:default/viewer"}))


def _doc(kind: str, name: str, spec: str, annotations: str = "") -> str:
    meta = f"{{name: {name}{', annotations: {' + annotations + '}' if annotations else ''}}}"
    return f"apiVersion: backstage.io/v1alpha1\nkind: {kind}\nmetadata: {meta}\nspec: {spec}\n"


def catalog_text() -> str:
    docs = [_doc("Group", "org", "{type: organization, children: [team-a, team-b, team-c]}")]
    docs += [_doc("Group", t, "{type: team, children: []}") for t in OWNERS]
    docs += [_doc("System", s, "{owner: team-a}") for s in ("sys-a", "sys-b")]
    docs.append(_doc("Resource", "hub-db", "{type: database, owner: team-a, system: sys-a}"))
    for i in range(120):
        restricted = 'trellis.io/restricted: "true"' if i == 5 else ""
        provides = ", providesApis: [hub-api]" if i == 1 else ""
        docs.append(_doc("Component", f"c-{i:03d}", f"{{type: service, lifecycle: production, owner: "
                         f"{OWNERS[i % 3]}, system: {('sys-a', 'sys-b')[i % 2]}, dependsOn: [resource:hub-db]"
                         f"{provides}}}", restricted))
    for i in range(30):
        docs.append(_doc("Component", f"d-{i:03d}", "{type: website, lifecycle: production, owner: team-c, "
                         "dependsOn: [component:c-005]}"))
    docs.append(_doc("API", "hub-api", "{type: openapi, lifecycle: production, owner: team-a, definition: x}"))
    for i in range(10):
        docs.append(_doc("Component", f"e-{i:03d}", "{type: service, lifecycle: production, owner: team-b, "
                         "consumesApis: [hub-api]}"))
    return "---\n".join(docs)


@pytest.fixture(scope="module")
def hub(graph_module, tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    (root / "catalog-info.yaml").write_text(catalog_text())
    result = ingest(graph_module, str(root))
    assert result.ok and not result.rejected, result.as_json()
    return graph_module


@pytest.fixture(scope="module")
def viewer_app(hub, neo4j_uri):
    """Guests are viewers: no ownership claims, so the restricted c-005 is hidden from them."""
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development",
                      "TRELLIS_GUEST_ROLE": "viewer", "SECRET_KEY": "k" * 40})
    yield app
    app.extensions["trellis.graph"].close()


@pytest.fixture
def client(viewer_app):
    return viewer_app.test_client()


def _all_pages(radius, limit: int) -> list[dict]:
    page = radius.page(limit)
    items = list(page["items"])
    while page["pageInfo"]["nextCursor"]:
        page = radius.page(limit, page["pageInfo"]["nextCursor"])
        assert len(page["items"]) <= limit
        items += page["items"]
    return items


# ------------------------------------------------------------------------------------- the service

def test_summary_counts_by_owner_system_kind_and_distance(hub):
    summary = blast_radius(hub, HUB, 10, VIEWER).summary()
    # 120 dependants + 30 behind c-005 + the API + its 10 consumers, less the one the viewer cannot read
    assert summary["count"] == 160 and summary["hidden"] == 1
    assert summary["by_distance"] == [{"distance": 1, "count": 119}, {"distance": 2, "count": 31},
                                      {"distance": 3, "count": 10}]
    assert {r["kind"]: r["count"] for r in summary["by_kind"]} == {"Component": 159, "API": 1}
    by_owner = {r["owner"]: r["count"] for r in summary["by_owner"]}
    assert by_owner == {"group:default/team-a": 41, "group:default/team-b": 50, "group:default/team-c": 69}
    assert [r["owner"] for r in summary["by_owner"]][0] == "group:default/team-c"   # largest first
    assert sum(r["count"] for r in summary["by_system"]) == 160
    assert (summary["capped"], summary["cut_off"]) == (False, False)


def test_pages_cover_the_full_answer_once_in_order_with_paths(hub):
    radius = blast_radius(hub, HUB, 10, VIEWER)
    full = impact(hub, HUB, 10, VIEWER)
    assert _all_pages(radius, 7) == full["impacted"]       # same items, same paths, same order
    assert len(full["impacted"]) == 160 and full["count"] == 160 and full["hidden"] == 1
    last = radius.page(1000)
    assert last["pageInfo"]["nextCursor"] is None and len(last["items"]) == 160


def test_paths_through_a_hidden_entity_are_masked_in_every_form(hub):
    radius = blast_radius(hub, HUB, 10, VIEWER)
    behind = next(i for i in radius.page(200)["items"] if i["ref"] == "component:default/d-000")
    assert behind["path"] == [HUB, HIDDEN_REF, "component:default/d-000"]
    assert behind["hops"][0] == {"from": HIDDEN_REF, "relation": "dependsOn", "to": HUB}
    streams = {
        "json": b"".join(radius.json_chunks()).decode(),
        "ndjson": b"".join(radius.ndjson()).decode(),
        "csv": "".join(radius.csv_chunks()),
        "page": json.dumps(radius.page(1000)),
    }
    for form, text in streams.items():
        assert "c-005" not in text, form
        assert "component:default/d-000" in text, form


def test_streams_hold_the_same_answer(hub):
    radius = blast_radius(hub, HUB, 10, VIEWER)
    assert json.loads(b"".join(radius.json_chunks())) == impact(hub, HUB, 10, VIEWER)
    lines = [json.loads(x) for x in b"".join(radius.ndjson()).splitlines()]
    assert lines[0]["summary"] == radius.summary() and lines[0]["root"]["ref"] == HUB
    assert lines[1:] == list(radius.items())
    rows = list(csv.reader(io.StringIO("".join(radius.csv_chunks()))))
    assert rows[0][:3] == ["ref", "kind", "distance"] and len(rows) == 1 + 160 + 1
    assert rows[-1] == ["# 1 more impacted entities you cannot see are not listed"]
    assert rows[1][:3] == ["component:default/c-000", "Component", "1"]


def test_the_walk_cap_is_respected_and_reported(hub):
    radius = blast_radius(hub, HUB, 10, VIEWER, cap=50)
    summary = radius.summary()
    assert summary["capped"] and summary["cap"] == 50
    assert summary["count"] + summary["hidden"] <= 50
    assert len(_all_pages(radius, 20)) == summary["count"]
    assert "capped at 50 entities" in "".join(radius.csv_chunks())


def test_a_cursor_belongs_to_its_walk(hub):
    cursor = blast_radius(hub, HUB, 10, VIEWER).page(5)["pageInfo"]["nextCursor"]
    with pytest.raises(QueryError, match="another walk"):
        blast_radius(hub, HUB, 3, VIEWER).page(5, cursor)
    with pytest.raises(QueryError, match="another walk"):
        blast_radius(hub, "component:default/c-001", 10, VIEWER).page(5, cursor)
    with pytest.raises(QueryError, match="invalid cursor"):
        blast_radius(hub, HUB, 10, VIEWER).page(5, "not-a-cursor")


# ------------------------------------------------------------------------------------------ the API

def _forge(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def test_api_full_answer_is_streamed_and_unchanged(client, hub):
    response = client.get(API)
    assert response.status_code == 200 and response.is_streamed
    assert response.get_json() == json.loads(json.dumps(impact(hub, HUB, 10, VIEWER)))


def test_api_summary_page_and_cursor(client):
    first = client.get(API + "?limit=100").get_json()
    assert first["summary"]["count"] == 160 and first["summary"]["hidden"] == 1
    assert len(first["items"]) == 100 and first["items"][0]["path"][0] == HUB
    second = client.get(API + "?" + "cursor=" + first["pageInfo"]["nextCursor"] + "&limit=100").get_json()
    assert len(second["items"]) == 60 and second["pageInfo"]["nextCursor"] is None
    refs = [i["ref"] for i in first["items"] + second["items"]]
    assert len(set(refs)) == 160 and HIDDEN not in refs


def test_api_cursor_made_for_an_admin_shows_a_viewer_only_what_they_may_read(client, hub):
    """Attack: replay a cursor minted by a reader who sees everything; the page applies the viewer's rights."""
    admin = blast_radius(hub, HUB, 10, Visibility(everything=True))
    cursor = admin.page(1)["pageInfo"]["nextCursor"]
    body = client.get(API + "?limit=1000&cursor=" + cursor).get_json()
    assert body["summary"]["hidden"] == 1 and HIDDEN not in json.dumps(body)


def test_api_forged_cursor_cannot_lift_the_depth_bound(client):
    """Attack: a cursor is client input; a depth past MAX_DEPTH in it is a 400, never a walk or a 500."""
    for state in ({"v": 1, "w": "impact", "r": HUB, "d": 10 ** 6, "a": [1, "a"]},
                  {"v": 1, "w": "impact", "r": HUB, "d": "10", "a": [1, "a"]},
                  {"v": 1, "w": "shell", "r": HUB, "d": 3, "a": [1, "a"]}):
        response = client.get(API + "?cursor=" + _forge(state))
        assert response.status_code == 400, (state, response.get_data(as_text=True)[:300])
        assert response.get_json()["error"]["code"] == "invalid_query"
    other = _forge({"v": 1, "w": "impact", "r": "component:default/c-001", "d": 10, "a": [1, "a"]})
    assert client.get(API + "?cursor=" + other).status_code == 400


def test_api_streams_ndjson_and_csv(client):
    nd = client.get(API + "?format=ndjson")
    assert nd.is_streamed and nd.mimetype == "application/x-ndjson"
    lines = nd.get_data(as_text=True).splitlines()
    assert len(lines) == 161 and json.loads(lines[0])["summary"]["count"] == 160
    exported = client.get(API + "?format=csv")
    assert exported.is_streamed and exported.mimetype == "text/csv"
    assert "c-005" not in exported.get_data(as_text=True)


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "format=xml", "format=ndjson&limit=5",
                                   "cursor=%%%"])
def test_api_bad_paging_is_a_400(client, query):
    response = client.get(API + "?" + query)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert set(response.get_json()["error"]) >= {"code", "message", "details"}


# ------------------------------------------------------------------------------------ portal and CLI

def test_impact_tab_shows_the_summary_and_pages_with_a_cursor(client):
    page = client.get("/catalog/default/resource/hub-db?tab=impact").get_data(as_text=True)
    assert page.count('<tr data-ref="') == 100 and "Entities 100 of 160" in page
    assert "1 impacted entity you cannot see" in page and "c-005" not in page
    assert 'data-group="group:default/team-c"' in page
    href = re.search(r'href="([^"]+)" rel="next"', page).group(1)
    rest = client.get(html.unescape(href)).get_data(as_text=True)
    assert rest.count('<tr data-ref="') == 60 and 'rel="next"' not in rest
    assert client.get("/catalog/default/resource/hub-db?tab=impact&cursor=zzz").status_code == 400


def test_impact_csv_export_streams(client):
    response = client.get("/catalog/default/resource/hub-db/impact.csv?depth=10")
    assert response.status_code == 200 and response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 162 and "c-005" not in response.get_data(as_text=True)


def test_cli_prints_the_summary_and_the_nearest_entities(hub, neo4j_uri, monkeypatch):
    from app.cli import main
    from tests.conftest import neo4j_auth

    env = {"NEO4J_URI": neo4j_uri}
    auth = neo4j_auth()
    if auth:
        env.update(NEO4J_USER=auth[0], NEO4J_PASSWORD=auth[1])
    for name in ("TRELLIS_URL", "TRELLIS_TOKEN", "TRELLIS_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    out = runner.invoke(main, ["impact", HUB, "--limit", "5"], env=env)
    assert out.exit_code == 0, out.output
    assert "161 entities impacted within 10 hops" in out.output     # the CLI's operator sees everything
    assert "... 156 more, farther away" in out.output and "By kind:" in out.output
    every = runner.invoke(main, ["impact", HUB, "--all"], env=env)
    assert every.exit_code == 0 and "more, farther away" not in every.output
    assert every.output.count("component:default/d-0") >= 30
