"""The Docs tab in a real browser (Debian chromium via Playwright) over the demo catalog's documented entity."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from docs_builder.build import build_entity_docs
from docs_builder.storage import LocalStorage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
REF = "component:default/payments-service"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian chromium is not installed at /usr/bin/chromium (scripts/bootstrap installs it)",
)


@pytest.fixture(scope="module")
def base_url(portal_app, graph_module, tmp_path_factory):
    """The portal, with the demo payments docs built, behind a real threaded HTTP server on a free port."""
    from werkzeug.serving import make_server

    storage = LocalStorage(tmp_path_factory.mktemp("browser-docs"))
    outcome = build_entity_docs(graph_module, REF, storage)
    assert outcome.status == "succeeded", outcome
    portal_app.extensions["trellis.docs_storage"] = storage
    server = make_server("127.0.0.1", 0, portal_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    portal_app.extensions.pop("trellis.docs_storage", None)


@pytest.fixture
def page(base_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=base_url)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        yield pg
        context.close()
        browser.close()
    assert not errors, f"JavaScript errors: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_open_the_docs_tab_and_follow_the_docs(page):
    page.goto("/catalog/default/component/payments-service")
    page.click('.tabs a[data-tab="docs"]')
    page.wait_for_url("**/catalog/default/component/payments-service?tab=docs")
    content = page.locator("#docs-content")
    assert content.locator("h1").first.inner_text().startswith("Payments Service")
    assert content.locator(".admonition.note .admonition-title").inner_text() == "Where to start"
    assert page.locator(".docs-status").first.inner_text().lower() == "succeeded"
    shot(page, "entity-docs-tab")

    page.locator(".docs-nav").get_by_role("link", name="Architecture").click()
    page.wait_for_url("**/docs/default/component/payments-service/architecture/")
    assert page.locator("#docs-content h1").first.inner_text().startswith("Architecture")
    assert page.locator("#docs-content .admonition.warning").is_visible()
    aside = page.locator(".docs-aside")
    assert aside.locator('[data-role="owner"]').inner_text() == "payments-team"
    assert aside.locator('[data-role="system"]').inner_text() == "payments"
    shot(page, "docs-page")

    # links inside the docs stay inside the docs
    page.goto("/docs/default/component/payments-service/")
    page.locator("#docs-content").get_by_role("link", name="runbook", exact=True).click()
    page.wait_for_url("**/docs/default/component/payments-service/runbook/")
    assert page.locator("#docs-content details summary").inner_text() == "Replaying stuck captures"

    page.goto("/docs")
    row = page.locator(f'tr[data-ref="{REF}"]')
    assert row.locator(".docs-status").inner_text().lower() == "succeeded"
    shot(page, "docs-index")
