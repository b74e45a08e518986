"""A catalog built to make walks huge (one resource everything depends on) meets the one node cap every walk
shares (issue 11, "Resource bounds"): below the cap counts are exact, above it the answer says it was cut, in
the API's JSON, the CLI, the Impact tab and its CSV export, and the graph neighbourhood stops at the same cap.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from graph.walk import NODE_CAP_ENV, node_cap, walk
from ingest.sync import ingest
from tests.support.signin import session_client, token_client

FAN = 30          # components that depend on the hub directly
SECOND = 5        # components that depend on svc-00 (distance 2)
SMALL_CAP = 10


def _catalog() -> str:
    docs = ["apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: hub-team}\nspec: {type: team, children: []}",
            "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: walker}\nspec: {memberOf: []}",
            "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata: {name: hub-db}\n"
            "spec: {type: database, owner: hub-team}"]
    for i in range(FAN):
        docs.append(f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i:02d}}}\n"
                    "spec: {type: service, lifecycle: production, owner: hub-team, dependsOn: [resource:hub-db]}")
    for i in range(SECOND):
        docs.append(f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: edge-{i}}}\n"
                    "spec: {type: website, lifecycle: production, owner: hub-team, dependsOn: [component:svc-00]}")
    return "\n---\n".join(docs) + "\n"


@pytest.fixture(scope="module")
def hub(graph_module, tmp_path_factory):
    root = tmp_path_factory.mktemp("walk-cap")
    (root / "catalog-info.yaml").write_text(_catalog())
    result = ingest(graph_module, str(root))
    assert result.ok and result.added == 3 + FAN + SECOND, result.as_json()
    from app.auth.accounts import add_user

    add_user(graph_module, "walker", "walker-password-long", user_ref="user:default/walker")
    return graph_module


def _app(neo4j_uri, cap: int | None):
    config = {"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development", "SECRET_KEY": "w" * 40}
    if cap is not None:
        config["TRELLIS_WALK_NODE_CAP"] = cap
    return create_app(config)


@pytest.fixture(scope="module")
def capped_app(hub, neo4j_uri):
    app = _app(neo4j_uri, SMALL_CAP)
    yield app
    app.extensions["trellis.graph"].close()


@pytest.fixture(scope="module")
def roomy_app(hub, neo4j_uri):
    app = _app(neo4j_uri, 100)
    yield app
    app.extensions["trellis.graph"].close()


IMPACT = "/api/v1/entities/by-name/resource/default/hub-db/impact?depth=5"


def test_a_walk_bigger_than_the_cap_answers_capped_in_json(capped_app, hub):
    viewer = token_client(capped_app, hub, "walker")
    answer = viewer.get(IMPACT).get_json()
    assert answer["capped"] is True and answer["cap"] == SMALL_CAP
    assert answer["count"] == len(answer["impacted"]) == SMALL_CAP
    assert all(i["distance"] == 1 for i in answer["impacted"])        # nearest first
    # a walk below the cap is exact and says so
    small = viewer.get("/api/v1/entities/by-name/component/default/svc-00/impact").get_json()
    assert small["capped"] is False and small["count"] == SECOND and small["cap"] == SMALL_CAP
    deps = viewer.get("/api/v1/entities/by-name/component/default/edge-0/dependencies").get_json()
    assert deps["capped"] is False and [d["ref"] for d in deps["dependencies"]] == [
        "component:default/svc-00", "resource:default/hub-db"]
    # the neighbourhood walk shares the cap
    around = viewer.get("/api/v1/graph/neighbourhood?ref=resource:default/hub-db&depth=3&max_nodes=1000").get_json()
    assert around["capped"] is True and around["cap"] == SMALL_CAP and len(around["nodes"]) <= SMALL_CAP + 1


def test_below_the_cap_counts_are_exact(roomy_app, hub):
    viewer = token_client(roomy_app, hub, "walker")
    answer = viewer.get(IMPACT).get_json()
    assert answer["capped"] is False and answer["cap"] == 100
    assert answer["count"] == FAN + SECOND
    assert sum(1 for i in answer["impacted"] if i["distance"] == 2) == SECOND
    around = viewer.get("/api/v1/graph/neighbourhood?ref=resource:default/hub-db&depth=3&max_nodes=1000").get_json()
    assert around["capped"] is False and around["total"] == 1 + 1 + FAN + SECOND   # + hub-team (owner)


def test_impact_tab_and_csv_say_the_walk_was_capped(capped_app, hub):
    viewer = session_client(capped_app, "walker")
    page = viewer.get("/catalog/default/resource/hub-db?tab=impact&depth=5").get_data(as_text=True)
    assert f"Stopped at {SMALL_CAP} entities" in page
    exported = viewer.get("/catalog/default/resource/hub-db/impact.csv?depth=5").get_data(as_text=True)
    assert f"# capped at {SMALL_CAP} entities" in exported
    dependents = viewer.get("/catalog/default/resource/hub-db?tab=dependents").get_data(as_text=True)
    assert f"Stopped at {SMALL_CAP} entities" in dependents


def test_cli_says_the_walk_was_capped(hub, neo4j_uri, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    monkeypatch.delenv("TRELLIS_URL", raising=False)
    monkeypatch.setenv(NODE_CAP_ENV, str(SMALL_CAP))
    runner = CliRunner()
    result = runner.invoke(main, ["impact", "resource:default/hub-db", "--depth", "5", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["capped"] is True and answer["cap"] == SMALL_CAP and answer["count"] == SMALL_CAP
    text = runner.invoke(main, ["impact", "resource:default/hub-db", "--depth", "5"]).output
    assert f"capped at {SMALL_CAP} entities" in text


def test_the_shared_walk_function_and_its_setting(hub, monkeypatch):
    hub_ref = "resource:default/hub-db"
    impact_rels = "<DEPENDS_ON|<CONSUMES_API|PROVIDES_API>|PART_OF>"
    exact = walk(hub, hub_ref, impact_rels, max_depth=5, cap=FAN + SECOND)
    assert not exact.capped and len(exact.steps) == FAN + SECOND
    cut = walk(hub, hub_ref, impact_rels, max_depth=5, cap=FAN + SECOND - 1)
    assert cut.capped and len(cut.steps) == FAN + SECOND - 1
    shallow = walk(hub, hub_ref, impact_rels, max_depth=1, cap=1000, look_beyond=True)
    assert not shallow.capped and shallow.beyond and len(shallow.steps) == FAN
    monkeypatch.setenv(NODE_CAP_ENV, "7")
    assert node_cap() == 7 and len(walk(hub, hub_ref, impact_rels, max_depth=5).steps) == 7
    for bad in ("0", "-3", "lots", "2000000"):
        monkeypatch.setenv(NODE_CAP_ENV, bad)
        with pytest.raises(ValueError, match=NODE_CAP_ENV):
            node_cap()
    monkeypatch.delenv(NODE_CAP_ENV)
    assert node_cap() == 10_000


PATHS = "/api/v1/graph/paths?from=resource:default/hub-db&to=component:default/edge-4"


def test_path_search_shares_the_cap(capped_app, roomy_app, hub):
    # hub-db's 31 neighbours fill a 10-node walk before edge-4 (two hops away) is reached
    cut = token_client(capped_app, hub, "walker").get(PATHS).get_json()
    assert cut["capped"] is True and cut["cap"] == SMALL_CAP and cut["paths"] == []
    page = session_client(capped_app, "walker").get(
        "/paths?from=resource:default/hub-db&to=component:default/edge-4").get_data(as_text=True)
    assert f"Stopped at {SMALL_CAP} entities" in page and "No path within" not in page
    # below the cap the answer is exact
    found = token_client(roomy_app, hub, "walker").get(PATHS).get_json()
    assert found["capped"] is False and found["cap"] == 100
    assert [p["nodes"] for p in found["paths"]] == [   # through what depends on it, and through the owner
        ["resource:default/hub-db", "component:default/svc-00", "component:default/edge-4"],
        ["resource:default/hub-db", "group:default/hub-team", "component:default/edge-4"]]
    none = token_client(roomy_app, hub, "walker").get(
        "/api/v1/graph/paths?from=resource:default/hub-db&to=user:default/walker").get_json()
    assert none["capped"] is False and none["paths"] == []


def test_a_bad_cap_is_refused_not_ignored(hub, neo4j_uri, monkeypatch):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="walk_node_cap"):
        _app(neo4j_uri, "0")
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    monkeypatch.delenv("TRELLIS_URL", raising=False)
    monkeypatch.setenv(NODE_CAP_ENV, "lots")
    result = CliRunner().invoke(main, ["impact", "resource:default/hub-db"])
    assert result.exit_code == 1 and NODE_CAP_ENV in result.output and "Traceback" not in result.output


def test_the_distance_search_from_both_ends(hub):
    from graph.model import RELATION_TYPES
    from graph.walk import shortest_distance

    types = list(RELATION_TYPES)
    assert shortest_distance(hub, "component:default/edge-0", "component:default/edge-4", types,
                             max_depth=10, cap=100).distance == 2        # via svc-00 or the owner group
    far = shortest_distance(hub, "resource:default/hub-db", "component:default/edge-4", types, max_depth=10, cap=8)
    assert far.distance is None and far.capped
    assert shortest_distance(hub, "resource:default/hub-db", "component:default/edge-4", types,
                             max_depth=1, cap=100) == shortest_distance(
        hub, "resource:default/hub-db", "user:default/walker", types, max_depth=10, cap=100)   # none, not capped
