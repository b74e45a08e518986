"""One entity's docs: get (source, hash) -> transform (safe config, MkDocs, pages) -> load (storage, graph,
search) -> cleanup (temp folders, old versions and records).

Why the hash first: most triggers (an ingest run, a schedule) find the docs unchanged; comparing the content
hash with the last successful build skips MkDocs entirely, and `force` rebuilds anyway.
"""
from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import yaml

from docs_builder import config as mkconfig
from docs_builder.errors import DocsBuildError
from docs_builder.pages import Page, extract, page_path
from docs_builder.runner import RunLimits, run_mkdocs
from docs_builder.source import resolve, techdocs_ref_of
from docs_builder.storage import Storage, entity_key
from docs_builder.tree import TreeLimits, collect, config_hash, stage
from graph import techdocs
from graph.entities import get_entity
from graph.search import index_doc_pages, remove_doc_pages
from graph.visibility import EVERYTHING

if TYPE_CHECKING:
    from graph.driver import Graph
    from ingest.integrations import Integrations


@dataclass(frozen=True)
class Limits:
    run: RunLimits = field(default_factory=RunLimits)
    tree: TreeLimits = field(default_factory=TreeLimits)


@dataclass
class BuildOutcome:
    ref: str
    status: str                 # "succeeded", "failed" or "unchanged" (no build needed)
    build_id: str | None = None
    hash: str | None = None
    error: str | None = None
    pages: int = 0
    seconds: float = 0.0
    indexed: bool = False       # pages handed to search

    def as_json(self) -> dict:
        return asdict(self)


def _now() -> int:
    return int(time.time() * 1000)


def _read_config(folder: Path) -> tuple[Path, bytes]:
    for name in ("mkdocs.yml", "mkdocs.yaml"):
        path = folder / name
        if path.is_file() and not path.is_symlink():
            return path, path.read_bytes()
    raise DocsBuildError(f"no mkdocs.yml in the docs folder {folder}")


def _ordered(pages: list[Page], nav_pages: list[str]) -> list[Page]:
    """Pages in the order of mkdocs.yml's nav, then the home page, then the rest by path."""
    rank = {mkconfig.page_url(p): i for i, p in enumerate(nav_pages)}
    return sorted(pages, key=lambda p: (rank.get(p.path, len(rank)), p.path != "", p.path))


def extract_pages(site: Path, site_name: str) -> list[Page]:
    out = []
    for html_file in sorted(site.rglob("*.html")):
        path = page_path(html_file.relative_to(site).as_posix())
        if path is None:
            continue
        out.append(extract(path, html_file.read_text("utf-8", "replace"), site_name))
    return out


def search_path(path: str) -> str:
    """The page path given to search: the home page is `index.html` (search needs a non-empty path, and
    /docs/<ns>/<kind>/<name>/index.html serves the home page)."""
    return path or "index.html"


def index_for_search(graph: "Graph", ref: str, pages: list[Page]) -> bool:
    """Hand the pages to search (graph.search.index_doc_pages)."""
    index_doc_pages(graph, ref, [{"path": search_path(p.path), "title": p.title, "text": p.text} for p in pages])
    return True


def _build_site(tree, safe: mkconfig.SafeConfig, work: Path, limits: Limits) -> tuple[Path, str]:
    staged = work / "src"
    stage(tree, staged / "docs")
    cfg = dict(safe.config, docs_dir="docs")
    config_file = staged / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    site = work / "site"
    log = run_mkdocs(config_file, site, work, limits.run)
    return site, log


