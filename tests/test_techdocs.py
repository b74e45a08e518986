"""TechDocs end to end: real git repositories made by the tests, real MkDocs + techdocs-core builds, build
records in the real Neo4j, and the portal serving the sites (sanitised, confined, next to owner and system)."""
from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from docs_builder.build import build_entity_docs
from docs_builder.storage import LocalStorage
from graph import techdocs
from graph.visibility import EVERYTHING as EVERYTHING_VIS

PLAIN = "component:default/plain-docs"
FANCY = "component:default/fancy-docs"
BROKEN = "component:default/broken-docs"
HOOKED = "component:default/hooked-docs"
XSS = "component:default/xss-docs"
REMOTE = "component:default/remote-docs"
ADMIN_HEADERS = {"Origin": "http://localhost"}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True,
                   capture_output=True)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def component(name: str, techdocs_ref: str = "dir:.") -> str:
    return f"""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: {name}
          annotations:
            backstage.io/techdocs-ref: "{techdocs_ref}"
        spec: {{type: service, lifecycle: production, owner: docs-team, system: docs-system}}
    """


def make_repo(root: Path) -> Path:
    """One git repository holding five documented components, each in its own folder."""
    write(root, {
        "catalog-info.yaml": """
            apiVersion: backstage.io/v1alpha1
            kind: Group
            metadata: {name: docs-team}
            spec: {type: team, children: []}
            ---
            apiVersion: backstage.io/v1alpha1
            kind: System
            metadata: {name: docs-system}
            spec: {owner: docs-team}
        """,
        "plain/catalog-info.yaml": component("plain-docs"),
        "plain/mkdocs.yml": """
            site_name: Plain docs
            nav:
              - Home: index.md
              - Getting started: guide/start.md
        """,
        "plain/docs/index.md": """
            # Plain docs home

            The plain service keeps **kumquats** in order. See [getting started](guide/start.md).

            ![diagram](img/diagram.png)
        """,
        "plain/docs/guide/start.md": """
            # Getting started

            Run the plain service with `make run`.
        """,
        "fancy/catalog-info.yaml": component("fancy-docs"),
        "fancy/mkdocs.yml": """
            site_name: Fancy docs
            plugins:
              - techdocs-core
            markdown_extensions:
              - admonition
              - pymdownx.details
        """,
        "fancy/docs/index.md": """
            # Fancy docs

            !!! warning "Mind the gap"
                Trains arrive every *three* minutes.

            ??? note "Hidden details"
                Folded text.

            | Column | Value |
            |--------|-------|
            | a      | 1     |
        """,
        "broken/catalog-info.yaml": component("broken-docs"),
        "broken/mkdocs.yml": "site_name: Broken\nnav:\n  - Home: index.md\n   - Oops: [unclosed\n",
        "broken/docs/index.md": "# Broken\n",
        "hooked/catalog-info.yaml": component("hooked-docs"),
        "hooked/mkdocs.yml": "site_name: Hooked\nhooks:\n  - evil.py\n",
        "hooked/evil.py": f"""
            from pathlib import Path
            def on_config(config):
                Path({str(root / 'HOOK_RAN')!r}).write_text('pwned')
        """,
        "hooked/docs/index.md": "# Hooked\n",
        "xss/catalog-info.yaml": component("xss-docs"),
        "xss/mkdocs.yml": "site_name: XSS\nmarkdown_extensions:\n  - md_in_html\n  - attr_list\n",
        "xss/docs/index.md": """
            # Payloads

            <script>window.pwned = 1</script>

            <img src="x.png" onerror="window.pwned = 2">

            <a href="javascript:window.pwned = 3">click me</a>

            [md link](javascript:alert(4))

            <div onclick="window.pwned = 5" style="background:url(javascript:alert(6))">div text</div>

            <iframe src="https://evil.example/frame"></iframe>

            <iframe src="https://www.youtube-nocookie.com/embed/abc"></iframe>

            <svg><circle onload="alert(7)"></circle></svg>

            <object data="evil.swf"></object>

            <form action="https://evil.example"><input name="q"></form>

            Still here: harmless text.
        """,
    })
    (root / "plain/docs/img").mkdir(parents=True)
    (root / "plain/docs/img/diagram.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (root / "plain/docs/script.js").write_text("alert('served?')")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "docs")
    return root


def make_remote(root: Path) -> Path:
    """A bare repository with docs (served by a local git host: `url:` refs are cloned from integrations only)."""
    work = root / "work"
    write(work, {"mkdocs.yml": "site_name: Remote docs\n", "docs/index.md": "# Remote home\n\nFetched by git.\n"})
    git(work, "init", "-q", "-b", "main")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "remote docs")
    bare = root / "served" / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare.parent


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> LocalStorage:
    return LocalStorage(tmp_path_factory.mktemp("techdocs-sites"))


