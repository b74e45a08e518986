"""TechDocs in the portal: the docs index, each entity's docs pages inside the portal layout, build logs, the
"Build docs" button and the entity page's Docs tab.

Built HTML comes from users' repositories, so every page is sanitised with nh3 when it is served (no scripts,
no event handlers, no `javascript:` URLs, iframes only from TRELLIS_FRAME_SOURCES); paths are checked before storage
is asked (nothing outside the site: 404); static files are served only with safe types. Access follows the
entity: reading docs needs "read" on it, building needs "write".
"""
from __future__ import annotations

import posixpath
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from urllib.parse import urlsplit

import nh3
from flask import Response, abort, current_app, redirect, render_template, request, url_for

from app.auth import access
from app.graph_access import get_graph
from app.locations import location_roots
from app.web import bp
from app.web.helpers import entity_url, first_relation, split_ref
from docs_builder.build import build_entity_docs
from docs_builder.pages import extract
from docs_builder.source import techdocs_ref_of
from docs_builder.tasks import enqueue_build
from docs_builder.storage import (SAFE_TYPES, Storage, StorageError, entity_key, safe_path,
                                  storage_from_config)
from graph import techdocs
from graph.entities import get_entity
from graph.model import RefError, entity_ref
from plugins.api import EntityPage

_EXTRA_TAGS = {"details", "summary", "figure", "figcaption", "iframe", "mark", "section", "article", "aside",
               "nav", "header", "footer", "main", "dl", "dt", "dd", "sup", "sub", "kbd", "abbr", "del", "ins",
               "caption", "colgroup", "col", "label", "time"}
_GENERIC_ATTRS = {"class", "id", "title", "lang", "dir", "align", "role", "aria-label", "aria-hidden"}
_TAG_ATTRS = {
    "a": {"href", "name"}, "img": {"src", "alt", "width", "height", "loading"},
    "iframe": {"src", "width", "height", "allowfullscreen", "frameborder"},
    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"}, "ol": {"start", "type"},
    "details": {"open"}, "abbr": {"title"}, "time": {"datetime"}, "col": {"span"},
}
# A site's own files: served with these headers so an SVG or text file can never run as a page.
_ASSET_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
                  "X-Content-Type-Options": "nosniff"}


# ------------------------------------------------------------------ helpers


def docs_storage() -> Storage:
    """The app's docs storage (TRELLIS_DOCS_STORAGE in the app config or the environment)."""
    storage = current_app.extensions.get("trellis.docs_storage")
    if storage is None:
        storage = current_app.extensions["trellis.docs_storage"] = storage_from_config(current_app.config)
    return storage


def iframe_hosts(frame_sources: list[str] | tuple[str, ...] | None) -> frozenset[str]:
    """Hosts docs may embed: those of TRELLIS_FRAME_SOURCES, the same list the Content-Security-Policy's
    frame-src allows (app/auth/headers.py), so the sanitiser and the browser enforce one allow-list."""
    hosts = set()
    for source in frame_sources or ():
        parts = urlsplit(source if "://" in source else f"https://{source}")
        if parts.scheme == "https" and parts.hostname and "*" not in parts.hostname:
            hosts.add(parts.hostname.lower())
    return frozenset(hosts)


def _iframe_hosts() -> frozenset[str]:
    return iframe_hosts(current_app.config.get("TRELLIS_FRAME_SOURCES"))


def sanitise_html(html: str, allowed_frames: frozenset[str] = frozenset()) -> str:
    """Built docs HTML -> HTML safe to put inside a portal page (nh3/ammonia, allow-lists only); iframes
    keep their `src` only for https URLs on `allowed_frames` hosts."""
    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if tag == "iframe" and attr == "src":
            parts = urlsplit(value)
            return value if parts.scheme == "https" and (parts.hostname or "").lower() in allowed_frames else None
        if attr == "id" and value.startswith("trellis-"):
            return None      # page ids belong to the portal
        return value

    tags = set(nh3.ALLOWED_TAGS) | _EXTRA_TAGS
    attributes = {"*": _GENERIC_ATTRS, **_TAG_ATTRS}
    return nh3.clean(html, tags=tags, attributes=attributes, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer", attribute_filter=attribute_filter,
                     clean_content_tags={"script", "style"}, strip_comments=True)