def build_entity_docs(graph: "Graph", ref: str, storage: Storage, *, force: bool = False, trigger: str = "manual",
                      limits: Limits = Limits(), integrations: "Integrations | None" = None,
                      local_roots: Sequence[Path] = ()) -> BuildOutcome:
    """Build and publish one entity's docs when they changed (or `force`); the outcome is also recorded.

    Unchanged input is not built again: after a success the outcome is "unchanged", after a failure it is
    that failure again (same record, no new attempt) until the input changes or `force` is given.

    LookupError: the entity is not in the catalog or has no techdocs-ref (nothing to record).
    graph.techdocs.BuildInProgress: a build of this entity is running. Everything about the user's
    repository (missing folder, refused mkdocs.yml, MkDocs error, limits) is a failed build record.
    `integrations`: the hosts a `url:` ref may be cloned from (default: TRELLIS_CONFIG's); `local_roots`: the
    folders a `url:` ref to a repository on this server may lie in (default none).
    """
    started = time.monotonic()
    entity = get_entity(graph, ref)
    if entity is None:
        raise LookupError(f"{ref} is not in the catalog")
    techdocs_ref = techdocs_ref_of(entity)
    if techdocs_ref is None:
        raise LookupError(f"{ref} has no backstage.io/techdocs-ref annotation")
    key = entity_key(ref)
    stale_ms = int(limits.run.timeout * 1000) * 3 + 600_000
    notes: list[str] = []

    def fail(build_id: str | None, error: DocsBuildError, hash: str | None) -> BuildOutcome:
        if build_id is None:
            build_id = uuid.uuid4().hex
            techdocs.start_build(graph, build_id=build_id, ref=ref, techdocs_ref=techdocs_ref, hash=hash,
                                 trigger=trigger, now=_now(), stale_after_ms=stale_ms)
        log = "\n".join(notes + ([error.log] if error.log else []))
        techdocs.finish_build(graph, build_id, status="failed", now=_now(), error=error.message, log=log)
        return BuildOutcome(ref, "failed", build_id, hash, error.message, seconds=time.monotonic() - started)

    def failed_before(hash: str | None) -> BuildOutcome | None:
        """The last build failed on exactly this input: report it again instead of repeating it."""
        last = techdocs.latest_build(graph, ref)
        if force or hash is None or not last or last["status"] != "failed" or last["hash"] != hash:
            return None
        return BuildOutcome(ref, "failed", last["id"], hash, last["error"], seconds=time.monotonic() - started)

    # get
    config_bytes = b""
    try:
        source = resolve(entity, integrations=integrations, local_roots=local_roots)
        config_file, config_bytes = _read_config(source.folder)
        safe = mkconfig.sanitise(config_bytes, default_name=(entity.get("metadata") or {}).get("title")
                                 or (entity.get("metadata") or {}).get("name") or "Documentation")
        notes.extend(safe.warnings)
        tree = collect(source.root, source.folder, safe.docs_dir, config_bytes, limits.tree)
    except DocsBuildError as exc:
        # A refused or broken mkdocs.yml fails the same way until the file changes: key it by the file.
        hash = config_hash(config_bytes) if config_bytes else None
        return failed_before(hash) or fail(None, exc, hash)
    if tree.skipped:
        notes.append(f"not copied (links outside the repository): {', '.join(tree.skipped[:20])}")
    again = failed_before(tree.hash)
    if again is not None:
        return again
    if not force:
        last = techdocs.latest_success(graph, ref)
        current = storage.manifest(key)
        if last and last["hash"] == tree.hash and current and current.get("hash") == tree.hash:
            return BuildOutcome(ref, "unchanged", last["id"], tree.hash, seconds=time.monotonic() - started)

    build_id = uuid.uuid4().hex
    techdocs.start_build(graph, build_id=build_id, ref=ref, techdocs_ref=techdocs_ref, hash=tree.hash,
                         trigger=trigger, now=_now(), stale_after_ms=stale_ms)
    work = Path(tempfile.mkdtemp(prefix="trellis-docs-"))
    try:
        # transform
        phase = time.monotonic()
        try:
            site, log = _build_site(tree, safe, work, limits)
        except DocsBuildError as exc:
            return fail(build_id, exc, tree.hash)
        timings = {"mkdocs": time.monotonic() - phase}
        phase = time.monotonic()
        pages = _ordered(extract_pages(site, safe.config["site_name"]), safe.nav_pages)
        timings["pages"] = time.monotonic() - phase
        # load
        manifest = {"hash": tree.hash, "build_id": build_id, "built_at": _now(), "ref": ref,
                    "site_name": safe.config["site_name"],
                    "pages": [{"path": p.path, "title": p.title} for p in pages]}
        phase = time.monotonic()
        storage.publish(key, site, manifest)
        timings["publish"] = time.monotonic() - phase
        phase = time.monotonic()
        try:
            indexed = index_for_search(graph, ref, pages)
        except (ValueError, LookupError) as exc:   # the site is published; say why search lags behind
            indexed = False
            notes.append(f"search indexing failed: {exc}")
        timings["search"] = time.monotonic() - phase
        notes.append("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
        techdocs.finish_build(graph, build_id, status="succeeded", now=_now(), log="\n".join(notes + [log]).strip(),
                              pages=len(pages))
        return BuildOutcome(ref, "succeeded", build_id, tree.hash, pages=len(pages), indexed=indexed,
                            seconds=time.monotonic() - started)
    except Exception as exc:   # storage or search down: the record must not stay "running"
        techdocs.finish_build(graph, build_id, status="failed", now=_now(),
                              error=f"{type(exc).__name__}: {exc}", log="\n".join(notes))
        raise
    finally:
        # cleanup
        shutil.rmtree(work, ignore_errors=True)


def rebuild_changed(graph: "Graph", storage: Storage, refs: Iterable[str] | None = None, *,
                    trigger: str = "ingest", limits: Limits = Limits()) -> list[BuildOutcome]:
    """The ingest-time trigger: rebuild the docs of `refs` (default: every documented entity) whose content
    hash changed since their last successful build. Entities being built already are skipped."""
    wanted = None if refs is None else set(refs)
    outcomes = []
    for item in techdocs.documented_entities(graph, EVERYTHING):
        if wanted is not None and item["ref"] not in wanted:
            continue
        try:
            outcomes.append(build_entity_docs(graph, item["ref"], storage, trigger=trigger, limits=limits))
        except (techdocs.BuildInProgress, LookupError):
            continue
    return outcomes


def prune_docs(graph: "Graph", storage: Storage) -> list[str]:
    """Cleanup: remove the published sites, search pages and build records of entities that were removed
    or lost their techdocs-ref annotation. Returns the refs pruned."""
    pruned = []
    for ref in techdocs.stale_docs(graph):
        try:
            storage.delete(entity_key(ref))
        except ValueError:
            pass     # not an entity ref we could have published under
        remove_doc_pages(graph, ref)
        techdocs.delete_builds(graph, ref)
        pruned.append(ref)
    return pruned