@pytest.fixture(scope="module")
def docs_repo(tmp_path_factory, portal_app, graph_module, storage):
    """The test repository ingested next to the demo catalog, every site built once."""
    from ingest.sync import ingest

    base = tmp_path_factory.mktemp("docs-repos")
    repo = make_repo(base / "repo")
    from ingest.integrations import parse_integrations
    from tests.support.git_http import GitHttpServer

    with GitHttpServer(make_remote(base / "remote")) as host:
        integrations = parse_integrations({"integrations": {"allow": [host.url]}})
        write(repo, {"remote/catalog-info.yaml": component("remote-docs", f"url:{host.url}/remote.git")})
        result = ingest(graph_module, str(repo))
        assert result.added == 8 and not result.rejected, result.as_json()
        portal_app.extensions["trellis.docs_storage"] = storage
        portal_app.config["TRELLIS_FRAME_SOURCES"] = ["https://www.youtube-nocookie.com"]   # the iframe allow-list
        outcomes = {ref: build_entity_docs(graph_module, ref, storage, integrations=integrations)
                    for ref in (PLAIN, FANCY, BROKEN, HOOKED, XSS, REMOTE)}
    return {"repo": repo, "outcomes": outcomes, "graph": graph_module}


@pytest.fixture
def client(portal_app, docs_repo):
    return portal_app.test_client()


def docs_html(response) -> str:
    """The docs content part of a served page."""
    text = response.get_data(as_text=True)
    match = re.search(r'<article class="docs-content" id="docs-content">(.*?)</article>', text, re.S)
    assert match, text[:2000]
    return match.group(1)


# ------------------------------------------------------------------ building and serving


def test_a_plain_site_is_built_recorded_and_served_inside_the_portal(client, docs_repo):
    outcome = docs_repo["outcomes"][PLAIN]
    assert outcome.status == "succeeded" and outcome.pages == 2, outcome
    build = techdocs.latest_build(docs_repo["graph"], PLAIN)
    assert build["status"] == "succeeded" and build["hash"] == outcome.hash and build["finished_at"]

    home = client.get("/docs/default/component/plain-docs/")
    assert home.status_code == 200
    content = docs_html(home)
    assert "Plain docs home" in content and "<strong>kumquats</strong>" in content
    page = home.get_data(as_text=True)
    # the owner and the system beside the docs, linking to their entity pages
    assert 'href="/catalog/default/group/docs-team" data-role="owner"' in page
    assert 'href="/catalog/default/system/docs-system" data-role="system"' in page
    # the page list, in the nav's order
    assert page.index(">Plain docs home<") < page.index(">Getting started<")

    guide = client.get("/docs/default/component/plain-docs/guide/start/")
    assert guide.status_code == 200 and "make run" in docs_html(guide)
    # MkDocs' directory URLs: without the slash, a redirect to it
    assert client.get("/docs/default/component/plain-docs/guide/start").status_code == 302


def test_the_entity_page_has_a_docs_tab_showing_the_docs(client, docs_repo):
    page = client.get("/catalog/default/component/plain-docs")
    assert 'data-tab="docs"' in page.get_data(as_text=True)
    tab = client.get("/catalog/default/component/plain-docs?tab=docs")
    assert tab.status_code == 200
    text = tab.get_data(as_text=True)
    assert "Plain docs home" in docs_html(tab) and "Build docs" in text and "succeeded" in text
    # an entity without the annotation has no Docs tab and no docs pages
    assert 'data-tab="docs"' not in client.get("/catalog/default/group/docs-team").get_data(as_text=True)
    assert client.get("/catalog/default/group/docs-team?tab=docs").status_code == 404
    assert client.get("/docs/default/group/docs-team/").status_code == 404


def test_techdocs_core_features_render(client, docs_repo):
    assert docs_repo["outcomes"][FANCY].status == "succeeded"
    content = docs_html(client.get("/docs/default/component/fancy-docs/"))
    assert '<div class="admonition warning">' in content
    assert '<p class="admonition-title">Mind the gap</p>' in content and "<em>three</em>" in content
    assert "<details" in content and "<summary>Hidden details</summary>" in content
    assert "<table>" in content


