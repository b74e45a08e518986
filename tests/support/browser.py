"""The browser tests' Chromium: Debian's /usr/bin/chromium driven by Playwright, launched with the same flags
everywhere, and screenshots for people to look at in test-artifacts/screenshots/ (git-ignored).

`chromium` is a module-scoped fixture (conftest.py imports it): one browser per test module, as before, and a
test that uses it (directly or through its module's `page` fixture) is marked `browser` by conftest.py."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
NO_CHROMIUM = ("Debian chromium is not installed at /usr/bin/chromium (scripts/bootstrap installs it: "
               "apt-get install -y chromium)")

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """A headless Chromium (playwright.sync_api.Browser) for the module's tests; skipped where there is none."""
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
