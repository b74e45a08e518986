"""Search on the Neo4j engine (graph.search): ranking, typos, escaping, visibility inside the query, facets,
snippets and pages, over a small catalog made for it."""
from __future__ import annotations

import pytest

from graph.search import (SearchError, SearchQuery, escape_lucene, exact_forms, highlight, lucene_query,
                          query_terms, search, suggest, word_matches)
from graph.visibility import EVERYTHING, NOTHING, Visibility
from ingest.sync import ingest

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: payments-team, title: Payments Team, description: Owns card payments.}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: vault-team, description: Keeps secrets.}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: payments, title: Payments, description: Card payments end to end.}
spec: {owner: payments-team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: payments-service, title: Payments Service, description: Takes card payments., tags: [java, pci]}
spec: {type: service, lifecycle: production, owner: payments-team, system: payments}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: payments-gateway, description: Talks to the acquirer., tags: [go]}
spec: {type: service, lifecycle: experimental, owner: payments-team, system: payments}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger, description: Double-entry book of every payments movement., tags: [java]}
spec: {type: library, lifecycle: production, owner: payments-team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: checkout-service, description: Basket and checkout flow., tags: [typescript]}
spec: {type: website, lifecycle: production, owner: payments-team}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: payments-api, description: "REST API for <payments> & refunds", tags: [rest]}
spec: {type: openapi, lifecycle: production, owner: payments-team, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: refund-worker, description: Refunds queued by support., tags: [java]}
spec: {type: service, lifecycle: deprecated, owner: group:default/payments-team}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: payments-vault
  description: Secret keys of the payments platform.
  tags: [java]
  annotations: {trellis.io/restricted: "true"}
spec: {type: vault, owner: vault-team}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: payments-hsm
  description: Hardware keys for payments.
  annotations: {trellis.io/restricted: "true"}
