"""Build history trimming keeps the record that lets the published site be served (issue 11: a site is served
only while a successful build record is attached to the entity the catalog holds now)."""
from __future__ import annotations

from graph import techdocs
from ingest.sync import ingest

DOC = ("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: handbook\n"
       "  annotations: {backstage.io/techdocs-ref: \"dir:.\"}\nspec: {type: documentation, lifecycle: production, "
       "owner: docs-team}\n")
REF = "component:default/handbook"


def _build(graph, n: int, status: str) -> None:
    techdocs.start_build(graph, build_id=f"b{n:03d}", ref=REF, techdocs_ref="dir:.", hash=f"h{n}",
                         trigger="test", now=1_000 + n, stale_after_ms=10**9)
    techdocs.finish_build(graph, f"b{n:03d}", status=status, now=1_000 + n, error=None if status == "succeeded"
                          else "broken")


def test_a_run_of_failed_builds_keeps_the_last_good_one(graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(DOC)
    assert ingest(graph, str(tmp_path)).ok
    _build(graph, 0, "succeeded")
    for n in range(1, techdocs.KEEP_BUILDS + 5):
        _build(graph, n, "failed")
    history = techdocs.list_builds(graph, REF, limit=100)
    assert len(history) == techdocs.KEEP_BUILDS + 1          # the newest 20, plus the last success
    assert techdocs.latest_success(graph, REF)["id"] == "b000"
    _build(graph, 99, "succeeded")                             # a newer success: the old one may go now
    ids = [b["id"] for b in techdocs.list_builds(graph, REF, limit=100)]
    assert len(ids) == techdocs.KEEP_BUILDS and "b000" not in ids
    assert techdocs.latest_success(graph, REF)["id"] == "b099"


def test_removing_the_entity_detaches_its_builds_and_drops_its_pages(graph, tmp_path):
    from graph.search import doc_page_documents, index_doc_pages
    from graph.write import remove_entities

    (tmp_path / "catalog-info.yaml").write_text(DOC)
    assert ingest(graph, str(tmp_path)).ok
    _build(graph, 0, "succeeded")
    index_doc_pages(graph, REF, [{"path": "index.md", "title": "Handbook", "text": "hello"}])
    assert [d["ref"] for d in doc_page_documents(graph)] == [REF]
    remove_entities(graph, [REF])
    assert doc_page_documents(graph) == [] and techdocs.latest_success(graph, REF) is None
    assert REF in techdocs.stale_docs(graph)                   # prune still finds the orphaned site
