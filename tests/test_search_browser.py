"""The header search box in a real browser: suggestions while typing, keyboard choice, the results page."""
from __future__ import annotations

import re

from tests.support.browser import shot
from tests.test_browser import base_url, page, pytestmark  # noqa: F401  (shared fixtures)


def test_suggestions_as_you_type_and_keyboard_choice(page):
    page.goto("/catalog")
    box = page.locator("form.site-search input[name=q]")
    box.click()
    box.type("paymnets-d", delay=40)          # a typo, typed like a person
    first = page.locator(".search-suggest li[data-ref]").first
    first.wait_for(state="visible")
    assert first.get_attribute("data-ref") == "resource:default/payments-db"
    assert "Payments" in first.locator("mark").first.inner_text()
    shot(page, "search-suggestions")
    box.press("ArrowDown")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/catalog/default/resource/payments-db"))


def test_results_page_with_facets_and_pages(page):
    page.goto("/catalog")
    box = page.locator("form.site-search input[name=q]")
    box.fill("payments")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=payments"))
    total = int(page.locator(".results__count").get_attribute("data-total"))
    assert page.locator(".search-hit").count() == min(total, 20)
    assert page.locator(".search-hit").first.get_attribute("data-ref") == "system:default/payments"
    shot(page, "search-results")
    page.locator('section[data-facet="kind"] a[data-value="API"]').click()
    page.wait_for_url(re.compile(r"kind=API"))
    refs = [el.get_attribute("data-ref") for el in page.locator(".search-hit").all()]
    assert refs and all(r.startswith("api:") for r in refs)
