"""The Docs tab in a real browser (Debian chromium via Playwright) over the demo catalog's documented entity."""
from __future__ import annotations

import pytest

from docs_builder.build import build_entity_docs
from docs_builder.storage import LocalStorage
from tests.support.browser import needs_chromium, shot
from tests.support.live_server import LiveServer

REF = "component:default/payments-service"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def base_url(portal_app, graph_module, tmp_path_factory):
    """The portal, with the demo payments docs built, behind a real threaded HTTP server on a free port."""
    storage = LocalStorage(tmp_path_factory.mktemp("browser-docs"))
    outcome = build_entity_docs(graph_module, REF, storage)
    assert outcome.status == "succeeded", outcome
    portal_app.extensions["trellis.docs_storage"] = storage
    with LiveServer(portal_app) as server:
        yield server.url
    portal_app.extensions.pop("trellis.docs_storage", None)


@pytest.fixture
def page(chromium, base_url):
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, base_url=base_url)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


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