def when(ms: int | None) -> str:
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.record_once
def _docs_template_helpers(state) -> None:
    state.app.jinja_env.globals.update(docs_when=when)


def _load(namespace: str, kind: str, name: str, action: str = "read") -> tuple[str, dict]:
    """The entity (404 when missing, unreadable, or not documented), after the access check."""
    try:
        ref = str(entity_ref(kind, namespace, name))
    except RefError as exc:
        abort(404, description=str(exc))
    entity = get_entity(get_graph(), ref, access.visibility())
    if entity is None:
        abort(404, description=f"{ref} is not in the catalog.")
    access.require(action, entity=entity)
    if techdocs_ref_of(entity) is None:
        abort(404, description=f"{ref} has no documentation (no backstage.io/techdocs-ref annotation).")
    return ref, entity


def docs_url(ref: str, path: str = "") -> str:
    kind, namespace, name = split_ref(ref)
    return url_for("web.docs_page", namespace=namespace, kind=kind, name=name, path=path)


_RENDERED: OrderedDict[tuple, tuple[str, str]] = OrderedDict()   # (storage, key, version, path, frames) -> page
_RENDERED_MAX = 512
_RENDERED_LOCK = threading.Lock()


def _rendered(storage: Storage, key: str, manifest: dict, path: str, frames: frozenset[str]) -> tuple[str, str] | None:
    """(title, sanitised HTML) of one page; cached per published version (a new build is a new version)."""
    cache_key = (id(storage), key, manifest.get("version"), path, frames)
    with _RENDERED_LOCK:
        if cache_key in _RENDERED:
            _RENDERED.move_to_end(cache_key)
            return _RENDERED[cache_key]
    file = path + "index.html" if path == "" or path.endswith("/") else path
    data = storage.read(key, file)
    if data is None:
        return None
    page = extract(path, data.decode("utf-8", "replace"), manifest.get("site_name", ""))
    value = (page.title, sanitise_html(page.body, frames))
    with _RENDERED_LOCK:
        _RENDERED[cache_key] = value
        while len(_RENDERED) > _RENDERED_MAX:
            _RENDERED.popitem(last=False)
    return value


def _published_for(ref: str) -> bool:
    """Whether the site stored under `ref` was built for the entity the catalog holds now: a successful build
    record is attached to it. A site left from an earlier entity of the same ref (removed, then registered
    again by someone else, perhaps without its restriction) is not served until `trellis docs prune` or a
    new build replaces it."""
    return techdocs.latest_success(get_graph(), ref) is not None


def _page_context(ref: str, entity: dict, path: str) -> dict | None:
    """The sanitised page at `path` of the entity's published site, with the site's page list; None if absent."""
    if not _published_for(ref):
        return None
    storage = docs_storage()
    key = entity_key(ref)
    manifest = storage.manifest(key)
    if manifest is None:
        return None
    rendered = _rendered(storage, key, manifest, path, _iframe_hosts())
    if rendered is None:
        return None
    return {"manifest": manifest, "page_path": path, "page_title": rendered[0], "page_html": rendered[1],
            "pages": manifest.get("pages") or []}


def _entity_context(ref: str, entity: dict) -> dict:
    return {
        "entity": entity, "ref": ref, "owner": first_relation(entity, "ownedBy"),
        "system": first_relation(entity, "partOf", "system"), "techdocs_ref": techdocs_ref_of(entity),
        "build": techdocs.latest_build(get_graph(), ref), "docs_url": docs_url,
        "can_build": access.can("write", entity=entity),
    }


@bp.errorhandler(StorageError)
def _storage_down(exc: StorageError):
    """Docs storage misconfigured or unreachable (e.g. S3 down): a clear 502 page, never a traceback."""
    return render_template("error.html", status=502, code="docs_storage_unavailable",
                           message=f"The docs storage cannot be reached: {exc}"), 502


