"""Untrusted `mkdocs.yml` -> a sanitised MkDocs configuration (pure; unit-tested).

Why: mkdocs.yml comes from users' repositories, and MkDocs executes what it names: `hooks` are Python
files, plugins and markdown extensions are Python imports, `!!python/name:` tags import objects, `!ENV`
reads the builder's environment, `theme.custom_dir` brings unsandboxed Jinja templates, `INHERIT` reads
other files. So the file is parsed here with a safe YAML loader (any tag is refused), only allow-listed keys
and names are kept, and the builder writes the result to its own temp file and builds from that.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

import yaml

from ingest.descriptors.limits import Limits
from ingest.descriptors.yaml_loader import YamlProblem, load_single

from docs_builder.errors import DocsBuildError

MAX_CONFIG_BYTES = 256 * 1024
# mkdocs.yml is the repository's: the same loader as catalog files, with ceilings sized for a config file.
MKDOCS_YAML_LIMITS = Limits(max_file_bytes=MAX_CONFIG_BYTES, max_aliases=200, max_nodes=100_000,
                            max_expanded_chars=4 * 1024 * 1024, max_depth=50)

# Keys copied as they are (scalars only).
SCALAR_KEYS = ("site_name", "site_description", "site_author", "copyright", "repo_url", "repo_name", "edit_uri")
# Keys that would run code or read files outside the docs: a build that names them is refused.
REFUSED_KEYS = {
    "hooks": "hooks run Python files from the repository",
    "INHERIT": "INHERIT reads another configuration file",
    "extra_javascript": "scripts are not served with the docs",
    "extra_templates": "extra templates are rendered by unsandboxed Jinja",
    "watch": "watch names files outside the docs",
}
ALLOWED_PLUGINS = ("techdocs-core", "search")
ALLOWED_THEMES = ("material", "mkdocs", "readthedocs")
ALLOWED_THEME_KEYS = ("name", "features", "language", "palette")
# Python-Markdown and pymdown extensions that only transform Markdown text. Left out on purpose:
# pymdownx.snippets (includes files), plantuml_markdown and markdown_inline_graphviz (their options name
# servers and programs to call; techdocs-core enables both with its own defaults), and anything taking
# Python callables (refused as tags anyway).
ALLOWED_EXTENSIONS = frozenset({
    "abbr", "admonition", "attr_list", "codehilite", "def_list", "fenced_code", "footnotes", "md_in_html",
    "meta", "nl2br", "sane_lists", "smarty", "tables", "toc", "wikilinks", "extra",
    "markdown.extensions.abbr", "markdown.extensions.admonition", "markdown.extensions.attr_list",
    "markdown.extensions.codehilite", "markdown.extensions.def_list", "markdown.extensions.fenced_code",
    "markdown.extensions.footnotes", "markdown.extensions.md_in_html", "markdown.extensions.meta",
    "markdown.extensions.tables", "markdown.extensions.toc", "markdown.extensions.extra",
    "pymdownx.arithmatex", "pymdownx.betterem", "pymdownx.caret", "pymdownx.critic", "pymdownx.details",
    "pymdownx.emoji", "pymdownx.highlight", "pymdownx.inlinehilite", "pymdownx.keys", "pymdownx.magiclink",
    "pymdownx.mark", "pymdownx.smartsymbols", "pymdownx.superfences", "pymdownx.tabbed", "pymdownx.tasklist",
    "pymdownx.tilde", "pymdownx.blocks.admonition", "pymdownx.blocks.details", "pymdownx.blocks.tab",
    "mdx_truly_sane_lists",
})
MAX_NAV_ENTRIES = 5000


@dataclass
class SafeConfig:
    """What the builder writes to its own mkdocs.yml, plus what it dropped (shown in the build log)."""

    config: dict[str, Any]
    docs_dir: str                      # relative to the mkdocs.yml's folder, normalised, never escaping it
    nav_pages: list[str] = field(default_factory=list)   # Markdown files named by nav, in order
    warnings: list[str] = field(default_factory=list)


def _has_explicit_tags(text: str) -> None:
    """PyYAML resolves `!!str` etc. silently; refuse any explicit tag by scanning the event stream."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            tag = getattr(event, "tag", None)
            implicit = getattr(event, "implicit", True)
            if tag and not (implicit is True or (isinstance(implicit, tuple) and any(implicit))):
                if not tag.startswith("tag:yaml.org,2002:") or "python" in tag:
                    mark = event.start_mark
                    raise DocsBuildError(f"mkdocs.yml line {mark.line + 1}: the YAML tag {tag!r} is not allowed "
                                         "(no !ENV, !relative or !!python tags in docs built by Trellis)")
    except yaml.YAMLError as exc:
        raise DocsBuildError(f"mkdocs.yml is not valid YAML: {exc}") from None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _plain_options(value: Any, where: str) -> Any:
    """Options made of scalars, lists and mappings with string keys only (no Python objects)."""
    if _scalar(value):
        return value
    if isinstance(value, list):
        return [_plain_options(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise DocsBuildError(f"mkdocs.yml: {where} has a non-string key")
        return {k: _plain_options(v, where) for k, v in value.items()}
    raise DocsBuildError(f"mkdocs.yml: {where} has a value of type {type(value).__name__}")


def _named_items(value: Any, key: str) -> list[tuple[str, Any]]:
    """`plugins:`/`markdown_extensions:` as a list of names or one-key mappings, or a mapping."""
    if value is None:
        return []
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if not isinstance(value, list):
        raise DocsBuildError(f"mkdocs.yml: {key} must be a list")
    for item in value:
        if isinstance(item, str):
            items.append((item, None))
        elif isinstance(item, dict) and len(item) == 1:
            name, options = next(iter(item.items()))
            items.append((str(name), options))
        else:
            raise DocsBuildError(f"mkdocs.yml: every entry of {key} must be a name or a one-key mapping")
    return items


def confined(path: str, what: str) -> str:
    """A relative POSIX path that stays inside its folder, normalised; DocsBuildError otherwise."""
    if not isinstance(path, str) or not path.strip():
        raise DocsBuildError(f"mkdocs.yml: {what} must be a non-empty relative path")
    if "\\" in path or "\x00" in path or path.startswith("/") or ":" in path.split("/")[0]:
        raise DocsBuildError(f"mkdocs.yml: {what} {path!r} must be a relative path inside the repository")
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../"):
        raise DocsBuildError(f"mkdocs.yml: {what} {path!r} points outside the repository")
    return norm


def _nav(value: Any, pages: list[str], depth: int = 0) -> Any:
    """Validate `nav`: titles are strings, pages are confined Markdown paths or http(s) links."""
    if depth > 10:
        raise DocsBuildError("mkdocs.yml: nav is nested more than 10 levels deep")
    if isinstance(value, str):
        if value.lower().startswith(("http://", "https://")):
            return value
        page = confined(value, "a nav entry")
        pages.append(page)
        if len(pages) > MAX_NAV_ENTRIES:
            raise DocsBuildError(f"mkdocs.yml: nav has more than {MAX_NAV_ENTRIES} pages")
        return page
    if isinstance(value, list):
        return [_nav(v, pages, depth + 1) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        title, target = next(iter(value.items()))
        if not isinstance(title, str):
            raise DocsBuildError("mkdocs.yml: nav titles must be strings")
        return {title: _nav(target, pages, depth + 1)}
    raise DocsBuildError("mkdocs.yml: nav entries must be a path, a {title: path} mapping or a list")


def sanitise(text: str | bytes, *, default_name: str = "Documentation") -> SafeConfig:
    """Parse an untrusted mkdocs.yml and keep only what is safe to build; DocsBuildError says why not."""
    if isinstance(text, bytes):
        if len(text) > MAX_CONFIG_BYTES:
            raise DocsBuildError(f"mkdocs.yml is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise DocsBuildError("mkdocs.yml is not UTF-8 text") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise DocsBuildError(f"mkdocs.yml is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    _has_explicit_tags(text)
    try:
        # The catalog's bounded loader (alias count, alias-expanded size, depth): an alias bomb is refused
        # while composing, before anything is built in memory.
        raw = load_single(text, MKDOCS_YAML_LIMITS)
    except YamlProblem as exc:
        raise DocsBuildError(f"mkdocs.yml is not usable YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DocsBuildError("mkdocs.yml must be a mapping of settings")

    for key, why in REFUSED_KEYS.items():
        if key in raw:
            raise DocsBuildError(f"mkdocs.yml: `{key}` is not allowed ({why})")

    out: dict[str, Any] = {}
    warnings: list[str] = []
    for key in SCALAR_KEYS:
        if key in raw:
            if not _scalar(raw[key]):
                raise DocsBuildError(f"mkdocs.yml: {key} must be a single value")
            if raw[key] is not None:
                out[key] = str(raw[key])
    out.setdefault("site_name", default_name)

    docs_dir = confined(str(raw.get("docs_dir") or "docs"), "docs_dir")
    if docs_dir == ".":
        raise DocsBuildError("mkdocs.yml: docs_dir cannot be the folder of mkdocs.yml itself")

    nav_pages: list[str] = []
    if raw.get("nav") is not None:
        out["nav"] = _nav(raw["nav"], nav_pages)

    theme = raw.get("theme")
    if theme is not None:
        if isinstance(theme, str):
            theme = {"name": theme}
        if not isinstance(theme, dict):
            raise DocsBuildError("mkdocs.yml: theme must be a name or a mapping")
        if "custom_dir" in theme:
            raise DocsBuildError("mkdocs.yml: theme.custom_dir is not allowed (templates from the repository "
                                 "would run unsandboxed)")
        name = theme.get("name")
        if name not in ALLOWED_THEMES:
            raise DocsBuildError(f"mkdocs.yml: theme {name!r} is not allowed; use one of {', '.join(ALLOWED_THEMES)}")
        kept = {k: _plain_options(v, f"theme.{k}") for k, v in theme.items() if k in ALLOWED_THEME_KEYS}
        dropped = sorted(set(theme) - set(kept))
        if dropped:
            warnings.append(f"theme settings ignored: {', '.join(map(str, dropped))}")
        out["theme"] = kept

    plugins: list[Any] = []
    for name, options in _named_items(raw.get("plugins"), "plugins"):
        if name not in ALLOWED_PLUGINS:
            raise DocsBuildError(f"mkdocs.yml: the plugin {name!r} is not allowed; Trellis builds with "
                                 f"{', '.join(ALLOWED_PLUGINS)} only")
        options = _plain_options(options, f"plugin {name}")
        if options not in (None, {}) and not isinstance(options, dict):
            raise DocsBuildError(f"mkdocs.yml: the options of plugin {name} must be a mapping")
        plugins.append({name: options} if options else name)
    if "techdocs-core" not in [p if isinstance(p, str) else next(iter(p)) for p in plugins]:
        # Backstage's generator adds techdocs-core when it is missing; so do we (same output).
        plugins.insert(0, "techdocs-core")
    out["plugins"] = plugins

    extensions: list[Any] = []
    for name, options in _named_items(raw.get("markdown_extensions"), "markdown_extensions"):
        if name not in ALLOWED_EXTENSIONS:
            raise DocsBuildError(f"mkdocs.yml: the markdown extension {name!r} is not allowed")
        options = _plain_options(options, f"markdown extension {name}")
        if options not in (None, {}) and not isinstance(options, dict):
            raise DocsBuildError(f"mkdocs.yml: the options of markdown extension {name} must be a mapping")
        extensions.append({name: options} if options else name)
    if extensions:
        out["markdown_extensions"] = extensions

    known = set(SCALAR_KEYS) | {"docs_dir", "nav", "theme", "plugins", "markdown_extensions", "site_dir"}
    ignored = sorted(str(k) for k in raw if k not in known)
    if ignored:
        warnings.append(f"mkdocs.yml settings ignored: {', '.join(ignored)}")
    out["use_directory_urls"] = True
    return SafeConfig(config=out, docs_dir=docs_dir, nav_pages=nav_pages, warnings=warnings)


def page_url(markdown_path: str) -> str:
    """MkDocs' directory URL of a Markdown file: `index.md` -> ``, `a/b.md` -> `a/b/`, `a/README.md` -> `a/`."""
    stem, _ = posixpath.splitext(markdown_path)
    head, base = posixpath.split(stem)
    if base.lower() in ("index", "readme"):
        return f"{head}/" if head else ""
    return f"{stem}/"