def test_docs_from_a_git_url_are_cloned_and_built(client, docs_repo):
    assert docs_repo["outcomes"][REMOTE].status == "succeeded", docs_repo["outcomes"][REMOTE]
    assert "Fetched by git." in docs_html(client.get("/docs/default/component/remote-docs/"))


def test_the_demo_catalogs_documented_entity_builds(client, docs_repo, storage):
    outcome = build_entity_docs(docs_repo["graph"], "component:default/payments-service", storage)
    assert outcome.status == "succeeded" and outcome.pages >= 3, outcome
    home = client.get("/docs/default/component/payments-service/")
    assert home.status_code == 200 and "Payments Service" in home.get_data(as_text=True)
    assert '<div class="admonition' in docs_html(home)


def test_unchanged_docs_are_not_rebuilt_and_a_change_is_served(client, docs_repo, storage):
    graph, repo = docs_repo["graph"], docs_repo["repo"]
    before = len(techdocs.list_builds(graph, PLAIN))
    again = build_entity_docs(graph, PLAIN, storage)
    assert again.status == "unchanged" and len(techdocs.list_builds(graph, PLAIN)) == before

    (repo / "plain/docs/guide/start.md").write_text("# Getting started\n\nNow run `make serve` instead.\n")
    changed = build_entity_docs(graph, PLAIN, storage, trigger="ingest")
    assert changed.status == "succeeded" and changed.hash != again.hash
    assert "make serve" in docs_html(client.get("/docs/default/component/plain-docs/guide/start/"))
    assert techdocs.latest_build(graph, PLAIN)["trigger"] == "ingest"
    forced = build_entity_docs(graph, PLAIN, storage, force=True)
    assert forced.status == "succeeded" and forced.hash == changed.hash


# ------------------------------------------------------------------ failures people must see


def test_a_broken_mkdocs_yml_shows_a_clear_error_on_the_entity_page(client, docs_repo):
    outcome = docs_repo["outcomes"][BROKEN]
    assert outcome.status == "failed" and outcome.error.startswith("mkdocs.yml is not valid YAML"), outcome
    build = techdocs.latest_build(docs_repo["graph"], BROKEN)
    assert build["status"] == "failed" and build["error"] == outcome.error
    tab = client.get("/catalog/default/component/broken-docs?tab=docs").get_data(as_text=True)
    assert "The last docs build failed:" in tab and "mkdocs.yml is not valid YAML" in tab
    assert "line 4" in tab   # where in the file
    log = client.get(f"/docs-builds/default/component/broken-docs/{build['id']}")
    assert log.status_code == 200 and "mkdocs.yml is not valid YAML" in log.get_data(as_text=True)


def test_hooks_are_refused_and_never_run(client, docs_repo):
    outcome = docs_repo["outcomes"][HOOKED]
    assert outcome.status == "failed"
    assert outcome.error == "mkdocs.yml: `hooks` is not allowed (hooks run Python files from the repository)"
    assert not (docs_repo["repo"] / "HOOK_RAN").exists()
    assert "`hooks` is not allowed" in client.get("/catalog/default/component/hooked-docs?tab=docs").get_data(as_text=True)


def test_xss_payloads_in_markdown_are_neutralised(client, docs_repo):
    assert docs_repo["outcomes"][XSS].status == "succeeded"
    for url in ("/docs/default/component/xss-docs/", "/catalog/default/component/xss-docs?tab=docs"):
        content = docs_html(client.get(url))
        lowered = content.lower()
        assert "Still here: harmless text." in content and "div text" in content and "click me" in content
        for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "<object", "<form", "<input",
                    "style=", "evil.example", "window.pwned"):
            assert bad not in lowered, (bad, content)
        assert '<iframe src="https://www.youtube-nocookie.com/embed/abc"' in content   # allow-listed host


@pytest.mark.parametrize("path", [
    "../../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd", "guide/../../x",
    "..", "%2e%2e", "guide/..%2f..%2fsecret", "/etc/passwd", "guide//start/", "img/../../../mkdocs.yml",
])
def test_paths_cannot_escape_the_site(client, docs_repo, path):
    response = client.get(f"/docs/default/component/plain-docs/{path}", follow_redirects=True)
    assert response.status_code == 404, (path, response.status_code)
    assert b"root:" not in response.data and b"site_name" not in response.data


