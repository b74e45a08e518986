"""Software Templates in a real browser (Debian chromium, Playwright) over the demo catalog plus the shipped
templates: Create list and filter, the form (pickers from the catalog, per-field errors), review, a run whose
task page follows the live log to `completed`, the Tasks list, and a dry run of the demo catalog's own
node-service template. Screenshots go to test-artifacts/screenshots/ (git-ignored)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.support.browser import needs_chromium
from tests.support.browser import shot as save_shot
from tests.support.live_server import LiveServer

REPO = Path(__file__).resolve().parents[1]
pytestmark = [needs_chromium, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def site(portal_app, graph_module, tmp_path_factory):
    from ingest.sync import ingest

    assert ingest(graph_module, str(REPO / "templates" / "catalog-info.yaml")).ok
    work = tmp_path_factory.mktemp("scaffolder-browser")
    (work / "git").mkdir()
    config = work / "trellis.yaml"
    config.write_text(json.dumps({"scaffolder": {"workdir": str(work / "tasks"), "git_roots": [str(work / "git")]}}))
    mp = pytest.MonkeyPatch()
    mp.setenv("TRELLIS_CONFIG", str(config))
    mp.setenv("TRELLIS_SECRET_KEY", "b" * 40)
    from scaffolder import service
    from scaffolder.sealing import seal
    from scaffolder.tasks import execute

    mp.setattr(service, "enqueue", lambda task_id, secrets: threading.Thread(
        target=execute, args=(graph_module, task_id, seal(secrets)), daemon=True).start())
    with LiveServer(portal_app) as server:
        yield {"url": server.url, "git": work / "git"}
    mp.undo()


@pytest.fixture
def page(chromium, site):
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, base_url=site["url"])
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text)
          if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield pg
    context.close()
    assert errors == []


def shot(page, name: str) -> None:
    save_shot(page, f"scaffolder-{name}")


def test_create_a_service_from_the_form_and_follow_its_task(page, site):
    page.goto("/create")
    assert page.get_by_role("heading", name="Create").is_visible()
    for title in ("Flask service", "Python library", "TechDocs documentation site", "Node.js service"):
        assert page.get_by_text(title, exact=True).first.is_visible(), title
    shot(page, "create")
    page.get_by_text("Flask service", exact=True).first.click()
    page.wait_for_url("**/create/templates/default/flask-service")
    page.fill("input[name=name]", "Not Valid")
    page.get_by_role("button", name="Review").click()
    assert page.locator(".field-error, .error").first.is_visible()
    shot(page, "form-errors")
    page.fill("input[name=name]", "browser-svc")
    page.fill("input[name=owner]", "group:default/checkout-team")
    page.fill("input[name=remote]", str(site["git"] / "browser-svc.git"))
    page.get_by_role("button", name="Review").click()
    assert page.get_by_role("heading", name="Review").is_visible()
    assert page.get_by_text("browser-svc").first.is_visible()
    shot(page, "review")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url("**/create/tasks/*")
    page.locator(".badge--completed[data-field=status]").wait_for(timeout=60_000)
    assert page.locator(".task-log li").count() > 5
    assert page.get_by_role("link", name="Open in catalog").is_visible()
    shot(page, "task")
    page.goto("/create/tasks")
    assert page.get_by_text("Flask service").first.is_visible()
    shot(page, "tasks")


def test_dry_run_of_the_demo_catalogs_node_service_template(page, site):
    page.goto("/create/dry-run")
    shot(page, "dry-run-form")
    page.select_option("select[name=template]", "template:default/node-service")
    page.fill("textarea[name=values]", "name: demo-dry\nowner: group:default/checkout-team\nsystem: system:default/checkout\n"
                                       "repoUrl: github.com?owner=acme-shop&repo=demo-dry\n")
    page.get_by_role("button", name="Dry run").click()
    page.wait_for_load_state()
    text = page.content()
    shot(page, "dry-run-result")
    assert "catalog-info.yaml" in text and "demo-dry" in text, text[-2000:]
