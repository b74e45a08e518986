"""Docs pages in search: graph.search.index_doc_pages (what the TechDocs build calls) replaces an entity's
pages, refuses bad input without losing what was stored, and pages follow their entity's visibility."""
from __future__ import annotations

import pytest

from graph.search import SearchQuery, doc_pages, index_doc_pages, remove_doc_pages, search
from graph.visibility import EVERYTHING, Visibility
from ingest.sync import ingest

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: billing, description: Sends invoices.}
spec: {type: service, lifecycle: production, owner: group:default/finance}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: treasury
  annotations: {trellis.io/restricted: "true"}
spec: {type: service, lifecycle: production, owner: group:default/cfo-office}
"""


@pytest.fixture
def docs_graph(graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(CATALOG)
    ingest(graph, str(tmp_path))
    index_doc_pages(graph, "component:default/billing", [
        {"path": "index.html", "title": "Billing overview", "text": "Invoices go out on the first working day."},
        {"path": "runbook/retries.html", "title": "Retry runbook", "text": "When the <PSP> times out, retry with backoff & jitter."},
    ])
    index_doc_pages(graph, "component:default/treasury", [
        {"path": "index.html", "title": "Treasury", "text": "Cash positions and hedging of invoices."}])
    return graph


def hits(graph, text, visibility=EVERYTHING, **kw):
    return search(graph, SearchQuery(text, **kw), visibility).hits


def test_page_text_is_found_with_a_highlighted_snippet(docs_graph):
    found = hits(docs_graph, "backof")            # a prefix of "backoff"
    assert [(h.doctype, h.ref, h.page["path"]) for h in found] == [
        ("techdocs", "component:default/billing", "runbook/retries.html")]
    assert found[0].snippet_html == "When the &lt;PSP&gt; times out, retry with <mark>backoff</mark> &amp; jitter."
    assert found[0].title_html == "Retry runbook"
    assert [h.page["path"] for h in hits(docs_graph, "runbok")] == ["runbook/retries.html"]   # typo, in a title
    assert [h.doctype for h in hits(docs_graph, "invoices", docs=False)] == ["entity"]


def test_pages_follow_their_entity_visibility(docs_graph):
    everyone = {(h.ref, h.doctype) for h in hits(docs_graph, "invoices")}
    assert ("component:default/treasury", "techdocs") in everyone
    outsider = search(docs_graph, SearchQuery("invoices"), Visibility(claims=frozenset({"user:default/x"})))
    assert {h.ref for h in outsider.hits} == {"component:default/billing"} and outsider.total == 2
    insider = search(docs_graph, SearchQuery("invoices"), Visibility(claims=frozenset({"group:default/cfo-office"})))
    assert insider.total == 3


def test_index_replaces_and_refuses_bad_input_without_loss(docs_graph):
    assert index_doc_pages(docs_graph, "Component:default/Billing", [{"path": "index.html", "title": "New"}]) == 1
    assert [p["path"] for p in doc_pages(docs_graph, "component:default/billing")] == ["index.html"]
    assert hits(docs_graph, "backoff") == []
    before = doc_pages(docs_graph, "component:default/billing")
    for bad in ([{"title": "no path"}], [{"path": ""}], [{"path": "a", "text": 3}], ["x"], "not a list"):
        with pytest.raises(ValueError):
            index_doc_pages(docs_graph, "component:default/billing", bad)
    with pytest.raises(LookupError):
        index_doc_pages(docs_graph, "component:default/nobody", [{"path": "a"}])
    assert doc_pages(docs_graph, "component:default/billing") == before
    remove_doc_pages(docs_graph, "component:default/billing")
    assert doc_pages(docs_graph, "component:default/billing") == []