# ------------------------------------------------------------------ the entity page's Docs tab


def docs_tab_html(page: EntityPage) -> str:
    """The portal service `techdocs.tab` behind the TechDocs plugin's Docs tab (plugins/builtin/techdocs):
    the entity's built home page, its latest build and the Build button."""
    ctx = _entity_context(page.ref, page.entity)
    ctx["docs_page"] = _page_context(page.ref, page.entity, "")
    ctx["docs_build_result"] = page.args.get("build")
    return render_template("entity/docs.html", **ctx)


# ------------------------------------------------------------------ pages


@bp.get("/docs", endpoint="docs_index")
def docs_index():
    """Every documented entity the reader may see, with its latest build."""
    access.require("read")
    items = techdocs.documented_entities(get_graph(), access.visibility())
    return render_template("docs_index.html", items=items, docs_url=docs_url)


@bp.get("/docs/<namespace>/<kind>/<name>/", defaults={"path": ""}, endpoint="docs_page")
@bp.get("/docs/<namespace>/<kind>/<name>/<path:path>", endpoint="docs_page")
def docs_page(namespace: str, kind: str, name: str, path: str):
    ref, entity = _load(namespace, kind, name)
    if safe_path(path) is None:
        abort(404, description="There is no such page in these docs.")
    suffix = posixpath.splitext(path)[1].lower()
    if path and not path.endswith("/") and suffix != ".html":
        if suffix not in SAFE_TYPES:
            if docs_storage().read(entity_key(ref), path + "/index.html") is not None:
                return redirect(docs_url(ref, path + "/"))   # MkDocs' directory URLs end with a slash
            abort(404, description="There is no such file in these docs.")
        data = docs_storage().read(entity_key(ref), path) if _published_for(ref) else None
        if data is None:
            abort(404, description="There is no such file in these docs.")
        headers = dict(_ASSET_HEADERS)
        if suffix == ".pdf":
            headers["Content-Disposition"] = "attachment"
        return Response(data, mimetype=SAFE_TYPES[suffix], headers=headers)
    ctx = _entity_context(ref, entity)
    page = _page_context(ref, entity, path)
    if page is None:
        if path:
            abort(404, description="There is no such page in these docs.")
        return render_template("docs_page.html", **ctx, docs_page=None), 404
    return render_template("docs_page.html", **ctx, docs_page=page)


@bp.get("/docs-builds/<namespace>/<kind>/<name>", endpoint="docs_builds")
@bp.get("/docs-builds/<namespace>/<kind>/<name>/<build_id>", endpoint="docs_builds")
def docs_builds(namespace: str, kind: str, name: str, build_id: str | None = None):
    """The entity's build history, and one build's log."""
    ref, entity = _load(namespace, kind, name)
    builds = techdocs.list_builds(get_graph(), ref)
    chosen = None
    if build_id is not None:
        chosen = next((b for b in builds if b["id"] == build_id), None)
        if chosen is None:
            abort(404, description="There is no such build of these docs.")
    elif builds:
        chosen = builds[0]
    return render_template("docs_builds.html", **_entity_context(ref, entity), builds=builds, chosen=chosen)


@bp.post("/docs/<namespace>/<kind>/<name>/build", endpoint="docs_build")
def docs_build(namespace: str, kind: str, name: str):
    """The "Build docs" button: queue the build when a worker is configured, else build now."""
    ref, entity = _load(namespace, kind, name, action="write")
    force = request.form.get("force") == "1"
    if enqueue_build(ref, force=force):
        result = "queued"
    else:
        try:
            result = build_entity_docs(get_graph(), ref, docs_storage(), force=force, trigger="button",
                                       integrations=current_app.config["TRELLIS_INTEGRATIONS"],
                                       local_roots=location_roots()).status
        except techdocs.BuildInProgress:
            result = "running"
    return redirect(entity_url(ref, tab="docs", build=result), code=303)
