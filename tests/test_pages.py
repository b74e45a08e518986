"""The server-rendered portal pages over the demo catalog in a real Neo4j (Flask test client)."""
from __future__ import annotations

import csv
import io
import re
import textwrap

import pytest

from tests.portal_helpers import OPEN_PORTAL

from app import create_app

SCRIPT = "<script>alert(1)</script>"

XSS_CATALOG = textwrap.dedent("""\
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata:
      name: xss-team
      title: "<script>alert(1)</script> team"
      description: "<script>alert(1)</script>"
    spec:
      type: team
      children: []
      members: [xss-user]
      profile: {displayName: "<script>alert(1)</script>", email: "x@example.com"}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata:
      name: xss-user
      title: "<script>alert(1)</script>"
    spec:
      memberOf: [xss-team]
      profile: {displayName: "<script>alert(1)</script>"}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: xss-widget
      title: "<script>alert(1)</script>"
      description: "<script>alert(1)</script> <img src=x onerror=alert(2)>"
      annotations:
        example.com/note: "<script>alert(1)</script>"
      links:
        - url: "javascript:alert(1)"
          title: "<script>alert(1)</script>"
    spec:
      type: service
      lifecycle: production
      owner: xss-team
      system: payments
      dependsOn: [resource:payments-db]
      providesApis: [xss-api]
    ---
    apiVersion: backstage.io/v1alpha1
    kind: API
    metadata:
      name: xss-api
      title: "<script>alert(1)</script>"
      description: "<script>alert(1)</script>"
    spec:
      type: openapi
      lifecycle: production
      owner: xss-team
      definition: |
        openapi: 3.0.3
        info: {title: "<script>alert(1)</script>", version: "1", description: "<script>alert(1)</script>"}
        tags: [{name: "<script>alert(1)</script>", description: "<script>alert(1)</script>"}]
        paths:
          /x/<script>alert(1)</script>:
            get: {tags: ["<script>alert(1)</script>"], summary: "<script>alert(1)</script>"}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: API
    metadata:
      name: xss-grpc
      description: "<script>alert(1)</script>"
    spec:
      type: grpc
      lifecycle: production
      owner: xss-team
      definition: |
        // <script>alert(1)</script>
        service X { rpc Y ("<script>alert(1)</script>") returns (Z); }
    """)


@pytest.fixture(scope="module")
def xss(graph_module, demo_catalog, tmp_path_factory):
    """Entities whose title, description, annotations, links and definitions carry a script tag."""
    from ingest.sync import ingest

    folder = tmp_path_factory.mktemp("xss")
    (folder / "catalog-info.yaml").write_text(XSS_CATALOG)
    result = ingest(graph_module, str(folder))
    assert result.added == 5 and not result.rejected, result.as_json()
    return result


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    body = response.get_data(as_text=True)
    assert response.status_code == status, (url, response.status_code, body[:2000])
    assert "Traceback" not in body
    return body


