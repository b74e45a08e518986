"""Ingest one location: get (read descriptors) -> transform -> load -> cleanup.

A location is what a user registers (a file, a directory, a git URL). It owns the entities read from it: a
re-run rewrites only what changed, removes what disappeared from it, and never touches what another
location owns (the first claimant of a ref keeps it; later ones are reported as conflicts).
"""
from __future__ import annotations

import json
import time
from functools import lru_cache
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from graph import write
from ingest.cache import FileEntry, IngestCache, ingest_lock
from ingest.descriptors import Rejection, read_catalog
from ingest.descriptors.reader import Reusable
from ingest.git import checkout, is_git_url
from ingest.transform import Transformed, transform

if TYPE_CHECKING:
    from graph.driver import Graph

Progress = Callable[[str, int, int], None]


class IngestError(RuntimeError):
    """The location cannot be ingested at all (nothing was changed)."""


@dataclass
class IngestResult:
    source: str
    target: str
    run: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    files: int = 0
    reused_files: int = 0     # files skipped because they and what they produced are unchanged
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.conflicts

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class RemovalGuard:
    """Refuse to delete more than `max_share` of a location's entities in one run unless forced."""

    max_share: float = 0.5
    min_count: int = 10
    force: bool = False

    def check(self, removing: int, owned: int) -> None:
        if self.force or removing < self.min_count or owned == 0:
            return
        if removing / owned > self.max_share:
            raise IngestError(
                f"refusing to remove {removing} of {owned} entities ({removing / owned:.0%}) from this location "
                f"in one run (limit {self.max_share:.0%}); re-run with --force if that is intended"
            )


def source_key(target: str) -> str:
    """The stable key of a location: `url:<git url>` or `file:<absolute path>`."""
    if is_git_url(target):
        return f"url:{target}"
    return f"file:{Path(target).resolve()}"


def ingest(graph: "Graph | None", target: str, *, dry_run: bool = False, guard: RemovalGuard | None = None,
           progress: Progress | None = None) -> IngestResult:
    """Ingest a descriptor file, a directory, or a git repository (local path or URL).

    Every real run (not dry runs) is recorded as an `:IngestRun`, failed ones too, and bumps the catalog
    version so cached read answers (facets, totals) expire.
    """
    key = source_key(target)
    result = IngestResult(source=key, target=target, run=uuid.uuid4().hex[:12], dry_run=dry_run)
    if graph is None or dry_run:
        return _ingest(graph, target, key, result, guard, progress)
    started_at = int(time.time() * 1000)
    try:
        # One writer per catalog database on this host: two runs comparing against the same stored state
        # would both CREATE the same new nodes and relationships (and share one git clone directory).
        with ingest_lock(graph.settings.uri, graph.database):
            _ingest(graph, target, key, result, guard, progress)
    except Exception as exc:
        try:
            write.bump_catalog_version(graph)
            write.record_run(graph, _run_record(result, started_at, "failed", str(exc)))
        except Exception:   # the database itself may be what failed; the original error matters more
            pass
        raise
    if result.added or result.updated or result.removed:   # unchanged: cached answers stay valid
        write.bump_catalog_version(graph)
    write.record_run(graph, _run_record(result, started_at, "ok" if result.ok else "partial", None))
    return result


def _run_record(result: IngestResult, started_at: int, status: str, error: str | None) -> dict:
    """The `:IngestRun` properties: flat counts, problem lists as JSON (Neo4j stores no nested maps)."""
    return {
        "id": result.run, "source": result.source, "target": result.target, "status": status,
        "error": error, "started_at": started_at, "finished_at": int(time.time() * 1000),
        "added": result.added, "updated": result.updated, "unchanged": result.unchanged,
        "removed": result.removed, "files": result.files, "reused_files": result.reused_files,
        "rejected_count": len(result.rejected), "conflicts_count": len(result.conflicts),
        "rejected": json.dumps(result.rejected), "conflicts": json.dumps(result.conflicts),
        "seconds": round(result.seconds, 3),
    }


