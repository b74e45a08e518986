"""graph.catalog edge cases on small hand-made catalogs."""
from __future__ import annotations

import pytest

from graph import catalog
from graph.catalog import QueryError
from ingest.sync import ingest

DOCS = """
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a, namespace: ops}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: Alpha, namespace: ops, title: Zeta service, tags: [java], labels: {tier: "1"}}
spec: {type: Service, lifecycle: Production, owner: team-a, dependsOn: [component:ops/alpha]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: beta, title: alpha tool}
spec: {type: library, lifecycle: experimental, owner: team-a, dependsOn: [resource:missing-db]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: gamma}
spec: {type: service, lifecycle: production, owner: group:ops/team-a}
"""


@pytest.fixture
def small(graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(DOCS)
    ingest(graph, str(tmp_path))
    return graph


def refs(page: dict) -> list[str]:
    return [f"{e['kind'].lower()}:{e['metadata']['namespace']}/{e['metadata']['name'].lower()}" for e in page["items"]]


def test_owner_short_form_resolves_against_each_entity_namespace(small):
    short = catalog.query_entities(small, filters=[[("spec.owner", "team-a")]])
    assert refs(short) == ["component:ops/alpha", "component:default/beta"]
    full = catalog.query_entities(small, filters=[[("spec.owner", "Group:OPS/team-a")]])
    assert refs(full) == ["component:ops/alpha", "component:default/gamma"]


def test_values_and_keys_are_case_insensitive(small):
    assert refs(catalog.query_entities(small, filters=[[("SPEC.TYPE", "service")]])) == [
        "component:ops/alpha", "component:default/gamma"]
    assert refs(catalog.query_entities(small, filters=[[("metadata.name", "ALPHA")]])) == ["component:ops/alpha"]
    assert refs(catalog.query_entities(small, filters=[[("metadata.tags", "JAVA")]])) == ["component:ops/alpha"]
    assert refs(catalog.query_entities(small, filters=[[("metadata.labels.tier", "1")]])) == ["component:ops/alpha"]
    assert catalog.query_entities(small, filters=[[("metadata.labels.tier", "2")]])["totalItems"] == 0
    assert catalog.query_entities(small, filters=[[("no.such.path", None)]])["totalItems"] == 0


def test_text_and_title_order_with_missing_values_last(small):
    assert refs(catalog.query_entities(small, text="ALPHA")) == ["component:ops/alpha", "component:default/beta"]
    for order in ("asc", "desc"):
        page = catalog.query_entities(small, filters=[[("kind", "component")]], order_field="metadata.title",
                                      order=order)
        assert refs(page)[-1] == "component:default/gamma"   # no title: last either way


def test_self_dependency_and_dangling_status(small):
    alpha = catalog.get_entity(small, "component:ops/alpha")
    assert {"type": "dependsOn", "targetRef": "component:ops/alpha"} in alpha["relations"]
    assert {"type": "dependencyOf", "targetRef": "component:ops/alpha"} in alpha["relations"]
    beta = catalog.get_entity(small, "component:default/beta")
    assert [i["message"] for i in beta["status"]["items"]] == [
        "spec.dependsOn refers to resource:default/missing-db, which is not in the catalog"]
    assert catalog.get_entity(small, "resource:default/missing-db") is None
    assert catalog.get_entities_by_refs(small, []) == []


def test_cursor_is_validated_and_limits_checked(small):
    for bad in ("", "!!!", "eyJ2IjoyfQ", "e30"):
        if bad:
            with pytest.raises(QueryError):
                catalog.query_entities(small, cursor=bad)
    with pytest.raises(QueryError):
        catalog.query_entities(small, limit=0)
    with pytest.raises(QueryError):
        catalog.query_entities(small, order_field="spec.definition")
    with pytest.raises(QueryError):
        catalog.query_entities(small, filters=[[("relations.ownedby", "no-kind")]])
    with pytest.raises(QueryError):
        catalog.entity_facets(small, [""])


def test_facets_cache_expires_on_ingest(small, tmp_path):
    before = catalog.entity_facets(small, ["spec.type"], [[("kind", "component")]])["facets"]["spec.type"]
    assert before == [{"value": "Service", "count": 1}, {"value": "library", "count": 1},
                      {"value": "service", "count": 1}]
    (tmp_path / "catalog-info.yaml").write_text(DOCS.replace("type: library", "type: service"))
    ingest(small, str(tmp_path))
    after = catalog.entity_facets(small, ["spec.type"], [[("kind", "component")]])["facets"]["spec.type"]
    assert after == [{"value": "service", "count": 2}, {"value": "Service", "count": 1}]
    assert catalog.query_entities(small, filters=[[("spec.type", "library")]])["totalItems"] == 0


def test_neighbourhood_and_paths_edge_cases(small):
    with pytest.raises(LookupError):
        catalog.neighbourhood(small, "component:default/nope")
    with pytest.raises(LookupError):
        catalog.find_paths(small, "component:default/beta", "component:default/nope")
    lonely = catalog.neighbourhood(small, "group:ops/team-a", depth=1, relations=["dependsOn"])
    assert [n["ref"] for n in lonely["nodes"]] == ["group:ops/team-a"] and lonely["edges"] == []
    same = catalog.find_paths(small, "component:default/beta", "component:default/beta")
    assert same["paths"] == [{"length": 0, "nodes": ["component:default/beta"], "hops": []}]
    apart = catalog.find_paths(small, "component:default/beta", "component:ops/alpha", max_hops=1)
    assert apart["paths"] == []
    placeholder = catalog.neighbourhood(small, "component:default/beta", depth=1)
    assert {"ref": "resource:default/missing-db", "kind": "Resource", "name": "missing-db", "namespace": "default",
            "title": None, "unresolved": True, "distance": 1} in placeholder["nodes"]


def test_sources_and_failed_runs_are_recorded(small, tmp_path):
    assert [s["target"] for s in catalog.list_sources(small)] == [str(tmp_path)]
    with pytest.raises(Exception):
        ingest(small, str(tmp_path / "missing"))
    runs = catalog.list_runs(small)
    assert [r["status"] for r in runs] == ["failed", "ok"]
    assert "does not exist" in runs[0]["error"]
