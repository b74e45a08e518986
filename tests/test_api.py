"""The REST API /api/v1 over the demo catalog, through Flask's test client and a real Neo4j."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from app import create_app
from tests.portal_helpers import OPEN_PORTAL, with_csrf
from graph.impact import impact
from ingest.sync import ingest

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo-catalog"


@pytest.fixture(scope="module")
def demo_graph(graph_module):
    result = ingest(graph_module, str(DEMO))
    assert result.added == 117
    return graph_module


@pytest.fixture(scope="module")
def client(demo_graph, neo4j_uri, tmp_path_factory):
    roots = [str(tmp_path_factory.getbasetemp()), str(DEMO)]
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_LOCATION_ROOTS": roots,
                      "TRELLIS_LOCATION_ALLOW_GIT": False, **OPEN_PORTAL})
    yield with_csrf(app.test_client())
    app.extensions["trellis.graph"].close()


def get(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, (url, response.get_data(as_text=True)[:500])
    return response.get_json()


def names(page: dict) -> list[str]:
    return [e["metadata"]["name"] for e in page["items"]]


def all_items(client, url: str) -> list[dict]:
    return get(client, url + ("&" if "?" in url else "?") + "limit=500")["items"]


def assert_error(body: dict, code: str | None = None) -> None:
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code


# ------------------------------------------------------------------------------------------ entities

def test_entity_by_name_is_backstage_shaped(client):
    e = get(client, "/api/v1/entities/by-name/Component/Default/Payments-Service")
    assert e["kind"] == "Component" and e["metadata"]["name"] == "payments-service"
    assert e["metadata"]["uid"] and e["metadata"]["etag"]
    rels = {(r["type"], r["targetRef"]) for r in e["relations"]}
    assert ("ownedBy", "group:default/payments-team") in rels
    assert ("apiProvidedBy", "api:default/payments-api") not in rels
    assert ("providesApi", "api:default/payments-api") in rels
    assert ("hasPart", "component:default/payments-gateway-adapter") in rels   # inverse of subcomponentOf
    assert e["relations"] == sorted(e["relations"], key=lambda r: (r["type"], r["targetRef"]))
    assert e["status"] == {"items": []}


def test_entity_status_flags_dangling_refs(client):
    e = get(client, "/api/v1/entities/by-name/component/default/legacy-feed-exporter")
    assert e["status"]["items"] == [{
        "type": "backstage.io/catalog-processing", "level": "warning",
        "message": "spec.owner refers to group:default/merchandising-team, which is not in the catalog"}]


def test_unknown_entity_and_placeholder_are_404(client):
    assert_error(get(client, "/api/v1/entities/by-name/component/default/nope", 404), "not_found")
    assert_error(get(client, "/api/v1/entities/by-name/group/default/merchandising-team", 404), "not_found")


def test_group_relations_include_inverse_names(client):
    e = get(client, "/api/v1/entities/by-name/group/default/payments-team")
    types = {r["type"] for r in e["relations"]}
    assert {"ownerOf", "hasMember", "childOf", "parentOf"} <= types


def test_filters_and_case_insensitivity(client):
    comps = get(client, "/api/v1/entities?filter=kind=component&limit=500")
    assert comps["totalItems"] == 30 and len(comps["items"]) == 30
    upper = get(client, "/api/v1/entities?filter=KIND=Component&limit=500")
    assert upper["totalItems"] == 30
    owned = get(client, "/api/v1/entities?filter=kind=component,spec.owner=payments-team&limit=500")
    full = get(client, "/api/v1/entities?filter=kind=component,spec.owner=group:default/payments-team&limit=500")
    assert names(owned) == names(full) and len(owned["items"]) == 6
    either = get(client, "/api/v1/entities/by-query?filter=kind=system&filter=kind=domain&limit=500")
    assert either["totalItems"] == 14
    assert {e["kind"] for e in either["items"]} == {"System", "Domain"}


def test_relation_tag_and_exists_filters(client):
    rel = all_items(client, "/api/v1/entities?filter=relations.ownedby=group:default/payments-team")
    spec = all_items(client, "/api/v1/entities?filter=spec.owner=group:default/payments-team")
    assert {e["metadata"]["name"] for e in rel} == {e["metadata"]["name"] for e in spec} and len(rel) == 13
    members = all_items(client, "/api/v1/entities?filter=kind=user,relations.memberof=group:default/payments-team")
    assert members and all(e["kind"] == "User" for e in members)
    java = all_items(client, "/api/v1/entities?filter=metadata.tags=java")
    assert len(java) == 7 and all("java" in e["metadata"]["tags"] for e in java)
    assert len(all_items(client, "/api/v1/entities?filter=metadata.tags.java")) == 7
    docs = all_items(client, "/api/v1/entities?filter=metadata.annotations.backstage.io/techdocs-ref")
    assert len(docs) == 3
    dir_docs = all_items(client, "/api/v1/entities?filter=metadata.annotations.backstage.io/techdocs-ref=DIR:.")
    assert [e["metadata"]["name"] for e in dir_docs] == ["payments-service"]
    assert all_items(client, "/api/v1/entities?filter=kind=template,spec.lifecycle") == []   # templates have none
    assert len(all_items(client, "/api/v1/entities?filter=kind=component,spec.lifecycle")) == 30


def test_fields_and_order(client):
    page = get(client, "/api/v1/entities?filter=kind=domain&fields=kind,metadata.name&order=desc:metadata.name")
    assert page["items"][0] == {"kind": "Domain", "metadata": {"name": page["items"][0]["metadata"]["name"]}}
    ordered = names(page)
    assert ordered == sorted(ordered, reverse=True)
    by_query = get(client, "/api/v1/entities/by-query?filter=kind=domain&orderField=metadata.name,asc")
    assert names(by_query) == sorted(ordered)


@pytest.mark.parametrize("order", ["metadata.name,asc", "metadata.name,desc", "metadata.title,asc",
                                   "spec.lifecycle,desc", "kind,asc"])
def test_pagination_forward_and_back(client, order):
    url = f"/api/v1/entities/by-query?filter=kind=component&filter=kind=api&limit=7&orderField={order}"
    everything = [e["metadata"]["uid"] for e in all_items(client, url.replace("limit=7&", ""))]
    assert len(everything) == 46
    pages, page = [], get(client, url)
    assert page["pageInfo"]["prevCursor"] is None and page["totalItems"] == 46
    while True:
        pages.append([e["metadata"]["uid"] for e in page["items"]])
        if not page["pageInfo"]["nextCursor"]:
            break
        page = get(client, f"/api/v1/entities/by-query?cursor={page['pageInfo']['nextCursor']}")
    flat = [u for p in pages for u in p]
    assert flat == everything and len(set(flat)) == 46 and len(pages) == 7
    back = []
    while page["pageInfo"]["prevCursor"]:
        page = get(client, f"/api/v1/entities/by-query?cursor={page['pageInfo']['prevCursor']}")
        back.append([e["metadata"]["uid"] for e in page["items"]])
    assert back == list(reversed(pages[:-1]))


def test_by_refs_keeps_order_and_nulls(client):
    refs = ["component:default/payments-service", "component:default/nope", "Group:payments-team",
            "group:default/merchandising-team"]
    response = client.post("/api/v1/entities/by-refs", json={"entityRefs": refs})
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i and i["metadata"]["name"] for i in items] == ["payments-service", None, "payments-team", None]
    bad = client.post("/api/v1/entities/by-refs", json={"entityRefs": ["no-kind"]})
    assert bad.status_code == 400
    assert_error(bad.get_json(), "invalid_ref")


def test_facets_match_the_demo_readme(client):
    facets = get(client, "/api/v1/entity-facets?facet=kind&facet=metadata.namespace")["facets"]
    assert {f["value"]: f["count"] for f in facets["kind"]} == {
        "Component": 30, "Resource": 22, "API": 16, "Group": 15, "User": 15, "System": 8, "Domain": 6,
        "Location": 3, "Template": 2}
    assert facets["metadata.namespace"] == [
        {"value": "default", "count": 91}, {"value": "ops", "count": 16}, {"value": "data", "count": 10}]
    counts = [f["count"] for f in facets["kind"]]
    assert counts == sorted(counts, reverse=True)
    filtered = get(client, "/api/v1/entity-facets?facet=spec.type&filter=kind=api")["facets"]["spec.type"]
    assert sum(f["count"] for f in filtered) == 16


def test_impact_and_dependencies_equal_graph_impact(client, demo_graph):
    body = get(client, "/api/v1/entities/by-name/resource/default/payments-db/impact")
    assert body == json.loads(json.dumps(impact(demo_graph, "resource:default/payments-db")))
    assert body["count"] == 20
    shallow = get(client, "/api/v1/entities/by-name/resource/default/payments-db/impact?depth=2")
    assert shallow["cut_off"] is True
    deps = get(client, "/api/v1/entities/by-name/component/default/checkout-service/dependencies")
    assert "resource:default/payments-db" in {d["ref"] for d in deps["dependencies"]}
    assert_error(get(client, "/api/v1/entities/by-name/resource/default/payments-db/impact?depth=0", 400))
    assert_error(get(client, "/api/v1/entities/by-name/resource/default/payments-db/impact?depth=x", 400))
    assert_error(get(client, "/api/v1/entities/by-name/resource/default/nope/impact", 404), "not_found")


# ------------------------------------------------------------------------------------------ graph

def test_paths_between_demo_entities(client):
    body = get(client, "/api/v1/graph/paths?from=component:default/refund-worker"
                       "&to=component:default/payments-backoffice")
    assert body["paths"] == [{
        "length": 1, "nodes": ["component:default/refund-worker", "component:default/payments-backoffice"],
        "hops": [{"from": "component:default/refund-worker", "relation": "partOf",
                  "to": "component:default/payments-backoffice"}]}]
    three = get(client, "/api/v1/graph/paths?from=component:checkout-service&to=resource:payments-db&limit=50")
    assert three["paths"] and all(p["length"] == 3 for p in three["paths"])
    assert {"length": 3, "nodes": ["component:default/checkout-service", "api:default/payments-api",
                                   "component:default/payments-service", "resource:default/payments-db"],
            "hops": [{"from": "component:default/checkout-service", "relation": "consumesApi",
                      "to": "api:default/payments-api"},
                     {"from": "component:default/payments-service", "relation": "providesApi",
                      "to": "api:default/payments-api"},
                     {"from": "component:default/payments-service", "relation": "dependsOn",
                      "to": "resource:default/payments-db"}]} in three["paths"]
    none = get(client, "/api/v1/graph/paths?from=component:checkout-service&to=resource:payments-db&max_hops=2")
    assert none["paths"] == []
    assert_error(get(client, "/api/v1/graph/paths?from=component:nope&to=resource:payments-db", 404))
    assert_error(get(client, "/api/v1/graph/paths?from=nokind&to=resource:payments-db", 400), "invalid_ref")


def test_neighbourhood(client):
    body = get(client, "/api/v1/graph/neighbourhood?ref=component:default/payments-service&depth=1")
    refs = {n["ref"]: n for n in body["nodes"]}
    assert refs["component:default/payments-service"]["distance"] == 0
    assert refs["group:default/payments-team"]["distance"] == 1
    assert {"source": "component:default/payments-service", "target": "group:default/payments-team",
            "type": "ownedBy"} in body["edges"]
    only = get(client, "/api/v1/graph/neighbourhood?ref=component:default/payments-service&relation=ownedBy"
                       "&depth=1")
    assert {n["ref"] for n in only["nodes"]} == {"component:default/payments-service", "group:default/payments-team"}
    capped = get(client, "/api/v1/graph/neighbourhood?ref=group:default/acme&depth=3&max_nodes=5")
    assert len(capped["nodes"]) == 5 and capped["cut_off"] is True and capped["total"] > 5
    apis = get(client, "/api/v1/graph/neighbourhood?ref=component:default/payments-service&kind=api&depth=1")
    assert {n["kind"] for n in apis["nodes"]} == {"Component", "API"}
    assert_error(get(client, "/api/v1/graph/neighbourhood?ref=component:default/payments-service&relation=x", 400))
    assert_error(get(client, "/api/v1/graph/neighbourhood?ref=component:default/nope", 404))


# ------------------------------------------------------------------------------------------ reports etc.

def test_ownership_report_json_and_csv(client):
    report = get(client, "/api/v1/reports/ownership?group=payments-team")
    assert report["scope"] == "group:default/payments-team"
    response = client.get("/api/v1/reports/ownership?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="ownership.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["entity"] for r in rows if r["category"] == "unowned"} == {
        "component:default/legacy-feed-exporter", "template:default/static-site"}
    assert_error(get(client, "/api/v1/reports/ownership?format=xml", 400))
    assert_error(get(client, "/api/v1/reports/ownership?group=nope-team", 404))


def test_search(client):
    # The search contract itself (ranking, typos, facets, visibility) is tested in tests/test_search*.py.
    body = get(client, "/api/v1/search?q=PAYMENTS&kind=api")
    assert body["items"] and all(e["kind"] == "API" for e in body["items"])
    owned = get(client, "/api/v1/search?q=pay&owner=payments-team&limit=100")
    assert owned["items"] and all(e["owner"].endswith("payments-team") for e in owned["items"])


def test_locations_runs_and_post(client, tmp_path_factory):
    listed = get(client, "/api/v1/locations")["items"]
    assert any(loc["key"].endswith("examples/demo-catalog") for loc in listed)
    folder = tmp_path_factory.mktemp("loc")
    (folder / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata: {name: api-solo}\nspec: {type: database, owner: x}\n"
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: broken}\nspec: {type: service}\n")
    response = client.post("/api/v1/locations", json={"target": str(folder)})
    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    assert result["added"] == 1 and {r["ref"] for r in result["rejected"]} == {"component:default/broken"}
    assert get(client, "/api/v1/entities/by-name/resource/default/api-solo")["metadata"]["name"] == "api-solo"
    runs = get(client, "/api/v1/ingest/runs")["items"]
    assert runs[0]["id"] == result["run"] and runs[0]["status"] == "partial"
    run = get(client, f"/api/v1/ingest/runs/{result['run']}")
    assert run["rejected"] == result["rejected"] and run["counts"]["added"] == 1
    assert_error(get(client, "/api/v1/ingest/runs/nope", 404), "not_found")
    # refused targets: outside the allowed roots, missing, empty, git disabled; never a 5xx
    for target in ["/etc", str(folder / "missing"), "", "https://example.com/x.git", "file:///etc"]:
        response = client.post("/api/v1/locations", json={"target": target})
        assert response.status_code == 400, target
        assert_error(response.get_json())
    empty = tmp_path_factory.mktemp("empty")
    response = client.post("/api/v1/locations", json={"target": str(empty)})
    assert response.status_code == 400 and "no catalog-info" in response.get_json()["error"]["message"]


def test_health_and_openapi(client):
    from app.version import version

    assert get(client, "/api/v1/health") == {"neo4j": "up", "version": version()}
    doc = get(client, "/api/v1/openapi.json")
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV31SpecValidator

    validate(doc, cls=OpenAPIV31SpecValidator)
    rules = {str(r) for r in client.application.url_map.iter_rules() if str(r).startswith("/api/v1")}
    documented = {"/api/v1" + p.replace("{", "<").replace("}", ">") for p in doc["paths"]}
    assert rules == documented


@pytest.mark.parametrize("method,url,body,status", [
    ("get", "/api/v1/nope", None, 404),
    ("delete", "/api/v1/entities", None, 405),
    ("get", "/api/v1/entities?filter=relations.nope=x", None, 400),
    ("get", "/api/v1/entities?filter=kind=component,,", None, 200),
    ("get", "/api/v1/entities?filter=bad key=x", None, 400),
    ("get", "/api/v1/entities?limit=501", None, 400),
    ("get", "/api/v1/entities?cursor=not-a-cursor", None, 400),
    ("get", "/api/v1/entities?orderField=spec.nope,asc", None, 400),
    ("get", "/api/v1/entities?orderField=metadata.name,sideways", None, 400),
    ("get", "/api/v1/entity-facets", None, 400),
    ("post", "/api/v1/entities/by-refs", "{not json", 400),
    ("post", "/api/v1/entities/by-refs", "[]", 400),
    ("post", "/api/v1/entities/by-refs", '{"entityRefs": "x"}', 400),
    ("post", "/api/v1/entities/by-refs", '{"entityRefs": ["component:\\ud800"]}', 400),
])
def test_errors_are_json(client, method, url, body, status):
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    if status >= 400:
        assert_error(response.get_json())


def test_wrong_content_type_is_415(client):
    response = client.post("/api/v1/entities/by-refs", data="x", content_type="text/plain")
    assert response.status_code == 415
    assert_error(response.get_json(), "unsupported_media_type")


def test_too_many_facets_is_a_400(client):
    query = "&".join(f"facet=spec.f{i}" for i in range(21))
    assert_error(get(client, f"/api/v1/entity-facets?{query}", 400))
