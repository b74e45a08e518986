"""The portal in a real browser (Debian chromium driven by Playwright) against a real HTTP server.

Screenshots of the main pages are saved to test-artifacts/screenshots/ (git-ignored) for people to look at.
"""
from __future__ import annotations

import csv
import io
import textwrap
from pathlib import Path

import pytest

from tests.support.browser import needs_chromium, shot
from tests.support.live_server import LiveServer

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def base_url(portal_app):
    """The app behind a real threaded HTTP server on a free port."""
    with LiveServer(portal_app) as server:
        yield server.url


@pytest.fixture
def page(chromium, base_url):
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True,
                                  base_url=base_url)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # The Content-Security-Policy forbids inline scripts and styles: a page that breaks it logs an error.
    pg.on("console", lambda msg: errors.append(msg.text)
          if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield pg
    context.close()
    assert not errors, f"JavaScript or CSP errors: {errors}"


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll a page expression (Playwright's wait_for_function compiles strings with eval, which the portal's
    Content-Security-Policy forbids; page.evaluate goes through the DevTools protocol and is allowed)."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(100)



def test_filter_the_catalog_by_kind(page):
    page.goto("/catalog")
    shot(page, "catalog")
    page.click('[data-facet="kind"] a[data-value="API"]')
    page.wait_for_url("**/catalog?kind=API")
    kinds = page.locator(".catalog-table tbody td:nth-child(2)").all_inner_texts()
    assert kinds and {k.strip().upper() for k in kinds} == {"API"}
    assert page.locator(".results__count").inner_text().startswith("16 entities with")
    shot(page, "catalog-filtered")


def test_the_catalog_fits_a_laptop_screen(page):
    # The results column once grew with its widest row: at 1280 px the page scrolled sideways and cut off the
    # descriptions and the "Per page" control.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/catalog")
    widths = page.evaluate("() => { const w = document.querySelector('.results .table-wrap'); "
                           "return [document.documentElement.scrollWidth, window.innerWidth, w.scrollWidth, "
                           "w.clientWidth]; }")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    assert widths[2] <= widths[3], f"the table is wider than its card: {widths}"
    assert page.get_by_text("Per page").is_visible()
    shot(page, "catalog-1280")
    page.set_viewport_size({"width": 1024, "height": 800})   # narrower: the table scrolls inside its card
    page.goto("/catalog")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_open_an_entity_and_switch_tabs(page):
    page.goto("/catalog?kind=api")
    page.get_by_role("link", name="Payments API", exact=True).click()
    page.wait_for_url("**/catalog/default/api/payments-api")
    assert page.locator("h1").inner_text() == "Payments API"
    shot(page, "entity-api-overview")
    page.click('.tabs a[data-tab="definition"]')
    page.wait_for_url("**/catalog/default/api/payments-api?tab=definition")
    assert page.locator('.op-group[data-tag="payments"] .operation').count() == 5
    assert "Authorise a payment for an order" in page.locator(".operations").first.inner_text()
    shot(page, "entity-api-definition")
    page.click('.tabs a[data-tab="relations"]')
    assert page.locator('[data-relation="apiProvidedBy"]').inner_text().count("Payments Service") == 1
    page.click('.tabs a[data-tab="overview"]')
    page.get_by_role("link", name="Payments Service").first.click()
    page.wait_for_url("**/catalog/default/component/payments-service")
    shot(page, "entity-component-overview")


def test_graph_draws_the_neighbourhood(page, base_url):
    page.goto("/catalog/default/resource/payments-db?tab=graph&depth=1")
    page.wait_for_selector('#graph[data-ready="true"]')
    expected = page.request.get(f"{base_url}/api/v1/graph/neighbourhood?ref=resource:default/payments-db&depth=1").json()
    assert page.evaluate("window.cy.nodes().length") == len(expected["nodes"]) > 5
    assert page.evaluate("window.cy.edges().length") == len(expected["edges"])
    for ref in ("resource:default/payments-db", "component:default/payments-service", "group:default/payments-team"):
        assert page.evaluate(f"window.cy.getElementById({ref!r}).length") == 1, ref
    assert page.evaluate("window.cy.getElementById('component:default/payments-service').style('background-color')") \
        == "rgb(37,99,235)"    # components are blue
    assert page.locator("#graph-cutoff").is_hidden()
    shot(page, "entity-graph")

    # controls redraw in place and keep the URL shareable
    page.select_option('select[name="depth"]', "2")
    wait_until(page, "window.cy.nodes().length > %d" % len(expected["nodes"]))
    assert "depth=2" in page.url
    page.check('input[name="kind"][value="component"]')
    wait_until(page, "window.cy.nodes().filter(n => n.data('kind') !== 'component').length === 1")

    # a cut-off neighbourhood says so
    page.goto("/catalog/default/resource/payments-db?tab=graph&depth=3&max_nodes=10")
    page.wait_for_selector('#graph[data-ready="true"]')
    assert page.evaluate("window.cy.nodes().length") == 10
    notice = page.locator("#graph-cutoff").inner_text()
    assert notice.startswith("Cut off: showing 10 of ") and int(notice.split(" of ")[1].split()[0]) > 10

    # clicking a node opens its page
    page.evaluate("window.cy.getElementById('component:default/payments-service').emit('tap')")
    page.wait_for_url("**/catalog/default/component/payments-service")


def test_unresolved_nodes_are_dashed(page):
    page.goto("/catalog/default/component/legacy-feed-exporter?tab=graph&depth=1")
    page.wait_for_selector('#graph[data-ready="true"]')
    missing = "window.cy.getElementById('group:default/merchandising-team')"
    assert page.evaluate(f"{missing}.hasClass('unresolved')")
    assert page.evaluate(f"{missing}.style('border-style')") == "dashed"
    shot(page, "entity-graph-unresolved")


def test_impact_tab_and_csv_export(page):
    page.goto("/catalog/default/resource/payments-db")
    page.click('.tabs a[data-tab="impact"]')
    assert page.locator('tr[data-ref="component:default/payments-service"] td.num').inner_text() == "1"
    page.fill('input[name="depth"]', "2")
    page.click("text=Update")
    page.wait_for_url(lambda url: "tab=impact" in url and "depth=2" in url)
    assert "Cut off at depth 2." in page.locator(".cut-off").inner_text()
    shot(page, "entity-impact")
    with page.expect_download() as info:
        page.click("text=Export CSV")
    download = info.value
    assert download.suggested_filename == "impact-resource-default-payments-db-depth2.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert rows[0][:3] == ["ref", "kind", "distance"]
    assert ["component:default/payments-service", "Component", "1"] == rows[1][:3] or \
        any(r[:3] == ["component:default/payments-service", "Component", "1"] for r in rows)


def test_ownership_report_and_path_finder(page):
    page.goto("/reports/ownership")
    assert page.locator('tr[data-group="group:default/payments-team"]').is_visible()
    assert page.locator("svg.chart rect").count() > 10
    shot(page, "ownership-report")
    page.click("text=Path finder")
    page.fill('input[name="from"]', "storefront-web")
    page.fill('input[name="to"]', "resource:payments-db")
    page.click("text=Find paths")
    page.wait_for_selector(".path-result")
    assert "shortest path" in page.locator("h2").first.inner_text()
    shot(page, "path-finder")


def test_register_a_location(page, location_root):
    folder = location_root / "browser-team"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(textwrap.dedent("""\
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: browser-registered, title: Registered from the browser}
        spec: {type: website, lifecycle: experimental, owner: checkout-team}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: browser-broken}
        spec: {type: website, owner: checkout-team}
        """))
    page.goto("/register")
    page.fill("#target", "/etc")
    page.click("button:has-text('Register')")
    assert "outside the folders this server may read" in page.locator(".alert--error").inner_text()
    page.fill("#target", str(folder))
    page.click("button:has-text('Register')")
    page.wait_for_selector(".register-result")
    stats = dict(zip(page.locator(".register-result .stat__label").all_inner_texts(),
                     page.locator(".register-result .stat__value").all_inner_texts()))
    assert stats["added"] == "1" and stats["rejected"] == "1"
    assert "component:default/browser-broken" in page.locator("table.rejected").inner_text()
    shot(page, "register-result")
    page.click("text=Open the catalog")
    page.fill("#catalog-q", "browser-registered")
    page.press("#catalog-q", "Enter")
    page.get_by_role("link", name="Registered from the browser").click()
    page.wait_for_url("**/catalog/default/component/browser-registered")


def test_error_page(page):
    response = page.goto("/catalog/default/component/does-not-exist")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    shot(page, "error-404")
