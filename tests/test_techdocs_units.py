"""TechDocs pure parts: the mkdocs.yml sanitiser, page extraction, site paths, HTML sanitising, and the
MkDocs child process's limits (time, size, environment) with real MkDocs runs. No database needed."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from docs_builder.config import page_url, sanitise
from docs_builder.errors import DocsBuildError
from docs_builder.pages import extract, page_path
from docs_builder.runner import RunLimits, run_mkdocs
from docs_builder.storage import entity_key, safe_path
from docs_builder.tree import collect


# ------------------------------------------------------------------ mkdocs.yml


def test_a_plain_config_keeps_its_settings_and_gains_techdocs_core():
    safe = sanitise(textwrap.dedent("""
        site_name: Payments
        site_description: How payments work
        nav:
          - Home: index.md
          - Guides:
              - Setup: guides/setup.md
        markdown_extensions:
          - admonition
          - toc: {permalink: true}
        extra: {analytics: x}
    """))
    assert safe.config["site_name"] == "Payments"
    assert safe.config["plugins"] == ["techdocs-core"]
    assert safe.config["markdown_extensions"] == ["admonition", {"toc": {"permalink": True}}]
    assert safe.nav_pages == ["index.md", "guides/setup.md"]
    assert safe.docs_dir == "docs"
    assert any("extra" in w for w in safe.warnings)     # dropped, and said so in the log
    assert "extra" not in safe.config


@pytest.mark.parametrize("text, reason", [
    ("site_name: x\nhooks:\n  - hooks.py\n", "`hooks` is not allowed"),
    ("site_name: x\nINHERIT: ../base.yml\n", "`INHERIT` is not allowed"),
    ("site_name: x\nplugins:\n  - macros\n", "the plugin 'macros' is not allowed"),
    ("site_name: x\nmarkdown_extensions:\n  - pymdownx.snippets\n", "'pymdownx.snippets' is not allowed"),
    ("site_name: x\nmarkdown_extensions:\n  - plantuml_markdown: {server: 'http://plantuml.internal.example'}\n",
     "'plantuml_markdown' is not allowed"),
    ("site_name: !ENV SECRET\n", "tag '!ENV' is not allowed"),
    ("site_name: x\nmarkdown_extensions:\n  - pymdownx.emoji:\n      emoji_index: !!python/name:os.system\n",
     "is not allowed"),
    ("site_name: x\ntheme:\n  name: material\n  custom_dir: overrides\n", "custom_dir is not allowed"),
    ("site_name: x\ntheme: evil-theme\n", "theme 'evil-theme' is not allowed"),
    ("site_name: x\ndocs_dir: ../../etc\n", "points outside the repository"),
    ("site_name: x\ndocs_dir: /etc\n", "must be a relative path"),
    ("site_name: x\nnav:\n  - Secret: ../../secret.md\n", "points outside the repository"),
    ("site_name: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_dangerous_or_broken_configs_are_refused_with_the_reason(text, reason):
    with pytest.raises(DocsBuildError) as exc:
        sanitise(text)
    assert reason in str(exc.value)


def test_page_urls_follow_mkdocs_directory_urls():
    assert [page_url(p) for p in ("index.md", "guide.md", "a/index.md", "a/b.md", "a/README.md")] == \
        ["", "guide/", "a/", "a/b/", "a/"]
    assert [page_path(p) for p in ("index.html", "a/index.html", "404.html", "x.png")] == ["", "a/", None, None]


# ------------------------------------------------------------------ paths and keys


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a//b", "a\\b", "a/./b", "..", "a/\x00",
                                  "a%2f..", "c:/x", "a\nb"])
def test_site_paths_that_could_escape_are_refused(path):
    assert safe_path(path) is None


def test_site_paths_and_entity_keys():
    assert safe_path("guides/setup/") == "guides/setup/"
    assert safe_path("assets/diagram.png") == "assets/diagram.png"
    assert safe_path("über/seite/") == "über/seite/"      # MkDocs pages may have non-ASCII names
    assert entity_key("component:default/payments-service") == "default/component/payments-service"
    with pytest.raises(ValueError):
        entity_key("component:../x")


# ------------------------------------------------------------------ pages


def test_extract_takes_the_article_title_and_text():
    html = """<html><head><title>Setup - Payments</title></head><body>
      <nav>Site navigation</nav>
      <article class="md-content__inner md-typeset">
        <h1 id="setup">Setting up<a class="headerlink" href="#setup">&para;</a></h1>
        <p>Run &lt;make&gt; &amp; wait.</p><script>ignored()</script><br>
      </article><footer>Footer</footer></body></html>"""
    page = extract("setup/", html, "Payments")
    assert page.title == "Setting up"
    assert page.text == "Setting up Run <make> & wait."
    assert "Site navigation" not in page.body and "Footer" not in page.body
    assert page.body.startswith('<h1 id="setup">') and "&lt;make&gt;" in page.body


def test_extract_falls_back_to_the_title_element():
    page = extract("", "<html><head><title>Home - Site</title></head><body><p>x</p></body></html>", "Site")
    assert page.title == "Home" and page.text == "x"


# ------------------------------------------------------------------ the MkDocs child process


def _site(tmp_path: Path, config: str, pages: dict[str, str]) -> Path:
    (tmp_path / "docs").mkdir()
    for name, text in pages.items():
        (tmp_path / "docs" / name).write_text(text)
    (tmp_path / "mkdocs.yml").write_text(config)
    return tmp_path / "mkdocs.yml"


def test_the_build_environment_holds_no_secrets(tmp_path, monkeypatch):
    """The runner itself (below the sanitiser): even code that does run in a build sees only PATH/HOME/LANG."""
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also-secret")
    dump = tmp_path / "env.txt"
    (tmp_path / "hook.py").write_text(
        f"import os\ndef on_config(config):\n    open({str(dump)!r}, 'w').write('\\n'.join(sorted(os.environ)))\n")
    config = _site(tmp_path, "site_name: x\nhooks:\n  - hook.py\n", {"index.md": "# Hi\n"})
    run_mkdocs(config, tmp_path / "site", tmp_path / "work")
    seen = set(dump.read_text().split())
    assert "NEO4J_PASSWORD" not in seen and "AWS_SECRET_ACCESS_KEY" not in seen
    assert {"PATH", "HOME", "LANG"} <= seen
    assert seen - {"PATH", "HOME", "LANG", "NO_MKDOCS_2_WARNING", "LC_CTYPE"} == set()


def test_a_build_over_its_time_limit_is_stopped(tmp_path):
    (tmp_path / "hook.py").write_text("import time\ndef on_config(config):\n    time.sleep(60)\n")
    config = _site(tmp_path, "site_name: x\nhooks:\n  - hook.py\n", {"index.md": "# Hi\n"})
    with pytest.raises(DocsBuildError) as exc:
        run_mkdocs(config, tmp_path / "site", tmp_path / "work", RunLimits(timeout=3))
    assert "did not finish within 3 s" in exc.value.message


def test_a_site_over_the_size_limit_fails(tmp_path):
    config = _site(tmp_path, "site_name: x\n", {"index.md": "# Hi\n\n" + "words " * 5000})
    with pytest.raises(DocsBuildError) as exc:
        run_mkdocs(config, tmp_path / "site", tmp_path / "work", RunLimits(max_site_bytes=10_000))
    assert "over the limit of" in exc.value.message


def test_mkdocs_errors_come_back_with_the_log(tmp_path):
    config = _site(tmp_path, "site_name: x\ntheme: {name: no-such-theme}\n", {"index.md": "# Hi\n"})
    with pytest.raises(DocsBuildError) as exc:
        run_mkdocs(config, tmp_path / "site", tmp_path / "work")
    assert exc.value.message.startswith("MkDocs failed:") and "no-such-theme" in exc.value.log


def test_links_leaving_the_repository_are_not_part_of_the_tree(tmp_path):
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "index.md").write_text("# Home\n")
    outside = tmp_path / "outside.md"
    outside.write_text("secret")
    os.symlink(outside, repo / "docs" / "leak.md")
    os.symlink(repo / "docs" / "index.md", repo / "docs" / "alias.md")
    tree = collect(repo.resolve(), repo.resolve(), "docs", b"site_name: x\n")
    assert [rel for rel, _ in tree.files] == ["alias.md", "index.md"]
    assert tree.skipped == ["leak.md"]
    before = tree.hash
    (repo / "docs" / "index.md").write_text("# Home, changed\n")
    assert collect(repo.resolve(), repo.resolve(), "docs", b"site_name: x\n").hash != before


def test_iframes_keep_their_source_only_on_the_frame_allow_list():
    from app.web.docs_views import iframe_hosts, sanitise_html

    allowed = iframe_hosts(["https://www.youtube-nocookie.com", "player.vimeo.com", "http://plain.example"])
    assert allowed == {"www.youtube-nocookie.com", "player.vimeo.com"}
    html = ('<iframe src="https://www.youtube-nocookie.com/embed/x"></iframe>'
            '<iframe src="https://evil.example/x"></iframe><iframe src="http://player.vimeo.com/1"></iframe>')
    out = sanitise_html(html, allowed)
    assert out.count("<iframe") == 3 and out.count("src=") == 1 and "evil.example" not in out
    assert "src=" not in sanitise_html(html)    # nothing configured: no embedded frames at all