def test_static_files_are_served_with_safe_types_only(client, docs_repo):
    image = client.get("/docs/default/component/plain-docs/img/diagram.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in image.headers["Content-Security-Policy"]
    assert client.get("/docs/default/component/plain-docs/script.js").status_code == 404
    assert client.get("/docs/default/component/plain-docs/assets/javascripts/bundle.js").status_code == 404


# ------------------------------------------------------------------ index, logs, triggers


def test_the_docs_index_lists_documented_entities_with_status(client, docs_repo):
    page = client.get("/docs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-ref="([^"]+)">(.*?)</tr>', text, re.S))
    assert 'data-status="succeeded"' in rows[PLAIN] and 'data-status="failed"' in rows[BROKEN]
    assert "not built" in rows["component:default/checkout-service"]   # annotated in the demo catalog
    assert "group:default/docs-team" not in rows
    assert 'href="/docs/default/component/plain-docs/"' in rows[PLAIN]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", rows[PLAIN])
    assert 'href="/docs"' in client.get("/catalog").get_data(as_text=True)   # in the header nav


def test_build_history_and_logs_are_viewable(client, docs_repo):
    page = client.get("/docs-builds/default/component/fancy-docs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Documentation built in" in text   # MkDocs' own log line
    assert client.get("/docs-builds/default/component/fancy-docs/no-such-build").status_code == 404


def test_the_build_docs_button(client, docs_repo):
    tab = client.get("/catalog/default/component/fancy-docs?tab=docs").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', tab)
    form = {"force": "1", **({"csrf_token": token.group(1)} if token else {})}
    before = len(techdocs.list_builds(docs_repo["graph"], FANCY))
    refused = client.post("/docs/default/component/fancy-docs/build", data=form,
                          headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and len(techdocs.list_builds(docs_repo["graph"], FANCY)) == before
    done = client.post("/docs/default/component/fancy-docs/build", data=form, headers=ADMIN_HEADERS)
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/catalog/default/component/fancy-docs?tab=docs&build=succeeded")
    builds = techdocs.list_builds(docs_repo["graph"], FANCY)
    assert len(builds) == before + 1 and builds[0]["trigger"] == "button"
    assert "The docs were built." in client.get(done.headers["Location"]).get_data(as_text=True)


def test_trellis_docs_build_on_the_command_line(docs_repo, neo4j_uri, storage, monkeypatch):
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    monkeypatch.setenv("TRELLIS_DOCS_DIR", str(storage.root))
    runner = CliRunner()
    ok = runner.invoke(main, ["docs", "build", "fancy-docs", "--force"])
    assert ok.exit_code == 0, ok.output
    assert re.match(r"component:default/fancy-docs: built 1 page in [\d.]+s", ok.output)
    same = runner.invoke(main, ["docs", "build", "component:default/fancy-docs"])
    assert same.exit_code == 0 and "docs unchanged since the last build" in same.output
    failed = runner.invoke(main, ["docs", "build", "component:default/hooked-docs", "--force"])
    assert failed.exit_code == 2 and "`hooks` is not allowed" in failed.output
    missing = runner.invoke(main, ["docs", "build", "component:default/nope"])
    assert missing.exit_code == 1 and "not in the catalog" in missing.output
    status = runner.invoke(main, ["docs", "status", "component:default/hooked-docs", "--log"])
    assert status.exit_code == 0 and "failed" in status.output and "cli" in status.output


def test_a_concurrent_build_of_the_same_entity_is_refused(docs_repo, storage):
    graph = docs_repo["graph"]
    record = techdocs.start_build(graph, build_id="held-by-test", ref=PLAIN, techdocs_ref="dir:.", hash=None,
                                  trigger="test", now=techdocs_now(), stale_after_ms=600_000)
    try:
        with pytest.raises(techdocs.BuildInProgress):
            build_entity_docs(graph, PLAIN, storage, force=True)
    finally:
        techdocs.finish_build(graph, record["id"], status="failed", now=techdocs_now(), error="test")


def techdocs_now() -> int:
    import time

    return int(time.time() * 1000)


def test_built_pages_are_found_by_search_and_the_hit_opens_the_page(client, docs_repo):
    from graph.search import SearchQuery, search

    assert docs_repo["outcomes"][FANCY].indexed
    result = search(docs_repo["graph"], SearchQuery(text="trains arrive"))
    hits = [h for h in result.hits if h.doctype == "techdocs" and h.ref == FANCY]
    assert hits and hits[0].page == {"path": "index.html", "title": "Fancy docs"}, [h.as_json() for h in result.hits]
    # the search page links the hit to the docs page, which the portal serves
    page = client.get("/search?q=trains+arrive").get_data(as_text=True)
    assert 'href="/docs/default/component/fancy-docs/index.html"' in page
    served = client.get("/docs/default/component/fancy-docs/index.html")
    assert served.status_code == 200 and "Trains arrive every" in docs_html(served)


def test_the_ingest_time_trigger_rebuilds_only_what_changed(docs_repo, storage):
    from docs_builder.build import rebuild_changed

    graph, repo = docs_repo["graph"], docs_repo["repo"]
    (repo / "fancy/docs/index.md").write_text("# Fancy docs\n\nRewritten for the trigger.\n")
    hooked_builds = len(techdocs.list_builds(graph, HOOKED))
    outcomes = {o.ref: o for o in rebuild_changed(graph, storage, [PLAIN, FANCY, HOOKED])}
    assert outcomes[FANCY].status == "succeeded" and outcomes[PLAIN].status == "unchanged"
    # still refused, with the same reason, but not attempted again until mkdocs.yml changes
    assert outcomes[HOOKED].status == "failed" and "`hooks` is not allowed" in outcomes[HOOKED].error
    assert len(techdocs.list_builds(graph, HOOKED)) == hooked_builds
    (repo / "hooked/mkdocs.yml").write_text("site_name: Hooked, fixed\n")
    assert build_entity_docs(graph, HOOKED, storage, trigger="ingest").status == "succeeded"
    assert techdocs.latest_build(graph, FANCY)["trigger"] == "ingest"


def test_readers_who_may_not_write_see_no_build_button_and_cannot_build(docs_repo, neo4j_uri, storage):
    from app import create_app
    from app.auth import access

    viewer_app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development",
                             "TRELLIS_GUEST_ROLE": "viewer"})
    viewer_app.extensions["trellis.docs_storage"] = storage
    access.forget_subjects()   # the process caches the guest's role; this app's guest is a viewer
    try:
        viewer = viewer_app.test_client()
        tab = viewer.get("/catalog/default/component/plain-docs?tab=docs")
        assert tab.status_code == 200 and "Plain docs home" in docs_html(tab)
        assert 'data-action="build-docs"' not in tab.get_data(as_text=True)
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', tab.get_data(as_text=True))
        assert token     # a valid CSRF token: the refusal below is the access check, not CSRF
        before = len(techdocs.list_builds(docs_repo["graph"], PLAIN))
        refused = viewer.post("/docs/default/component/plain-docs/build", data={"force": "1"},
                              headers={"X-CSRF-Token": token.group(1)})
        assert refused.status_code == 403
        assert len(techdocs.list_builds(docs_repo["graph"], PLAIN)) == before
    finally:
        access.forget_subjects()
        viewer_app.extensions["trellis.graph"].close()


def test_docs_of_entities_that_lose_their_annotation_are_pruned(docs_repo, storage, client, neo4j_uri, monkeypatch):
    from click.testing import CliRunner

    from app.cli import main
    from graph.search import doc_pages
    from ingest.sync import ingest

    graph, repo = docs_repo["graph"], docs_repo["repo"]
    assert client.get("/docs/default/component/xss-docs/").status_code == 200 and doc_pages(graph, XSS)
    (repo / "xss/catalog-info.yaml").write_text((repo / "xss/catalog-info.yaml").read_text().replace(
        'backstage.io/techdocs-ref: "dir:."', "example.com/no-docs: x"))
    assert ingest(graph, str(repo)).updated == 1
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    monkeypatch.setenv("TRELLIS_DOCS_DIR", str(storage.root))
    result = CliRunner().invoke(main, ["docs", "prune"])
    assert result.exit_code == 0 and f"{XSS}: docs removed" in result.output, result.output
    assert storage.manifest("default/component/xss-docs") is None and doc_pages(graph, XSS) == []
    assert techdocs.list_builds(graph, XSS) == []
    assert client.get("/docs/default/component/xss-docs/").status_code == 404
    assert XSS not in {i["ref"] for i in techdocs.documented_entities(graph, EVERYTHING_VIS)}
    assert CliRunner().invoke(main, ["docs", "prune"]).output.strip() == "Nothing to prune."