spec: {type: hsm, owner: vault-team}
"""

OUTSIDER = Visibility(claims=frozenset({"user:default/someone"}))
VAULT = Visibility(claims=frozenset({"group:default/vault-team"}))


@pytest.fixture(scope="module")
def catalog(graph_module, tmp_path_factory):
    folder = tmp_path_factory.mktemp("search-catalog")
    (folder / "catalog-info.yaml").write_text(CATALOG)
    result = ingest(graph_module, str(folder))
    assert result.added == 11 and not result.rejected, result.as_json()
    return graph_module


def refs(result) -> list[str]:
    return [h.ref for h in result.hits]


def find(graph, text: str, visibility: Visibility = EVERYTHING, **kw):
    return search(graph, SearchQuery(text, **kw), visibility)


# --------------------------------------------------------------------------------------- pure parts

def test_user_input_never_becomes_lucene_syntax():
    assert query_terms('pay"(*:~ments) AND -x') == ["pay", "ments", "and", "x"]
    query = lucene_query('name:payments "x" (y) *z~')
    assert "name:payments" in query          # only as the escaped whole word, never as a field of ours
    assert r"name\:payments" in query
    assert '"' not in query and "(y)" not in query
    assert escape_lucene('a+b-c&&d||e!(f){g}[h]^i"j~k*l?m:n\\o/p') == (
        r'a\+b\-c\&\&d\|\|e\!\(f\)\{g\}\[h\]\^i\"j\~k\*l\?m\:n\\o\/p')
    assert lucene_query('"(*:~') == "" and lucene_query("   ") == ""


def test_exact_forms_cover_names_written_with_spaces():
    assert exact_forms("Payments Service") == ["payments service", "payments-service", "payments_service",
                                               "payments.service", "paymentsservice"]


def test_highlight_escapes_and_marks():
    out = highlight("REST API for <payments> & refunds", ["payment"])
    assert out == "REST API for &lt;<mark>payments</mark>&gt; &amp; refunds"
    assert highlight("<script>alert(1)</script>", ["alert"]) == "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt;"
    long = "word " * 100 + "needle here " + "tail " * 100
    cut = highlight(long, ["needle"], width=80)
    assert cut.startswith("…") and cut.endswith("…") and "<mark>needle</mark>" in cut and len(cut) < 140
    assert word_matches("Payments", ["paymnets"]) and word_matches("service", ["servce"])
    assert not word_matches("ledger", ["payments"])


# ---------------------------------------------------------------------------------------- relevance

def test_exact_name_first_then_prefix_then_text(catalog):
    result = find(catalog, "payments")
    order = refs(result)
    exact = {"system:default/payments"}
    prefix = {"component:default/payments-service", "component:default/payments-gateway", "api:default/payments-api",
              "group:default/payments-team"}
    assert order[0] in exact
    assert set(order[1:5]) == prefix, order
    # description-only and owner-only matches come after every name match
    assert "component:default/ledger" in order[5:] and "component:default/refund-worker" in order[5:]
    assert [h.tier for h in result.hits][:5] == [0, 1, 1, 1, 1]


def test_title_and_multi_word_exact_match(catalog):
    assert refs(find(catalog, "Payments Service"))[0] == "component:default/payments-service"
    assert refs(find(catalog, "payments-gateway"))[0] == "component:default/payments-gateway"
    assert refs(find(catalog, "ledger"))[0] == "component:default/ledger"


@pytest.mark.parametrize("typo, expected", [
    ("paymnets-gateway", "component:default/payments-gateway"),   # transposition
    ("ledgr", "component:default/ledger"),                        # deletion
    ("checkoutt-service", "component:default/checkout-service"),   # insertion
    ("refund-workar", "component:default/refund-worker"),          # substitution
])
def test_one_letter_typos_still_find_the_entity(catalog, typo, expected):
    assert expected in refs(find(catalog, typo))[:3]


def test_words_in_tags_owner_and_description(catalog):
    assert set(refs(find(catalog, "typescript"))) == {"component:default/checkout-service"}
    assert "component:default/ledger" in refs(find(catalog, "double entry"))
    owned = refs(find(catalog, "payments-team", kinds=("component",)))
    assert set(owned) == {"component:default/payments-service", "component:default/payments-gateway",
                          "component:default/ledger", "component:default/checkout-service",
                          "component:default/refund-worker"}


@pytest.mark.parametrize("text", ['"(*:~', 'payments"(', "name:payments", "pay*", "a AND b OR NOT c", "\\",
                                  "[a TO z]", "payments~1", "{}", "/regex/", "payments && ledger ||", "  ", "ü"])
def test_special_characters_are_text_not_syntax(catalog, text):
    result = find(catalog, text)      # never a Lucene parse error
    assert result.total == len(result.hits) or result.total > len(result.hits)
    if text == 'payments"(':
        assert refs(result)[0] == "system:default/payments"
    if text in ('"(*:~', "  ", "\\", "{}"):
        assert result.total == 0


def test_query_and_paging_limits_are_checked():
    with pytest.raises(SearchError):
        SearchQuery("x" * 201)
    with pytest.raises(SearchError):
        SearchQuery("x", limit=0)
    with pytest.raises(SearchError):
        SearchQuery("x", page=0)
    with pytest.raises(SearchError):
        SearchQuery("x", page=1000, limit=100)
    with pytest.raises(SearchError):
        SearchQuery("x", owners=("group:",))


# -------------------------------------------------------------------------------------- permissions

def test_restricted_entities_hidden_and_counts_honest(catalog):
    admin = find(catalog, "keys")
    assert set(refs(admin)) == {"resource:default/payments-vault", "resource:default/payments-hsm"}
    hidden = find(catalog, "keys", OUTSIDER)
    assert hidden.total == 0 and hidden.hits == []
    assert hidden.facets["kind"] == []
    owner = find(catalog, "keys", VAULT)
    assert owner.total == 2
    assert find(catalog, "keys", NOTHING).total == 0


def test_pages_stay_full_when_restricted_entities_rank_first(catalog):
    # "payments-vault" and "payments-hsm" are prefix matches; an outsider's first page must still be full
    everyone = find(catalog, "java")
    assert "resource:default/payments-vault" in refs(everyone)
    outsider = find(catalog, "java", OUTSIDER, limit=2)
    assert outsider.total == everyone.total - 1
    assert len(outsider.hits) == 2 and "resource:default/payments-vault" not in refs(outsider)
    java_tags = {f["value"]: f["count"] for f in outsider.facets["tags"]}
    assert java_tags["java"] == 3
    assert {f["value"]: f["count"] for f in everyone.facets["tags"]}["java"] == 4


def test_suggestions_respect_visibility(catalog):
    assert suggest(catalog, "payments-v")[0]["ref"] == "resource:default/payments-vault"   # name prefix first
    assert suggest(catalog, "payments-v", OUTSIDER) == []
    first = suggest(catalog, "paym", limit=3)
    assert len(first) == 3 and all("<mark>" in s["label_html"] for s in first)


# ----------------------------------------------------------------------------- facets, filters, pages

def test_facets_count_the_whole_result(catalog):
    result = find(catalog, "payments", limit=1)
    assert len(result.hits) == 1
    kinds = {f["value"]: f["count"] for f in result.facets["kind"]}
    assert sum(kinds.values()) == result.total
    # the owner field counts too: every component of payments-team matches "payments"
    assert kinds == {"Component": 5, "API": 1, "System": 1, "Group": 1, "Resource": 2}
    lifecycles = {f["value"]: f["count"] for f in result.facets["lifecycle"]}
    assert lifecycles == {"production": 4, "experimental": 1, "deprecated": 1}
    owners = {f["value"]: f["count"] for f in result.facets["owner"]}
    assert owners["group:default/payments-team"] >= 6


def test_filters_narrow_results_and_counts(catalog):
    only = find(catalog, "payments", kinds=("COMPONENT",), lifecycles=("production",))
    assert set(refs(only)) == {"component:default/payments-service", "component:default/ledger",
                               "component:default/checkout-service"}
    assert only.total == 3
    tagged = find(catalog, "payments", tags=("java", "pci"))
    assert refs(tagged) == ["component:default/payments-service"]
    typed = find(catalog, "payments", types=("Service",))
    assert set(refs(typed)) == {"component:default/payments-service", "component:default/payments-gateway",
                                "component:default/refund-worker"}
    by_owner = find(catalog, "keys", owners=("vault-team",))
    assert by_owner.total == 2
    assert find(catalog, "keys", owners=("payments-team",)).total == 0


def test_pagination_walks_every_result_once(catalog):
    whole = find(catalog, "payments", limit=100)
    seen: list[str] = []
    page = 1
    while True:
        part = find(catalog, "payments", limit=3, page=page)
        assert part.total == whole.total
        if not part.hits:
            break
        seen += [h.ref for h in part.hits]
        page += 1
    assert seen == refs(whole)
    assert page - 1 == find(catalog, "payments", limit=3).pages


def test_past_the_candidate_cap_the_total_is_a_lower_bound(catalog):
    import graph.search as engine

    full = find(catalog, "payments")
    assert full.total_exact and full.total == 10
    capped = engine.search(catalog, SearchQuery("payments"), EVERYTHING, cap=4)
    assert not capped.total_exact and capped.total == 4
    assert refs(capped)[0] == "system:default/payments"
    assert capped.as_json()["total_exact"] is False


def test_hits_carry_escaped_highlights(catalog):
    hit = next(h for h in find(catalog, "refunds").hits if h.ref == "api:default/payments-api")
    assert hit.snippet_html == "REST API for &lt;payments&gt; &amp; <mark>refunds</mark>"
    as_json = hit.as_json()
    assert as_json["highlight"]["snippet"] == hit.snippet_html and as_json["match"] == "text"


def test_dotted_names_are_found_whole_and_with_a_typo(graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: jonas.martin2}\nspec: {memberOf: []}\n")
    ingest(graph, str(tmp_path))
    for text in ("jonas.martin2", "jonas", "ojnas.martin2", "jonas.martni2"):
        assert refs(find(graph, text))[:1] == ["user:default/jonas.martin2"], text


def test_facets_list_the_most_frequent_values_first(graph, tmp_path, monkeypatch):
    import graph.search as engine

    docs = [f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}, tags: [{tag}]}}\n"
            f"spec: {{type: service, lifecycle: production, owner: group:default/team}}\n"
            for i, tag in enumerate(["rare"] + ["common"] * 5 + ["middle"] * 3)]
    (tmp_path / "catalog-info.yaml").write_text("---\n".join(docs))
    ingest(graph, str(tmp_path))
    monkeypatch.setattr(engine, "FACET_TOP", 2)
    tags = find(graph, "svc").facets["tags"]
    assert tags == [{"value": "common", "count": 5}, {"value": "middle", "count": 3}]
