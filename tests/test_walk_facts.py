"""The facts a walk reports per entity come from one stored property, `walk_facts` (graph.walk), kept by the
write path and filled for older data by migration 3.

What a reader would notice if it went wrong: an entity restricted since the last ingest still listed for a
viewer in the Impact tab (a stale copy of the visibility facts), the old owner in the counts by owner, a removed
entity not shown as unresolved, or a catalog written before this release walking with missing facts.
"""
from __future__ import annotations

from pathlib import Path

from graph import migrations
from graph.impact import blast_radius
from graph.visibility import EVERYTHING, Visibility
from graph.walk import walk_facts
from ingest.sync import ingest

SHOP = "component:default/shop"
LEDGER = "component:default/ledger"
VIEWER = Visibility(claims=frozenset({"group:default/web"}))


def _component(name: str, owner: str, depends: str = "", restricted: bool = False, system: str = "") -> str:
    annotations = ', annotations: {trellis.io/restricted: "true"}' if restricted else ""
    deps = f", dependsOn: [{depends}]" if depends else ""
    sys_ = f", system: {system}" if system else ""
    return (f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}{annotations}}}\n"
            f"spec: {{type: service, lifecycle: production, owner: group:default/{owner}{deps}{sys_}}}\n")


def _load(graph, tmp_path: Path, *docs: str) -> None:
    (tmp_path / "catalog-info.yaml").write_text("---\n".join(docs))
    result = ingest(graph, str(tmp_path / "catalog-info.yaml"))
    assert result.ok and not result.rejected, result.as_json()


def _radius(graph, reader=EVERYTHING) -> dict:
    return blast_radius(graph, SHOP, 10, reader).page(50)


def test_a_restriction_added_by_a_later_ingest_hides_the_entity_from_a_viewer(graph, tmp_path):
    _load(graph, tmp_path, _component("shop", "web"), _component("ledger", "payments", SHOP))
    assert [i["ref"] for i in _radius(graph, VIEWER)["items"]] == [LEDGER]
    _load(graph, tmp_path, _component("shop", "web"), _component("ledger", "payments", SHOP, restricted=True))
    page = _radius(graph, VIEWER)
    assert page["items"] == [] and page["summary"]["hidden"] == 1
    _load(graph, tmp_path, _component("shop", "web"), _component("ledger", "payments", SHOP))
    assert [i["ref"] for i in _radius(graph, VIEWER)["items"]] == [LEDGER]


def test_a_changed_owner_and_system_show_in_the_counts(graph, tmp_path):
    _load(graph, tmp_path, _component("shop", "web"), _component("ledger", "payments", SHOP, system="money"))
    _load(graph, tmp_path, _component("shop", "web"), _component("ledger", "finance", SHOP, system="books"))
    summary = _radius(graph)["summary"]
    assert summary["by_owner"] == [{"owner": "group:default/finance", "count": 1}]
    assert summary["by_system"] == [{"system": "system:default/books", "count": 1}]


def test_a_removed_entity_others_depend_on_walks_as_unresolved(graph, tmp_path):
    _load(graph, tmp_path, _component("shop", "web"), _component("ledger", "payments", SHOP),
          _component("invoices", "web", LEDGER))
    (tmp_path / "catalog-info.yaml").write_text("---\n".join([_component("shop", "web"),
                                                             _component("invoices", "web", LEDGER)]))
    assert ingest(graph, str(tmp_path / "catalog-info.yaml")).ok
    # ledger is gone but invoices still depends on it: a placeholder, which breaks nothing on its own (it no
    # longer declares its dependency on shop), so shop's radius is empty and ledger's shows invoices.
    assert _radius(graph)["items"] == []
    page = blast_radius(graph, LEDGER, 10, EVERYTHING).page(50)
    assert page["root"]["unresolved"] is True
    assert [i["ref"] for i in page["items"]] == ["component:default/invoices"]
    stored = graph.read("MATCH (n:Entity {ref: $ref}) RETURN n.walk_facts AS f", ref=LEDGER)[0]["f"]
    assert stored == walk_facts(LEDGER, "Component", unresolved=True)


def test_a_placeholder_walks_as_unresolved(graph, tmp_path):
    _load(graph, tmp_path, _component("ledger", "payments", SHOP))   # shop is declared by nobody
    page = blast_radius(graph, LEDGER, 10, EVERYTHING, walk="dependencies").page(50)
    assert [(i["ref"], i["unresolved"]) for i in page["items"]] == [(SHOP, True)]


def test_migration_3_fills_the_facts_of_a_catalog_written_before_it(graph, tmp_path):
    _load(graph, tmp_path, _component("shop", "web"), _component("ledger", "payments", SHOP, restricted=True,
                                                                 system="money"),
          _component("invoices", "web", LEDGER))
    before = _radius(graph, VIEWER)
    expected = {r["ref"]: r["f"] for r in graph.read("MATCH (n:Entity) RETURN n.ref AS ref, n.walk_facts AS f")}
    graph.write("MATCH (n:Entity) REMOVE n.walk_facts")   # as the previous release wrote it
    from graph import versioned
    versioned.clear()
    assert _radius(graph, VIEWER) == before   # a node without the property walks from its own properties
    (migration,) = [m for m in migrations.MIGRATIONS if m.version == 3]
    migration.apply(graph)
    stored = {r["ref"]: r["f"] for r in graph.read("MATCH (n:Entity) RETURN n.ref AS ref, n.walk_facts AS f")}
    assert stored == expected and all(stored.values())
    versioned.clear()
    assert _radius(graph, VIEWER) == before


def _disagreeing(graph) -> list[dict]:
    from graph.walk import WALK_FACTS_CYPHER

    return graph.read(f"MATCH (n:Entity) WITH n, {WALK_FACTS_CYPHER} AS own "
                      "WHERE n.walk_facts IS NULL OR n.walk_facts <> own "
                      "RETURN n.ref AS ref, n.walk_facts AS stored, own")


def test_stored_facts_agree_with_the_entities_after_every_kind_of_write(graph, tmp_path):
    """The invariant the walk relies on, over the demo catalog (every kind, placeholders, restricted
    entities), then after updates and removals."""
    demo = Path(__file__).resolve().parent.parent / "examples" / "demo-catalog"
    result = ingest(graph, str(demo))
    assert result.added > 100
    assert _disagreeing(graph) == []
    _load(graph, tmp_path, _component("shop", "web"), _component("ledger", "payments", SHOP, restricted=True))
    _load(graph, tmp_path, _component("shop", "finance", system="books"), _component("ledger", "payments", SHOP))
    _load(graph, tmp_path, _component("ledger", "payments", SHOP))   # shop removed: a placeholder again
    assert _disagreeing(graph) == []