def text_of(html: str) -> str:
    """The visible text, roughly: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# ------------------------------------------------------------------ layout and catalog list


def test_root_redirects_to_catalog(portal_client):
    response = portal_client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/catalog")


def test_layout_has_nav_search_and_footer(portal_client):
    html = page(portal_client, "/catalog")
    for label in ("Catalog", "Ownership report", "Path finder", "Register"):
        assert f">{label}</a>" in html
    assert 'action="/catalog"' in html and 'name="q"' in html
    assert '<footer class="site-footer">' in html
    assert "/static/css/trellis.css" in html


def test_catalog_lists_first_page_with_counts_and_facets(portal_client, xss):
    html = page(portal_client, "/catalog")
    assert re.search(r"<strong>122</strong> entities", html)
    assert html.count("<tr>") == 1 + 20           # header row + one page, never the whole catalog
    assert 'rel="next"' in html and 'rel="prev"' not in html
    for facet in ("kind", "type", "owner", "lifecycle", "namespace", "tag"):
        assert f'data-facet="{facet}"' in html
    kinds = re.search(r'data-facet="kind"(.*?)</section>', html, re.S).group(1)
    assert re.search(r'data-value="Component">.*?facet__count">31<', kinds, re.S)


def test_catalog_filters_by_kind_and_lifecycle(portal_client):
    html = page(portal_client, "/catalog?kind=api&lifecycle=production&limit=100")
    rows = re.findall(r'<td>(<span class="kind kind--[a-z]+">[^<]+</span>)</td>', html)
    assert rows and all("kind--api" in r for r in rows)
    assert "Payments API" in html and "Payments Service" not in html
    # the kind facet is counted without its own choice: other kinds stay selectable
    kinds = re.search(r'data-facet="kind"(.*?)</section>', html, re.S).group(1)
    assert 'data-value="Component"' in kinds and 'aria-current="true" data-value="API"' in kinds


def test_catalog_multiple_values_of_one_facet_are_or_ed(portal_client):
    html = page(portal_client, "/catalog?kind=system&kind=domain&limit=100")
    assert re.search(r"<strong>14</strong> entities", html)


def test_catalog_free_text_and_sorting(portal_client):
    html = page(portal_client, "/catalog?q=payment&kind=component")
    assert "Payments Service" in html and "Cart Service" not in html
    assert 'value="payment"' in html
    desc = page(portal_client, "/catalog?kind=component&sort=name&order=desc&limit=5")
    names = re.findall(r'<td class="cell-name">\s*<a href="/catalog/[^"]+/component/([^"]+)"', desc)
    assert names == sorted(names, reverse=True) and len(names) == 5
    assert 'aria-sort="descending"' in desc


def test_catalog_cursor_pagination(portal_client):
    first = page(portal_client, "/catalog?kind=component&limit=10")
    next_url = re.search(r'<a class="button" rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = page(portal_client, next_url)
    refs = lambda html: re.findall(r'<td class="cell-name">\s*<a href="([^"]+)"', html)  # noqa: E731
    assert len(refs(second)) == 10 and not set(refs(first)) & set(refs(second))
    prev_url = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert refs(page(portal_client, prev_url)) == refs(first)


@pytest.mark.parametrize("url, message", [
    ("/catalog?cursor=not-a-cursor", "invalid cursor"),
    ("/catalog?sort=colour", "cannot sort by"),
    ("/catalog?limit=lots", "limit must be a number"),
    ("/catalog?limit=5000", "limit must be between"),
    ("/catalog?kind=a&kind=b&kind=c&type=a&type=b&type=c&lifecycle=a&lifecycle=b&lifecycle=c", "too many filter"),
])
def test_bad_catalog_query_is_a_400_page(portal_client, url, message):
    html = page(portal_client, url, 400)
    assert "error-page" in html and message in html


# ------------------------------------------------------------------ entity pages


def test_component_overview(portal_client):
    html = page(portal_client, "/catalog/default/component/payments-service")
    text = text_of(html)
    assert "<h1>Payments Service</h1>" in html
    assert "Authorises, captures and voids card payments for orders." in text
    assert 'href="/catalog/default/group/payments-team"' in html and 'href="/catalog/default/system/payments"' in html
    assert "Service dashboard" in html and "https://grafana.acme-shop.example/d/payments-service" in html
    assert "pagerduty.com/service-id" in html and "P7XK2LQ" in html
    assert re.search(r"Source location.*?file:.*?teams/payments/catalog-info\.yaml", text)
    tabs = re.findall(r'data-tab="([a-z]+)"', html)
    # payments-service carries backstage.io/techdocs-ref, so it also has a Docs tab
    assert tabs == ["overview", "docs", "apis", "dependencies", "dependents", "impact", "relations", "graph"]


@pytest.mark.parametrize("url, tabs", [
    ("/catalog/default/resource/payments-db", ["overview", "dependencies", "dependents", "impact", "relations", "graph"]),
    ("/catalog/default/api/payments-api", ["overview", "definition", "impact", "relations", "graph"]),
    ("/catalog/default/group/payments-team", ["overview", "members", "ownership", "relations", "graph"]),
    ("/catalog/default/user/alice.nguyen", ["overview", "ownership", "relations", "graph"]),
    ("/catalog/default/system/payments", ["overview", "relations", "graph"]),
    ("/catalog/default/domain/commerce", ["overview", "relations", "graph"]),
])
def test_tabs_follow_the_kind(portal_client, url, tabs):
    assert re.findall(r'data-tab="([a-z]+)"', page(portal_client, url)) == tabs


def test_tab_a_kind_does_not_have_is_404(portal_client):
    html = page(portal_client, "/catalog/default/resource/payments-db?tab=definition", 404)
    assert "has no &#39;definition&#39; tab" in html


def test_unresolved_references_are_flagged(portal_client):
    html = page(portal_client, "/catalog/default/component/legacy-feed-exporter")
    assert "alert--warning" in html and "group:default/merchandising-team" in html
    assert "not in catalog" in html
    rel = page(portal_client, "/catalog/default/component/legacy-feed-exporter?tab=relations")
    owned = re.search(r'data-relation="ownedBy"(.*?)</section>', rel, re.S).group(1)
    assert "merchandising-team" in owned and "flag--missing" in owned


def test_relations_tab_shows_both_directions(portal_client):
    html = page(portal_client, "/catalog/default/resource/payments-db?tab=relations")
    groups = re.findall(r'data-relation="([A-Za-z]+)"', html)
    assert {"ownedBy", "partOf", "dependencyOf"} <= set(groups)
    dependents = re.search(r'data-relation="dependencyOf"(.*?)</section>', html, re.S).group(1)
    assert "/catalog/default/component/payments-service" in dependents


def test_system_overview_lists_its_parts(portal_client):
    html = page(portal_client, "/catalog/default/system/payments")
    assert "Components, APIs and resources" in html
    assert "/catalog/default/resource/payments-db" in html and "/catalog/default/api/payments-api" in html


def test_component_apis_tab(portal_client):
    html = page(portal_client, "/catalog/default/component/payments-service?tab=apis")
    provided, consumed = html.split("Consumed APIs")
    assert "/catalog/default/api/payments-api" in provided and "/catalog/default/api/payment-events" in provided
    assert "/catalog/default/api/fraud-api" in consumed


def test_dependencies_and_dependents(portal_client):
    deps = page(portal_client, "/catalog/default/component/payments-service?tab=dependencies")
    assert "/catalog/default/resource/payments-db" in deps and "/catalog/default/api/fraud-api" in deps
    dependents = page(portal_client, "/catalog/default/resource/payments-db?tab=dependents")
    assert "/catalog/default/component/payments-service" in dependents
    assert "/catalog/default/component/checkout-service" not in dependents    # distance 3, not direct
    assert "Cut off at depth 1" in dependents
    deeper = page(portal_client, "/catalog/default/resource/payments-db?tab=dependents&depth=3")
    assert "/catalog/default/component/checkout-service" in deeper


def test_impact_tab_lists_blast_radius_with_distance_and_path(portal_client):
    html = page(portal_client, "/catalog/default/resource/payments-db?tab=impact")
    row = re.search(r'<tr data-ref="component:default/payments-service">(.*?)</tr>', html, re.S).group(1)
    assert '<td class="num">1</td>' in row and "dependsOn" in row
    count = re.search(r'<span class="stat__value">(\d+)</span><span class="stat__label">impacted', html)
    assert int(count.group(1)) >= 20      # 20 in the demo (+2 when the XSS fixture's widget is loaded)
    assert "Cut off" not in html
    assert 'href="/catalog/default/resource/payments-db/impact.csv?depth=10"' in html
    assert 'href="/api/v1/entities/by-name/resource/default/payments-db/impact?depth=10"' in html
    far = re.search(r'<tr data-ref="api:default/cart-api">(.*?)</tr>', html, re.S).group(1)
    assert '<td class="num">6</td>' in far


def test_impact_tab_depth_control_and_cut_off_notice(portal_client):
    html = page(portal_client, "/catalog/default/resource/payments-db?tab=impact&depth=2")
    assert "Cut off at depth 2." in html
    assert 'data-ref="component:default/payments-service"' in html
    assert 'data-ref="component:default/checkout-service"' not in html
    assert 'name="depth" min="1" max="50" value="2"' in html


def test_impact_grouped_by_system(portal_client):
    html = page(portal_client, "/catalog/default/resource/payments-db?tab=impact&group=system")
    headings = re.findall(r'<section class="impact-group card card--wide">\s*<h2>(.*?)</h2>', html, re.S)
    assert "payments" in text_of(headings[0]) and len(headings) >= 4


def test_impact_csv_export(portal_client):
    response = portal_client.get("/catalog/default/resource/payments-db/impact.csv?depth=2")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["ref", "kind", "distance", "owner", "system", "unresolved", "path"]
    by_ref = {r[0]: r for r in rows[1:] if not r[0].startswith("#")}
    assert by_ref["component:default/payments-service"][2] == "1"
    assert by_ref["component:default/payments-service"][6] == "resource:default/payments-db > component:default/payments-service"
    assert rows[-1][0].startswith("# cut off at depth 2")


def test_openapi_definition_is_rendered_as_operations(portal_client):
    html = page(portal_client, "/catalog/default/api/payments-api?tab=definition")
    groups = re.findall(r'<section class="op-group" data-tag="([^"]+)">', html)
    assert groups[:2] == ["payments", "refunds"]
    payments = re.search(r'data-tag="payments">(.*?)</section>', html, re.S).group(1)
    assert re.search(r'method--post">POST</span>\s*<code class="operation__path">/payments</code>\s*'
                     r'<span class="operation__summary">Authorise a payment for an order', payments)
    assert "Raw definition" in html


def test_json_openapi_and_other_definition_types(portal_client):
    search = page(portal_client, "/catalog/default/api/search-api?tab=definition")
    assert "operation__path" in search
    graphql = page(portal_client, "/catalog/default/api/product-graphql?tab=definition")
    assert '<pre class="code code--graphql">' in graphql and '<span class="hl-keyword">type</span>' in graphql
    grpc = page(portal_client, "/catalog/default/api/inventory-api?tab=definition")
    assert '<span class="hl-keyword">service</span>' in grpc


def test_api_overview_lists_providers_and_consumers(portal_client):
    html = page(portal_client, "/catalog/default/api/payments-api")
    providers, consumers = html.split("<h2>Consumers</h2>")
    assert "/catalog/default/component/payments-service" in providers.split("<h2>Providers</h2>")[1]
    assert "/catalog/default/component/checkout-service" in consumers


def test_graph_tab_has_controls_and_loads_cytoscape_locally(portal_client):
    html = page(portal_client, "/catalog/default/resource/payments-db?tab=graph&depth=3&kind=component")
    assert 'data-root="resource:default/payments-db"' in html and 'data-api="/api/v1/graph/neighbourhood"' in html
    assert '<script src="/static/vendor/cytoscape.min.js"></script>' in html
    assert '<option value="3" selected>' in html and 'value="component" checked' in html
    assert "//cdn" not in html and "unpkg" not in html
    js = portal_client.get("/static/vendor/cytoscape.min.js")
    assert js.status_code == 200 and b"cytoscape" in js.data[:2000]
    assert portal_client.get("/static/vendor/jquery.js").status_code == 404
    assert portal_client.get("/static/js/graph.js").status_code == 200


def test_group_page(portal_client):
    html = page(portal_client, "/catalog/default/group/commerce")
    assert "Sub-groups" in html and "/catalog/default/group/payments-team" in html
    assert "/catalog/default/group/acme" in html            # the parent
    members = page(portal_client, "/catalog/default/group/payments-team?tab=members")
    assert "/catalog/default/user/dev.patel" in members and "/catalog/default/user/emma.schmidt" in members
    owned = page(portal_client, "/catalog/default/group/commerce?tab=ownership")
    assert "/catalog/default/resource/payments-db" in owned and "via sub-group" in owned


def test_user_page(portal_client):
    html = page(portal_client, "/catalog/default/user/dev.patel")
    assert "/catalog/default/group/payments-team" in html
    owned = page(portal_client, "/catalog/default/user/dev.patel?tab=ownership")
    assert "/catalog/default/resource/payments-db" in owned
    # claims go up the group tree: payments-team's parent commerce owns the commerce domain directly
    assert "/catalog/default/domain/commerce" in owned and "/catalog/default/group/commerce" in owned


def test_unknown_entity_is_a_404_page_without_traceback(portal_client):
    html = page(portal_client, "/catalog/default/component/no-such-thing", 404)
    assert "<h1>Not found</h1>" in html and "component:default/no-such-thing is not in the catalog" in html
    assert page(portal_client, "/no/such/page", 404)


# ------------------------------------------------------------------ reports, paths, register


def test_ownership_report(portal_client):
    html = page(portal_client, "/reports/ownership")
    row = re.search(r'<tr data-group="group:default/payments-team" class="level-(\d)">', html)
    assert row and row.group(1) == "2"
    assert '<tr data-group="group:default/acme" class="level-0">' in html
    assert '<svg class="chart"' in html and "<rect" in html
    unowned = re.search(r'id="unowned">(.*?)</section>', html, re.S).group(1)
    assert "legacy-feed-exporter" in unowned and "static-site" in unowned
    dangling = re.search(r'id="dangling">(.*?)</section>', html, re.S).group(1)
    assert "resource:default/recs-model-cache" in dangling
    assert 'href="/api/v1/reports/ownership?format=csv"' in html
    assert 'href="/api/v1/reports/ownership?format=json"' in html


def test_ownership_report_for_one_group(portal_client):
    html = page(portal_client, "/reports/ownership?group=commerce")
    assert 'data-group="group:default/payments-team"' in html and 'data-group="group:default/acme"' not in html
    page(portal_client, "/reports/ownership?group=nobody", 404)


def test_path_finder(portal_client):
    html = page(portal_client, "/paths?from=storefront-web&to=resource:payments-db")
    text = text_of(html)
    assert "shortest paths from component:storefront-web to resource:payments-db" in text
    # paths go along relations in either direction; each hop reads top-down (dependencyOf is dependsOn reversed)
    assert "↓ dependsOn resource ops/prod-k8s-cluster ↓ dependencyOf component" in text
    assert 'href="/catalog/ops/resource/prod-k8s-cluster"' in html
    assert 'value="storefront-web"' in html
    html = page(portal_client, "/paths?from=storefront-web&to=resource:nowhere", 404)
    assert "resource:default/nowhere is not in the catalog" in html
    assert "enter both" in page(portal_client, "/paths?from=storefront-web", 400)
    assert "<form" in page(portal_client, "/paths")


def test_register_form_and_refusals(portal_client, location_root, tmp_path):
    assert 'method="post"' in page(portal_client, "/register")
    outside = portal_client.post("/register", data={"target": str(tmp_path)})
    assert outside.status_code == 400 and "is outside the folders this server may read" in outside.get_data(as_text=True)
    sneaky = portal_client.post("/register", data={"target": f"{location_root}/../../etc"})
    assert sneaky.status_code == 400
    file_url = portal_client.post("/register", data={"target": "file:///etc"})
    assert file_url.status_code == 400
    missing = portal_client.post("/register", data={"target": str(location_root / "nope")})
    assert missing.status_code == 400 and "does not exist" in missing.get_data(as_text=True)
    empty = location_root / "empty"
    empty.mkdir(exist_ok=True)
    none = portal_client.post("/register", data={"target": str(empty)})
    assert none.status_code == 422 and "no catalog-info.yaml" in none.get_data(as_text=True)


def test_register_a_location_shows_counts_and_rejections(portal_client, location_root):
    folder = location_root / "team-x"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(textwrap.dedent("""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: team-x-service, description: A service of team X}
        spec: {type: service, lifecycle: experimental, owner: payments-team}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: team-x-broken}
        spec: {type: service, owner: payments-team}
        """))
    response = portal_client.post("/register", data={"target": str(folder)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert re.search(r'stat__value">1</span><span class="stat__label">added', html)
    rejected = re.search(r'<table class="data-table compact rejected">(.*?)</table>', html, re.S).group(1)
    assert "catalog-info.yaml" in rejected and "component:default/team-x-broken" in rejected
    assert "spec.lifecycle" in rejected and '<td class="num">2</td>' in rejected
    assert "/catalog/default/component/team-x-service" in page(portal_client, "/catalog?q=team-x")
    again = portal_client.post("/register", data={"target": str(folder)}).get_data(as_text=True)
    assert re.search(r'stat__value">1</span><span class="stat__label">unchanged', again)


# ------------------------------------------------------------------ errors and escaping


def test_database_down_is_a_503_page_that_recovers_by_itself(monkeypatch):
    # The real driver retries an unreachable server for ~30 s before giving up; the page is what counts here.
    from graph.driver import GraphUnavailable

    def unreachable():
        raise GraphUnavailable("Neo4j is not reachable at bolt://127.0.0.1:1: connection refused")

    monkeypatch.setattr("app.web.routes.get_graph", unreachable)
    app = create_app({"NEO4J_URI": "bolt://127.0.0.1:1", "TESTING": True, **OPEN_PORTAL})
    try:
        response = app.test_client().get("/catalog")
        html = response.get_data(as_text=True)
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert "The catalog database is unreachable" in html and "recovers by itself" in html
        assert '<meta http-equiv="refresh"' in html and "Traceback" not in html
    finally:
        app.extensions["trellis.graph"].close()


XSS_PAGES = [
    "/catalog?q=xss", "/catalog?kind=group&q=xss", "/catalog?q=%3Cscript%3Ealert(1)%3C/script%3E",
    "/catalog/default/component/xss-widget", "/catalog/default/component/xss-widget?tab=apis",
    "/catalog/default/component/xss-widget?tab=dependencies", "/catalog/default/component/xss-widget?tab=relations",
    "/catalog/default/component/xss-widget?tab=graph", "/catalog/default/component/xss-widget?tab=impact",
    "/catalog/default/api/xss-api", "/catalog/default/api/xss-api?tab=definition",
    "/catalog/default/api/xss-grpc?tab=definition", "/catalog/default/group/xss-team",
    "/catalog/default/group/xss-team?tab=members", "/catalog/default/group/xss-team?tab=ownership",
    "/catalog/default/user/xss-user", "/catalog/default/user/xss-user?tab=ownership",
    "/catalog/default/resource/payments-db?tab=dependents", "/catalog/default/system/payments",
    "/reports/ownership", "/paths?from=xss-widget&to=resource:payments-db",
    "/paths?from=%3Cscript%3Ealert(1)%3C/script%3E&to=x",
]


@pytest.mark.parametrize("url", XSS_PAGES)
def test_user_data_is_escaped_everywhere(portal_client, xss, url):
    response = portal_client.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code in (200, 400, 404), (url, html[:500])
    assert SCRIPT not in html and "<img src=x" not in html
    assert 'href="javascript:' not in html


def test_escaped_script_is_shown_as_text(portal_client, xss):
    html = page(portal_client, "/catalog/default/component/xss-widget")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    definition = page(portal_client, "/catalog/default/api/xss-api?tab=definition")
    assert 'data-tag="&lt;script&gt;alert(1)&lt;/script&gt;"' in definition
    posted = portal_client.post("/register", data={"target": SCRIPT}).get_data(as_text=True)
    assert SCRIPT not in posted and "&lt;script&gt;" in posted
    missing = portal_client.get("/catalog/default/component/%3Cscript%3E").get_data(as_text=True)
    assert "<script>" not in missing.split("</header>")[1]


def test_register_refuses_posts_from_other_sites(portal_client, tmp_path):
    response = portal_client.post("/register", data={"target": str(tmp_path)},
                                  headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "only be sent from the portal" in response.get_data(as_text=True)


def test_facet_counts_follow_the_free_text(portal_client):
    html = page(portal_client, "/catalog?q=payments-db")
    kind_section = re.search(r'data-facet="kind".*?</section>', html, re.S).group(0)
    counts = dict(re.findall(
        r'data-value="([A-Za-z]+)">\s*<span class="facet__box"[^>]*>[^<]*</span>\s*'
        r'<span class="facet__label"[^>]*>[^<]*</span>\s*<span class="facet__count">(\d+)</span>', kind_section))
    # only payments-db and its replica match the text, not the 117 entities of the demo
    assert counts == {"Resource": "2"}