def _ingest(graph: "Graph | None", target: str, key: str, result: IngestResult, guard: RemovalGuard | None,
            progress: Progress | None) -> IngestResult:
    started = time.perf_counter()
    guard = guard or RemovalGuard()
    _step(progress, "reading", 0, 0)
    path, root = _resolve(target)
    mine = write.stored_by_source(graph, key) if graph is not None else {}
    cache = IngestCache.for_location(key, graph.settings.uri if graph is not None else "")
    read = read_catalog(path, root=root, reusable=_reusable(cache, mine))
    result.files = len(read.files)
    result.reused_files = len(read.reused)
    if not read.files:
        raise IngestError(f"no catalog-info.yaml (or .yml) descriptor files found under {target}")
    result.rejected.extend(r.as_dict() for r in read.rejections)

    _step(progress, "transforming", 0, len(read.documents))
    # Entities of files skipped as unchanged: still declared, still stored, nothing to do.
    kept = {ref: str(f) for f in read.reused for ref in cache.files[str(f)].entities}
    accepted: dict[str, Transformed] = {}
    protected: set[str] = {r.ref for r in read.rejections if r.ref}
    failed_files = {r.file for r in read.rejections if r.ref is None}
    for doc in read.documents:
        shown = _shown(doc.file, root)
        item = transform(doc.entity, file=str(doc.file), origin=key)
        ref = item.row.ref
        if item.problems:
            protected.add(ref)
            result.rejected.extend(
                Rejection(shown, doc.index, ref, f, reason).as_dict() for f, reason in item.problems
            )
            continue
        if ref in accepted or ref in kept:
            first = accepted[ref].row.file if ref in accepted else kept[ref]
            result.conflicts.append({
                "ref": ref, "file": shown, "document": doc.index,
                "reason": f"{ref} is already declared in {_shown(Path(first), root)} of this location",
            })
            continue
        accepted[ref] = item

    if graph is None:   # validation only, no database
        result.added = len(accepted)
        result.seconds = time.perf_counter() - started
        return result

    _step(progress, "comparing", 0, len(accepted))
    result.unchanged = len(kept)
    others = write.stored_by_ref(graph, [ref for ref in accepted if ref not in mine])
    added: list[Transformed] = []
    updated: list[Transformed] = []
    for ref, item in list(accepted.items()):
        if ref in mine:
            if mine[ref].hash == item.row.hash:
                result.unchanged += 1
            else:
                updated.append(item)
            continue
        owner = others.get(ref)
        if owner is not None and owner.source is not None:
            del accepted[ref]
            result.conflicts.append({
                "ref": ref, "file": _shown(Path(item.row.file), root), "document": None,
                "reason": f"{ref} is already owned by location {owner.source}; the first location keeps it",
            })
            continue
        added.append(item)

    if read.truncated:   # files past the read limit were not seen: their entities must not look gone
        protected.update(mine)
    removed = [
        ref for ref, stored in mine.items()
        if ref not in accepted and ref not in kept and ref not in protected and _shown(Path(stored.file or ""), root) not in failed_files
    ]
    guard.check(len(removed), len(mine))
    result.added, result.updated, result.removed = len(added), len(updated), len(removed)
    if result.dry_run:
        result.seconds = time.perf_counter() - started
        return result

    changed = added + updated
    fresh = {t.row.ref for t in added if t.row.ref not in others}   # no node at all yet
    _step(progress, "writing entities", 0, len(changed))
    write.upsert_entities(
        graph, [t.row for t in changed], source=key, run=result.run, fresh=fresh,
        replace_relations=[t.row.ref for t in updated],
    )
    relations = [(rel, t.row.ref) for t in changed for rel in t.relations]
    endpoints = {r.source for r, _ in relations} | {r.target for r, _ in relations}
    _step(progress, "writing relations", 0, len(relations))
    fresh.update(write.ensure_placeholders(graph, endpoints - accepted.keys()))
    write.create_relations(graph, relations, source=key, run=result.run, fresh=fresh)
    # Last, once everything else is written: a run that fails earlier has deleted nothing.
    _step(progress, "removing", 0, len(removed))
    write.remove_entities(graph, removed)
    summary = {k: v for k, v in result.as_json().items() if isinstance(v, int) and not isinstance(v, bool)}
    summary["rejected"] = len(result.rejected)
    summary["conflicts"] = len(result.conflicts)
    write.record_source(graph, key, target=target, run=result.run, summary=summary)
    _remember(cache, read, accepted, root, result)
    result.seconds = time.perf_counter() - started
    return result


def _reusable(cache: IngestCache, stored: dict[str, write.StoredEntity]) -> dict[Path, Reusable]:
    """Files whose every entity is still stored exactly as that file produced it."""
    out: dict[Path, Reusable] = {}
    for file, entry in cache.files.items():
        if entry.entities and all(
            (s := stored.get(ref)) is not None and s.hash == digest for ref, digest in entry.entities.items()
        ):
            out[Path(file)] = (entry.digest, entry.locations)
    return out


def _remember(cache: IngestCache, read, accepted: dict[str, Transformed], root: Path,
              result: IngestResult) -> None:
    """Record what each cleanly read file produced; files with any problem are always read again."""
    troubled = {r["file"] for r in result.rejected} | {c["file"] for c in result.conflicts}
    by_file: dict[str, FileEntry] = {}
    for item in accepted.values():
        entry = by_file.setdefault(item.row.file, FileEntry(digest=""))
        entry.entities[item.row.ref] = item.row.hash
    for doc in read.documents:
        if doc.entity.get("kind") == "Location" and str(doc.file) in by_file:
            by_file[str(doc.file)].locations.append(doc.entity)
    files: dict[str, FileEntry] = {}
    for path in read.files:
        name = str(path)
        if path in read.reused:
            files[name] = cache.files[name]
        elif name in by_file and path not in read.substituting and _shown(path, root) not in troubled:
            by_file[name].digest = read.digests[path]
            files[name] = by_file[name]
    cache.files = files
    cache.save()


def _resolve(target: str) -> tuple[Path, Path]:
    """The local path to read and the root nothing may escape."""
    if is_git_url(target):
        repo = checkout(target).resolve()
        return repo, repo
    path = Path(target).resolve()
    if not path.exists():
        raise IngestError(f"{target} does not exist")
    return path, (path if path.is_dir() else path.parent)


@lru_cache(maxsize=65536)
def _shown(file: Path, root: Path) -> str:
    """A file as the user knows it: relative to the ingested root (resolving is a syscall: cached)."""
    try:
        return str(Path(file).resolve().relative_to(root))
    except ValueError:
        return str(file)


def _step(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress:
        progress(stage, done, total)
