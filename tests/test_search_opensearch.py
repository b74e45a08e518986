"""The Elasticsearch-API engine plugin against a real OpenSearch 2.19 node (Maven Central jars, started here):
the same answers as the Neo4j engine, rebuild with an atomic alias swap, incremental updates after ingest."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from graph.search import SearchQuery, index_doc_pages, search as neo4j_search
from graph.visibility import EVERYTHING, Visibility
from ingest.sync import ingest
from plugins.builtin.opensearch import make_engine
from plugins.builtin.opensearch.engine import query_body, visibility_filter
from plugins.registry import load_registry
from tests.test_search import CATALOG

OUTSIDER = Visibility(claims=frozenset({"user:default/someone"}))


@pytest.fixture(scope="module")
def node():
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: the OpenSearch node needs Java 11+")
    from servers.opensearch import start

    home = Path(tempfile.mkdtemp(prefix="trellis-test-opensearch-"))
    node = start(home)
    yield node
    node.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def loaded(graph_module, tmp_path_factory):
    folder = tmp_path_factory.mktemp("os-catalog")
    (folder / "catalog-info.yaml").write_text(CATALOG)
    result = ingest(graph_module, str(folder))
    assert result.added == 11
    index_doc_pages(graph_module, "component:default/ledger", [
        {"path": "index.md", "title": "Ledger handbook", "text": "How reconciliation works at month end."}])
    return graph_module, folder


@pytest.fixture(scope="module")
def engine(node, loaded):
    graph, _ = loaded
    eng = make_engine(graph, "opensearch", url=node.url, index="trellis-test")
    report = eng.rebuild()
    assert report["entities"] == 11 and report["pages"] == 1, report
    return eng


def refs(result) -> list[str]:
    return [h.ref for h in result.hits]


def test_same_ranking_as_the_neo4j_engine(engine, loaded):
    graph, _ = loaded
    for text in ("payments", "Payments Service", "paymnets-gateway", "ledgr", "typescript", "keys", "java"):
        ours = engine.search(SearchQuery(text, limit=50), EVERYTHING)
        reference = neo4j_search(graph, SearchQuery(text, limit=50), EVERYTHING)
        assert ours.total == reference.total, text
        assert refs(ours)[:1] == refs(reference)[:1], text
        assert set(refs(ours)) == set(refs(reference)), text
        assert [h.tier for h in ours.hits] == [h.tier for h in reference.hits], text
    assert engine.search(SearchQuery("payments")).hits[0].ref == "system:default/payments"
    assert "component:default/ledger" in refs(engine.search(SearchQuery("ledgr")))[:3]


def test_visibility_is_a_filter_inside_the_query(engine):
    assert engine.search(SearchQuery("keys"), EVERYTHING).total == 2
    hidden = engine.search(SearchQuery("keys"), OUTSIDER)
    assert hidden.total == 0 and hidden.facets["kind"] == []
    owner = engine.search(SearchQuery("keys"), Visibility(claims=frozenset({"group:default/vault-team"})))
    assert owner.total == 2
    java = engine.search(SearchQuery("java", limit=2), OUTSIDER)
    assert java.total == 3 and len(java.hits) == 2
    assert {f["value"]: f["count"] for f in java.facets["tags"]}["java"] == 3
    assert visibility_filter(EVERYTHING) is None


def test_facets_filters_pages_and_docs(engine):
    result = engine.search(SearchQuery("payments", limit=1))
    kinds = {f["value"]: f["count"] for f in result.facets["kind"]}
    assert kinds == {"Component": 5, "API": 1, "System": 1, "Group": 1, "Resource": 2}
    assert sum(kinds.values()) == result.total and len(result.hits) == 1
    only = engine.search(SearchQuery("payments", kinds=("component",), lifecycles=("production",)))
    assert only.total == 3
    walked = [h.ref for p in range(1, 5) for h in engine.search(SearchQuery("payments", limit=3, page=p)).hits]
    assert walked == refs(engine.search(SearchQuery("payments", limit=50)))
    docs = engine.search(SearchQuery("reconciliation"))
    assert docs.hits[0].doctype == "techdocs" and docs.hits[0].ref == "component:default/ledger"
    assert "<mark>reconciliation</mark>" in docs.hits[0].snippet_html
    assert engine.suggest("payments-v")[0]["ref"] == "resource:default/payments-vault"
    assert engine.suggest("payments-v", OUTSIDER) == []


@pytest.mark.parametrize("text", ['"(*:~', 'payments"(', "name:payments", "pay*", "a AND b", "\\", "[a TO z]"])
def test_special_characters_are_text(engine, text):
    result = engine.search(SearchQuery(text))
    if text == 'payments"(':
        assert refs(result)[0] == "system:default/payments"
    body = query_body(SearchQuery(text))
    assert "query_string" not in str(body)          # never a query-parsing clause


def test_rebuild_swaps_the_alias_atomically(engine):
    before = engine.backend.alias_indices("trellis-test")
    report = engine.rebuild()
    after = engine.backend.alias_indices("trellis-test")
    assert len(before) == 1 and after == [report["index"]] and report["replaced"] == before
    assert not engine.backend.client.indices.exists(index=before[0])
    assert engine.search(SearchQuery("payments")).total == 10


def test_each_ingest_updates_the_index(engine, node, loaded, monkeypatch):
    graph, folder = loaded
    monkeypatch.setenv("TRELLIS_SEARCH_ENGINE", "opensearch")
    monkeypatch.setenv("TRELLIS_OPENSEARCH_URL", node.url)
    monkeypatch.setenv("TRELLIS_SEARCH_INDEX", "trellis-test")
    import plugins.registry as reg
    monkeypatch.setattr(reg, "_cached", load_registry())
    text = CATALOG.replace("Double-entry book of every payments movement.", "Zebrafish accounting.")
    text = text.replace("metadata: {name: refund-worker", "metadata: {name: refund-robot")
    (folder / "catalog-info.yaml").write_text(text)
    result = ingest(graph, str(folder))      # ingest.sync runs the after-ingest hooks once the run is recorded
    assert result.updated == 1 and result.added == 1 and result.removed == 1, result.as_json()
    assert refs(engine.search(SearchQuery("zebrafish"))) == ["component:default/ledger"]
    assert refs(engine.search(SearchQuery("refund-robot")))[0] == "component:default/refund-robot"
    assert "component:default/refund-worker" not in refs(engine.search(SearchQuery("refund-worker", limit=50)))
    # the ledger's docs page survived its entity's update
    assert refs(engine.search(SearchQuery("reconciliation"))) == ["component:default/ledger"]


def test_cli_reindex_and_search_through_the_plugin(engine, node, loaded, neo4j_uri, monkeypatch):
    import json

    from click.testing import CliRunner

    import plugins.search
    from app.cli import main

    monkeypatch.setattr(plugins.search, "_engines", {})
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    monkeypatch.setenv("TRELLIS_OPENSEARCH_URL", node.url)
    monkeypatch.setenv("TRELLIS_SEARCH_INDEX", "trellis-cli")
    built = CliRunner().invoke(main, ["search-reindex", "--engine", "opensearch", "--json"])
    assert built.exit_code == 0, built.output
    report = json.loads(built.stdout)
    assert report["rebuilt"] and report["engine"] == "opensearch" and report["index"].startswith("trellis-cli-")
    found = CliRunner().invoke(main, ["search", "ledgr", "--engine", "opensearch", "--json"])
    assert json.loads(found.stdout)["engine"] == "opensearch"
    assert "component:default/ledger" in [i["ref"] for i in json.loads(found.stdout)["items"][:3]]


def test_docs_pages_follow_after_a_docs_build(engine, node, loaded, monkeypatch):
    import plugins.search
    from plugins.search import doc_pages_changed

    graph, _ = loaded
    monkeypatch.setattr(plugins.search, "_engines", {})
    monkeypatch.setenv("TRELLIS_SEARCH_ENGINE", "opensearch")
    monkeypatch.setenv("TRELLIS_OPENSEARCH_URL", node.url)
    monkeypatch.setenv("TRELLIS_SEARCH_INDEX", engine.alias)
    index_doc_pages(graph, "component:default/ledger", [
        {"path": "close.md", "title": "Closing the books", "text": "Quarter close checklist."}])
    doc_pages_changed(graph, "component:default/ledger")
    assert [h.page["path"] for h in engine.search(SearchQuery("checklist")).hits] == ["close.md"]
    assert engine.search(SearchQuery("reconciliation")).total == 0     # the replaced page is gone


def test_a_missed_update_heals_on_the_next_ingest(engine, node, loaded, monkeypatch, tmp_path):
    import plugins.search
    from graph.search import index_is_stale

    graph, _ = loaded
    monkeypatch.setattr(plugins.search, "_engines", {})
    monkeypatch.setenv("TRELLIS_SEARCH_ENGINE", "opensearch")
    monkeypatch.setenv("TRELLIS_SEARCH_INDEX", engine.alias)
    import plugins.registry as reg
    monkeypatch.setattr(reg, "_cached", load_registry())
    monkeypatch.setenv("TRELLIS_OPENSEARCH_URL", "http://127.0.0.1:1")        # the cluster is down
    folder = tmp_path / "late"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: latecomer}\n"
        "spec: {type: service, lifecycle: production, owner: group:default/payments-team}\n")
    first = ingest(graph, str(folder))             # the hook fails (logged); the run itself stays ok
    assert first.ok and first.added == 1
    assert index_is_stale(graph, engine.alias)
    monkeypatch.setattr(plugins.search, "_engines", {})
    monkeypatch.setenv("TRELLIS_OPENSEARCH_URL", node.url)                    # back
    (folder / "other.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: second-comer}\n"
        "spec: {type: service, lifecycle: production, owner: group:default/payments-team}\n")
    ingest(graph, str(folder))
    assert not index_is_stale(graph, engine.alias)
    assert refs(engine.search(SearchQuery("latecomer")))[:1] == ["component:default/latecomer"]
