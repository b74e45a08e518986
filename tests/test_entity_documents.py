"""Entity reads are served from a ready document per entity (graph.entities), cached per catalog version.

What a reader would notice if it went wrong: an entity or a relation read by an admin served to a viewer who
may not see it, or a change ingested by another process never showing up. Each test reads as the privileged
reader first, so the document is in the cache when the less privileged one asks.
"""
from __future__ import annotations

import time
from pathlib import Path

from graph import entities, query, versioned
from servers.neo4j import env_for
from tests.support.cli import trellis
from graph.visibility import EVERYTHING, Visibility
from ingest.sync import ingest

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
  annotations: {trellis.io/restricted: "true"}
spec: {type: service, lifecycle: production, owner: group:default/payments, dependsOn: [component:default/shop]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop, description: first}
spec: {type: website, lifecycle: production, owner: group:default/web}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: payments}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: web}
spec: {type: team, children: []}
"""

VIEWER = Visibility(claims=frozenset({"group:default/web"}))
PAYMENTS = Visibility(claims=frozenset({"group:default/payments"}))


def _load(graph, tmp_path: Path, text: str = CATALOG):
    (tmp_path / "catalog-info.yaml").write_text(text)
    result = ingest(graph, str(tmp_path / "catalog-info.yaml"))
    assert result.ok, result.problems
    assert versioned.catalog_version(graph) is not None   # the cached path is the one under test
    return result


def test_a_document_read_by_an_admin_is_not_served_to_a_reader_who_may_not_see_it(graph, tmp_path):
    _load(graph, tmp_path)
    assert entities.get_entity(graph, "component:default/ledger", EVERYTHING) is not None
    assert entities.get_entity(graph, "component:default/ledger", VIEWER) is None
    assert entities.get_entity(graph, "component:default/ledger", PAYMENTS) is not None


def test_relations_to_hidden_entities_are_left_out_per_reader(graph, tmp_path):
    _load(graph, tmp_path)
    admin = entities.get_entity(graph, "component:default/shop", EVERYTHING)
    assert {"type": "dependencyOf", "targetRef": "component:default/ledger"} in admin["relations"]
    viewer = entities.get_entity(graph, "component:default/shop", VIEWER)
    assert all(r["targetRef"] != "component:default/ledger" for r in viewer["relations"])
    assert {"type": "ownedBy", "targetRef": "group:default/web"} in viewer["relations"]


def test_hidden_kinds_stay_hidden_from_the_cache(graph, tmp_path):
    _load(graph, tmp_path)
    entities.get_entity(graph, "group:default/web", EVERYTHING)
    no_groups = Visibility(claims=frozenset(), hidden_kinds=frozenset({"group"}))
    assert entities.get_entity(graph, "group:default/web", no_groups) is None
    shop = entities.get_entity(graph, "component:default/shop", no_groups)
    assert all(not r["targetRef"].startswith("group:") for r in shop["relations"])


def test_a_change_ingested_by_another_process_is_served_within_a_second(graph, neo4j_uri, tmp_path):
    _load(graph, tmp_path)
    assert entities.get_entity(graph, "component:default/shop")["metadata"]["description"] == "first"
    (tmp_path / "catalog-info.yaml").write_text(CATALOG.replace("description: first", "description: second"))
    done = trellis("ingest", str(tmp_path / "catalog-info.yaml"), env=env_for(neo4j_uri), timeout=300)
    assert done.returncode == 0, done.stderr
    time.sleep(1.0)   # the promise: within a second, whatever the poll interval
    assert entities.get_entity(graph, "component:default/shop")["metadata"]["description"] == "second"


# ------------------------------------------------------------------- list pages (graph.query): refs cached per version

def _page(graph, visibility, **kw) -> list[str]:
    result = query.query_entities(graph, filters=[[("kind", "component")]], limit=50, visibility=visibility, **kw)
    return [f"component:default/{e['metadata']['name']}" for e in result["items"]]


def test_a_list_page_read_by_an_admin_is_not_served_to_a_reader_who_may_not_see_it(graph, tmp_path):
    _load(graph, tmp_path)
    assert _page(graph, EVERYTHING) == ["component:default/ledger", "component:default/shop"]
    assert _page(graph, VIEWER) == ["component:default/shop"]
    assert _page(graph, PAYMENTS) == ["component:default/ledger", "component:default/shop"]
    viewer = query.query_entities(graph, filters=[[("kind", "component")]], visibility=VIEWER)
    assert viewer["totalItems"] == 1
    shop = viewer["items"][0]
    assert all(r["targetRef"] != "component:default/ledger" for r in shop["relations"])
    # One entity per page: the admin's first page (ledger, then a cursor) must not become the viewer's.
    first = query.query_entities(graph, filters=[[("kind", "component")]], limit=1, visibility=EVERYTHING)
    assert [e["metadata"]["name"] for e in first["items"]] == ["ledger"]
    first = query.query_entities(graph, filters=[[("kind", "component")]], limit=1, visibility=VIEWER)
    assert [e["metadata"]["name"] for e in first["items"]] == ["shop"]
    assert first["pageInfo"]["nextCursor"] is None


def test_a_list_page_shows_an_entity_ingested_by_another_process_within_a_second(graph, neo4j_uri, tmp_path):
    _load(graph, tmp_path)
    assert _page(graph, VIEWER) == ["component:default/shop"]
    added = CATALOG + ("---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: audit}\n"
                       "spec: {type: service, lifecycle: production, owner: group:default/web}\n")
    (tmp_path / "catalog-info.yaml").write_text(added)
    done = trellis("ingest", str(tmp_path / "catalog-info.yaml"), env=env_for(neo4j_uri), timeout=300)
    assert done.returncode == 0, done.stderr
    time.sleep(1.0)
    assert _page(graph, VIEWER) == ["component:default/audit", "component:default/shop"]
