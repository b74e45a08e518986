"""Search as users meet it over the demo catalog: GET /api/v1/search and /search/suggest (with 400s for bad
parameters), the /search page and the header box, and `trellis search`."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from app.cli import main


def get(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.data[:500])
    return response.get_json()


# ----------------------------------------------------------------------------------------------- API

def test_api_search_ranks_pages_and_counts(portal_client):
    body = get(portal_client, "/api/v1/search?q=payments-db")
    assert body["items"][0]["ref"] == "resource:default/payments-db" and body["items"][0]["match"] == "exact"
    assert body["engine"] == "neo4j" and body["total_exact"] is True
    assert set(body["facets"]) == {"kind", "type", "owner", "lifecycle", "tags"}
    assert "<mark>" in body["items"][0]["highlight"]["title"]
    every = get(portal_client, "/api/v1/search?q=payments&limit=100")
    assert sum(f["count"] for f in every["facets"]["kind"]) == every["total"] == len(every["items"])
    one = get(portal_client, "/api/v1/search?q=payments&limit=5&page=2")
    assert [i["ref"] for i in one["items"]] == [i["ref"] for i in every["items"][5:10]]
    assert one["pages"] == -(-every["total"] // 5)


def test_api_typo_filters_and_plain_text_queries(portal_client):
    typo = get(portal_client, "/api/v1/search?q=paymnets-db")
    assert "resource:default/payments-db" in [i["ref"] for i in typo["items"][:3]]
    apis = get(portal_client, "/api/v1/search?q=payments&kind=api&kind=API")
    assert apis["items"] and {i["kind"] for i in apis["items"]} == {"API"}
    assert apis["filters"] == {"kind": ["api"]}
    owned = get(portal_client, "/api/v1/search?q=pay&owner=payments-team&limit=100")
    assert owned["items"] and all(i["owner"] == "group:default/payments-team" for i in owned["items"])
    for text in ('"(*:~', "name:payments AND", "\\", "[* TO *]"):
        assert get(portal_client, "/api/v1/search?q=" + text.replace("&", "%26"))["total"] >= 0
    assert get(portal_client, '/api/v1/search?q=%22(*:~')["total"] == 0


@pytest.mark.parametrize("query, code", [
    ("", "invalid_parameter"), ("q=", "invalid_parameter"), ("q=%20%20", "invalid_parameter"),
    ("q=x&limit=0", "invalid_parameter"), ("q=x&limit=101", "invalid_parameter"),
    ("q=x&limit=abc", "invalid_parameter"), ("q=x&page=0", "invalid_parameter"),
    ("q=x&page=-1", "invalid_parameter"), ("q=" + "x" * 201, "invalid_parameter"),
    ("q=x&page=200&limit=100", "invalid_search"), ("q=x&owner=group:", "invalid_search"),
    ("q=x&" + "&".join(f"kind=k{i}" for i in range(21)), "invalid_parameter"),
])
def test_api_bad_parameters_are_400_with_the_error_body(portal_client, query, code):
    body = get(portal_client, f"/api/v1/search?{query}", 400)
    assert body["error"]["code"] == code and body["error"]["message"]


def test_api_suggest(portal_client):
    body = get(portal_client, "/api/v1/search/suggest?q=payments-d")
    assert body["items"][0]["ref"] == "resource:default/payments-db"
    assert "<mark>" in body["items"][0]["label_html"] and len(body["items"]) <= 8
    assert get(portal_client, "/api/v1/search/suggest?q=")["items"] == []
    assert get(portal_client, "/api/v1/search/suggest?q=pay&limit=3")["items"].__len__() == 3
    assert get(portal_client, "/api/v1/search/suggest?q=x&limit=99", 400)["error"]["code"] == "invalid_parameter"


def test_openapi_documents_search(portal_client):
    doc = get(portal_client, "/api/v1/openapi.json")
    params = {p["name"] for p in doc["paths"]["/search"]["get"]["parameters"]}
    assert params == {"q", "kind", "owner", "type", "lifecycle", "tag", "page", "limit"}
    assert "/search/suggest" in doc["paths"]


def use_engine(monkeypatch, portal_app, name: str) -> None:
    """TRELLIS_SEARCH_ENGINE=name, as if the portal had started with it (settings are read once, at start)."""
    import dataclasses

    from app import settings

    monkeypatch.setenv("TRELLIS_SEARCH_ENGINE", name)
    monkeypatch.setitem(portal_app.extensions, settings.EXTENSION,
                        dataclasses.replace(settings.current(portal_app), search_engine=name))


def test_unknown_engine_is_a_503_not_a_500(portal_client, portal_app, monkeypatch):
    use_engine(monkeypatch, portal_app, "nosuchengine")
    body = get(portal_client, "/api/v1/search?q=payments", 503)
    assert body["error"]["code"] == "search_unavailable" and "nosuchengine" in body["error"]["message"]


# ---------------------------------------------------------------------------------------------- pages

def test_search_page_shows_results_facets_snippets_and_pages(portal_client):
    html = portal_client.get("/search?q=payments").get_data(as_text=True)
    total = int(re.search(r'data-total="(\d+)"', html).group(1))
    assert total > 10
    assert '<mark>Payments</mark>' in html
    kinds = re.search(r'data-facet="kind"(.*?)</section>', html, re.S).group(1)
    counts = [int(c) for c in re.findall(r'facet__count">(\d+)<', kinds)]
    assert sum(counts) == total
    assert len(re.findall(r'<li class="search-hit"', html)) == total
    html = portal_client.get("/search?q=payments&limit=5").get_data(as_text=True)   # not a page size offered
    assert portal_client.get("/search?q=payments&limit=5").status_code == 200
    first = re.findall(r'<li class="search-hit" data-ref="([^"]+)"', html)
    assert len(first) == 5 and first[0] == "system:default/payments"
    next_url = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    second = portal_client.get(next_url).get_data(as_text=True)
    assert not set(first) & set(re.findall(r'<li class="search-hit" data-ref="([^"]+)"', second))
    api_only = portal_client.get("/search?q=payments&kind=API").get_data(as_text=True)
    listed = re.findall(r'<li class="search-hit" data-ref="([^"]+)"', api_only)
    assert listed and all(ref.startswith("api:") for ref in listed)
    assert 'aria-current="true" data-value="API"' in api_only


def test_search_page_escapes_the_query_and_refuses_bad_pages(portal_client):
    html = portal_client.get("/search?q=%3Cscript%3Ealert(1)%3C/script%3E").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert portal_client.get("/search?q=x&page=0").status_code == 400
    assert portal_client.get("/search?q=x&limit=1000").status_code == 400
    empty = portal_client.get("/search").get_data(as_text=True)
    assert "Type a name" in empty


def test_header_box_submits_to_search_with_suggestions(portal_client):
    html = portal_client.get("/catalog").get_data(as_text=True)
    form = re.search(r'<form class="site-search"[^>]*>', html, re.S).group(0)
    assert 'action="/search"' in form and 'data-suggest-url="/api/v1/search/suggest"' in form
    assert "js/search.js" in html
    assert portal_client.get("/static/js/search.js").status_code == 200   # behaviour: tests/test_search_browser.py


# ------------------------------------------------------------------------------------------------ CLI

@pytest.fixture
def cli(demo_catalog, neo4j_uri, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    return invoke


def test_cli_search(cli):
    result = cli("search", "paymnets-db")
    assert result.exit_code == 0, result.stderr
    assert "resource:default/payments-db" in "\n".join(result.stdout.splitlines()[:6])
    as_json = json.loads(cli("search", "payments", "--kind", "api", "--json").stdout)
    assert as_json["items"] and {i["kind"] for i in as_json["items"]} == {"API"}
    assert "No results" in cli("search", "zzzqqqxxx").stdout
    bad = cli("search", "   ")
    assert bad.exit_code == 1 and bad.stderr.startswith("error:")


def test_search_cluster_down_is_a_503(portal_client, portal_app, monkeypatch):
    import plugins.search
    from servers.base import free_port

    monkeypatch.setattr(plugins.search, "_engines", {})
    use_engine(monkeypatch, portal_app, "opensearch")
    monkeypatch.setenv("TRELLIS_OPENSEARCH_URL", f"http://127.0.0.1:{free_port()}")   # nothing listens
    body = get(portal_client, "/api/v1/search?q=payments", 503)
    assert body["error"]["code"] == "search_unavailable" and "not reachable" in body["error"]["message"]
    page = portal_client.get("/search?q=payments")
    assert page.status_code == 200 and "Search is not available right now" in page.get_data(as_text=True)
