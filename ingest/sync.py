"""Ingest one location: get (read descriptors) -> transform -> load -> cleanup.

A location is what a user registers (a file, a directory, a git URL). It owns the entities read from it: a
re-run rewrites only what changed, removes what disappeared from it, and never touches what another
location owns (the first claimant of a ref keeps it; later ones are reported as conflicts).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import time
from functools import lru_cache
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from graph import sources, write
from ingest.after_ingest import after_ingest
from ingest.cache import FileEntry, IngestCache, ingest_lock
from ingest.descriptors import Limits, Rejection, read_catalog
from ingest.descriptors.model import Problem
from ingest.descriptors.reader import Reusable
from ingest.descriptors.validation import describe_value, entity_ref, key_problems, validate_entity
from ingest.git import checked_out, is_git_url
from ingest.kinds import OPERATOR, KindRules, registration_rules, source_rules
from ingest.transform import ROW_FORMAT, Transformed, transform
from plugins.api import redact

if TYPE_CHECKING:
    from graph.driver import Graph
    from ingest.integrations import Integrations

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
           progress: Progress | None = None, trigger: str = "manual", run_id: str | None = None,
           name: str | None = None, allowed_kinds: Iterable[str] | None = None,
           patterns: Sequence[str] | None = None, rules: KindRules | None = None,
           integrations: "Integrations | None" = None, allow_local: bool = True) -> IngestResult:
    """Ingest a descriptor file, a directory, or a git repository (local path or URL).

    `rules` (ingest.kinds) say which kinds this location may declare; documents of other kinds are rejected
    naming the rule. `allowed_kinds` is shorthand for the portal's catalog rules (registrations by people).
    Neither: the operator's ingest (CLI), any kind.

    Every real run (not dry runs) is recorded as an `:IngestRun`, failed ones too, and bumps the catalog
    version so cached read answers (facets, totals) expire. `name` is the configured source that triggered
    it (a scheduled `git` source); ownership stays with the location itself, so the CLI and a schedule
    ingesting the same location agree on who owns its entities. `patterns` (globs relative to a directory)
    replace the discovery of `catalog-info.yaml` files.

    A git URL is cloned (through the outbound policy: `integrations`, default TRELLIS_CONFIG's) before the
    catalog's ingest lock is taken, so a slow clone never stalls other runs; the repository's own lock is
    held until the run ends. `allow_local=False` refuses local bare repositories and `file://` URLs.
    """
    key = source_key(target)
    if rules is None:
        rules = registration_rules(allowed_kinds) if allowed_kinds is not None else OPERATOR
    result = IngestResult(source=key, target=target, run=run_id or new_run_id(), dry_run=dry_run)
    from ingest.url_locations import ingest_url, is_url_location

    if is_url_location(target, integrations):   # a file by URL (ingest.url_locations), not a clone
        return recorded_run(graph, result, trigger=trigger, name=name or key, progress=progress,
                            body=lambda step: ingest_url(graph, target, key, result, guard, step, rules,
                                                         integrations))
    where: dict[str, tuple[Path, Path]] = {}
    with contextlib.ExitStack() as held:
        def fetch() -> None:
            where["paths"] = _resolve(target, held, integrations=integrations, allow_local=allow_local)

        return recorded_run(graph, result, trigger=trigger, name=name or key, progress=progress, prepare=fetch,
                            body=lambda step: _ingest_files(graph, where["paths"], target, key, result, guard,
                                                            step, rules, patterns, integrations))


def ingest_entities(graph: "Graph | None", source: str, entities: Iterable[tuple], *, target: str,
                    trigger: str = "manual", run_id: str | None = None, guard: RemovalGuard | None = None,
                    progress: Progress | None = None, dry_run: bool = False,
                    unavailable: Iterable[str] = (), rules: KindRules | None = None) -> IngestResult:
    """Ingest descriptor dicts a provider produced, exactly as if they had been read from files.

    Each item is (origin, descriptor) or (origin, descriptor, KindRules): the origin is shown in errors and
    stored as the entity's `file` (e.g. "github:acme/payments/catalog-info.yaml"); the rules say which kinds
    that item may be (default `rules`, else the repository kinds of `source`: a provider must say so to
    declare Group, User or Template). `source` owns the result: what it stored before and no longer reports
    is removed (through the guard), except entities from `unavailable` origins, which the provider could
    not fetch this time (like an unreadable file, they remove nothing).
    """
    rules = rules or source_rules(source)
    result = IngestResult(source=source, target=target, run=run_id or new_run_id(), dry_run=dry_run)
    return recorded_run(graph, result, trigger=trigger, name=source, progress=progress,
                     body=lambda step: _ingest_dicts(graph, source, entities, result, guard, step,
                                                     set(unavailable), rules))


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class LiveProgress:
    """Reports progress to the caller and, at most every PERIOD seconds (and on each new stage), into the
    run's `:IngestRun`, so the portal can show it while the run is going on."""

    PERIOD = 0.5

    def __init__(self, graph: "Graph", run_id: str, forward: Progress | None) -> None:
        self.graph, self.run_id, self.forward = graph, run_id, forward
        self.stage: str | None = None
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.forward:
            self.forward(stage, done, total)
        now = time.monotonic()
        if stage == self.stage and now - self.last < self.PERIOD and done < total:
            return
        self.stage, self.last = stage, now
        try:
            sources.record_progress(self.graph, self.run_id, stage, done, total)
        except Exception:   # progress is a courtesy; the run itself must not fail because of it
            pass


def recorded_run(graph: "Graph | None", result: IngestResult, *, trigger: str, name: str,
                 progress: Progress | None, body: Callable[[Progress], object],
                 prepare: Callable[[], object] | None = None) -> IngestResult:
    """Run `body` as one recorded run: "running" with live progress, then ok/partial/failed with counts.

    Both the file path and the entity path go through here and through `_apply`: one compare, write,
    remove and record implementation. `prepare` (e.g. a git clone) runs first, outside the catalog's ingest
    lock; its failure is the run's failure.
    """
    if graph is None or result.dry_run:
        if prepare is not None:
            _step(progress, "fetching", 0, 0)
            prepare()
        body(lambda stage, done, total: _step(progress, stage, done, total))
        return result
    started_at = int(time.time() * 1000)
    extra = {"trigger": trigger, "name": name}
    write.record_run(graph, _run_record(result, started_at, "running", None, finished=False, **extra))
    # A job's context already writes this run's progress: reuse it rather than writing everything twice.
    live = progress if isinstance(progress, LiveProgress) and progress.run_id == result.run else \
        LiveProgress(graph, result.run, progress)
    try:
        if prepare is not None:
            live("fetching", 0, 0)
            prepare()
        # One writer per catalog database on this host: two runs comparing against the same stored state
        # would both CREATE the same new nodes and relationships.
        live("waiting", 0, 0)
        with ingest_lock(graph.settings.uri, graph.database):
            body(live)
    except Exception as exc:
        try:
            write.bump_catalog_version(graph)
            write.record_run(graph, _run_record(result, started_at, "failed", redact(str(exc)) or type(exc).__name__,
                                                stage=live.stage, **extra))
        except Exception:   # the database itself may be what failed; the original error matters more
            pass
        raise
    if result.added or result.updated or result.removed:   # unchanged: cached answers stay valid
        write.bump_catalog_version(graph)
    write.record_run(graph, _run_record(result, started_at, "ok" if result.ok else "partial", None, **extra))
    after_ingest(graph, result)   # plugins' hooks (search index, docs rebuilds); best effort, never fail a run
    return result


def _run_record(result: IngestResult, started_at: int, status: str, error: str | None, *, finished: bool = True,
                trigger: str = "manual", name: str | None = None, stage: str | None = None) -> dict:
    """The `:IngestRun` properties: flat counts, problem lists as JSON (Neo4j stores no nested maps)."""
    record = {
        "id": result.run, "source": result.source, "name": name or result.source, "target": result.target,
        "trigger": trigger, "status": status, "error": error, "started_at": started_at,
        "finished_at": int(time.time() * 1000) if finished else None,
        "added": result.added, "updated": result.updated, "unchanged": result.unchanged,
        "removed": result.removed, "files": result.files, "reused_files": result.reused_files,
        "rejected_count": len(result.rejected), "conflicts_count": len(result.conflicts),
        "rejected": redact(json.dumps(result.rejected)), "conflicts": redact(json.dumps(result.conflicts)),
        "seconds": round(result.seconds, 3),
    }
    if finished:
        record.update(progress_stage=stage if status == "failed" else "done", updated_at=record["finished_at"])
    return record


@dataclass
class _Batch:
    """What the get step of either path hands to `_apply`: accepted documents and what must not be removed.

    `documents` are (file, shown, index, entity, rules): `file` is stored on the entity, `shown` names it in
    errors, `rules` the kinds it may be (ingest.kinds).
    """

    documents: list[tuple[str, str, int | None, dict, KindRules]]
    shown: Callable[[str], str]
    kept: dict[str, str] = field(default_factory=dict)       # ref -> shown file, reused without reading
    protected: set[str] = field(default_factory=set)         # refs rejected this time: keep the stored one
    failed: set[str] = field(default_factory=set)            # shown files/origins that could not be read
    truncated: bool = False                                  # not everything was seen: remove nothing
    # A document of a kind its rules refuse: keep what is stored under that ref (a location shared by the CLI
    # and people's refreshes must not lose the operator's groups), or remove it (a provider's own source: an
    # entity it may not declare, e.g. a Group a repository added before kind rules, must go).
    keep_refused: bool = True


def _ingest_files(graph: "Graph | None", paths: tuple[Path, Path], target: str, key: str, result: IngestResult,
                  guard: RemovalGuard | None, progress: Progress, rules: KindRules = OPERATOR,
                  patterns: Sequence[str] | None = None, integrations: "Integrations | None" = None) -> IngestResult:
    """Get for a location: read its descriptor files (skipping unchanged ones), then `_apply`.

    `paths`: the local path to read and the root nothing may escape (`_resolve`)."""
    started = time.perf_counter()
    progress("reading", 0, 0)
    path, root = paths
    mine = write.stored_by_source(graph, key) if graph is not None else {}
    # One cache per location and rules: a file cached from a run under other rules must not slip by.
    cache = IngestCache.for_location(key if rules is OPERATOR else f"{key}\n{rules.fingerprint()}",
                                     graph.settings.uri if graph is not None else "")
    outbound = integrations or _default_integrations()   # URL targets and placeholders (ingest.url_locations)
    try:
        read = read_catalog(path, root=root, reusable=_reusable(cache, mine), patterns=patterns,
                            integrations=outbound)
    except ValueError as exc:   # a glob reaching outside the location
        raise IngestError(str(exc)) from None
    result.files = len(read.files)
    result.reused_files = len(read.reused)
    if not read.files:
        wanted = " or ".join(patterns) if patterns else "catalog-info.yaml (or .yml)"
        raise IngestError(f"no {wanted} descriptor files found under {target}")
    result.rejected.extend(r.as_dict() for r in read.rejections)
    batch = _Batch(
        documents=[(str(d.file), _shown(d.file, root), d.index, d.entity, rules) for d in read.documents],
        shown=lambda file: _shown(Path(file or ""), root),
        # Entities of files skipped as unchanged: still declared, still stored, nothing to do.
        kept={ref: _shown(f, root) for f in read.reused for ref in cache.files[str(f)].entities},
        protected={r.ref for r in read.rejections if r.ref},
        failed={r.file for r in read.rejections if r.ref is None},
        truncated=read.truncated,   # files past the read limit were not seen: their entities must not look gone
    )
    if read.url_targets:   # Location targets that are URLs: read through the integrations (ingest.url_locations)
        from ingest.url_locations import add_url_targets

        add_url_targets(batch, read.url_targets, result, rules, outbound)
    accepted = _apply(graph, key, target, result, batch, mine, guard, progress)
    if graph is not None and not result.dry_run:
        _remember(cache, read, accepted, root, result)
    result.seconds = time.perf_counter() - started
    return result


def _ingest_dicts(graph: "Graph | None", source: str, entities: Iterable[tuple[str, dict]], result: IngestResult,
                  guard: RemovalGuard | None, progress: Progress, unavailable: set[str],
                  rules: KindRules) -> IngestResult:
    """Get for a provider: validate its descriptor dicts exactly like documents of a file, then `_apply`.

    Like unchanged files, an item identical to one accepted last time (same origin, position and content)
    whose entity the graph still holds with the same hash is not validated and transformed again.
    """
    started = time.perf_counter()
    progress("validating", 0, 0)
    batch = _Batch(documents=[], shown=lambda origin: origin or "", failed=set(unavailable), keep_refused=False)
    mine = write.stored_by_source(graph, source) if graph is not None else {}
    cache = IngestCache.for_location("entities:" + source, graph.settings.uri if graph is not None else "")
    reusable = {key: entry for key, entry in cache.files.items() if entry.entities and all(
        (s := mine.get(ref)) is not None and s.hash == digest for ref, digest in entry.entities.items())}
    seen: dict[str, FileEntry] = {}       # item key -> what it produced (reused or accepted now)
    digests: dict[str, str] = {}
    item_refs: dict[str, tuple[str, str]] = {}
    origins: dict[str, int] = {}
    for item in entities:
        origin, entity, item_rules = (*item, rules) if len(item) == 2 else item
        origin = str(origin)
        index = origins[origin] = origins.get(origin, 0) + 1
        key = f"{origin}\n{index}"
        digest = _item_digest(entity, item_rules)
        entry = reusable.get(key)
        if entry is not None and digest is not None and entry.digest == digest:
            for ref in entry.entities:
                batch.kept.setdefault(ref, origin)
            seen[key] = entry
            continue
        entity, problems = validate_descriptor(entity)
        ref = entity_ref(entity)
        if problems:
            if ref:
                batch.protected.add(ref)
            else:
                batch.failed.add(origin)
            result.rejected.extend(Rejection(origin, index, ref, p.field, p.reason).as_dict() for p in problems)
            continue
        if digest is not None and ref:
            digests[key] = digest
            item_refs[key] = (origin, ref)
        batch.documents.append((origin, origin, index, entity, item_rules))
    result.files = len(origins)
    result.reused_files = len(seen)
    batch.documents.sort(key=lambda d: (d[1], d[2] or 0))   # by origin and position, not listing order
    accepted = _apply(graph, source, result.target, result, batch, mine, guard, progress)
    if graph is not None and not result.dry_run:
        # Remember items of cleanly ingested origins only: anything with a problem is validated again.
        troubled = {r["file"] for r in result.rejected} | {c["file"] for c in result.conflicts}
        for key, (origin, ref) in item_refs.items():
            item = accepted.get(ref)
            if origin not in troubled and item is not None and item.row.file == origin:
                seen[key] = FileEntry(digest=digests[key], entities={ref: item.row.hash})
        cache.files = seen
        cache.save()
    result.seconds = time.perf_counter() - started
    return result


def _item_digest(entity: object, rules: KindRules) -> str | None:
    """Content digest of a provider item and the rules it was accepted under (None when it cannot be
    serialised: then it is always validated)."""
    try:
        text = json.dumps(entity, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.sha256((ROW_FORMAT + rules.fingerprint() + text).encode()).hexdigest()[:32]


def validate_descriptor(entity: object, *, max_errors: int = Limits().max_errors_per_document) -> tuple[dict, list]:
    """One descriptor dict checked like a document of a file (envelope + kind schema), on a private copy."""
    if not isinstance(entity, dict):
        return {}, [Problem(None, f"the entity is {describe_value(entity)}, not a mapping with apiVersion, kind "
                                  f"and metadata")]
    problems = key_problems(entity)
    if problems:
        return entity, problems[:max_errors]
    return validate_entity(copy.deepcopy(entity), max_errors=max_errors)


def _apply(graph: "Graph | None", key: str, target: str, result: IngestResult, batch: _Batch,
           mine: dict[str, write.StoredEntity], guard: RemovalGuard | None,
           progress: Progress) -> dict[str, Transformed]:
    """Transform, compare by hash, write, place holders, remove what `key` no longer declares, record it."""
    guard = guard or RemovalGuard()
    progress("transforming", 0, len(batch.documents))
    accepted: dict[str, Transformed] = {}
    protected = set(batch.protected)
    kept = batch.kept
    # Who wins a ref declared twice in this run: the most trusted rules first, then the batch's own order
    # (files: the reader's sorted discovery; providers: sorted by origin), never a provider's listing order.
    for file, shown, index, entity, rules in sorted(batch.documents, key=lambda d: -d[4].trust):
        item = transform(entity, file=file, origin=key)
        ref = item.row.ref
        refused = rules.reason(item.row.kind)
        if refused:
            item.problems.append(("kind", refused))
        if item.problems:
            if batch.keep_refused or not refused:
                protected.add(ref)
            result.rejected.extend(
                Rejection(shown, index, ref, f, reason).as_dict() for f, reason in item.problems
            )
            continue
        if ref in accepted or ref in kept:
            first = batch.shown(accepted[ref].row.file) if ref in accepted else kept[ref]
            result.conflicts.append({
                "ref": ref, "file": shown, "document": index,
                "reason": f"{ref} is already declared in {first} of this location",
            })
            continue
        accepted[ref] = item

    if graph is None:   # validation only, no database
        result.added = len(accepted)
        return accepted

    progress("comparing", 0, len(accepted))
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
                "ref": ref, "file": batch.shown(item.row.file), "document": None,
                "reason": f"{ref} is already owned by location {owner.source}; the first location keeps it",
            })
            continue
        added.append(item)

    if batch.truncated:
        protected.update(mine)
    removed = [
        ref for ref, stored in mine.items()
        if ref not in accepted and ref not in kept and ref not in protected
        and batch.shown(stored.file or "") not in batch.failed
    ]
    guard.check(len(removed), len(mine))
    result.added, result.updated, result.removed = len(added), len(updated), len(removed)
    if result.dry_run:
        return accepted

    changed = added + updated
    fresh = {t.row.ref for t in added if t.row.ref not in others}   # no node at all yet
    progress("writing entities", 0, len(changed))
    write.upsert_entities(
        graph, [t.row for t in changed], source=key, run=result.run, fresh=fresh,
        replace_relations=[t.row.ref for t in updated],
    )
    relations = [(rel, t.row.ref) for t in changed for rel in t.relations]
    endpoints = {r.source for r, _ in relations} | {r.target for r, _ in relations}
    progress("writing relations", 0, len(relations))
    fresh.update(write.ensure_placeholders(graph, endpoints - accepted.keys()))
    write.create_relations(graph, relations, source=key, run=result.run, fresh=fresh)
    # Last, once everything else is written: a run that fails earlier has deleted nothing.
    progress("removing", 0, len(removed))
    write.remove_entities(graph, removed)
    progress("removing", len(removed), len(removed))
    summary = {k: v for k, v in result.as_json().items() if isinstance(v, int) and not isinstance(v, bool)}
    summary["rejected"] = len(result.rejected)
    summary["conflicts"] = len(result.conflicts)
    write.record_source(graph, key, target=target, run=result.run, summary=summary)
    return accepted


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


def _resolve(target: str, held: contextlib.ExitStack, *, integrations: "Integrations | None" = None,
             allow_local: bool = True) -> tuple[Path, Path]:
    """The local path to read and the root nothing may escape (a git URL is cloned; its lock stays `held`)."""
    if is_git_url(target):
        repo = held.enter_context(checked_out(target, integrations=integrations, allow_local=allow_local))
        return repo.resolve(), repo.resolve()
    path = Path(target).resolve()
    if not path.exists():
        raise IngestError(f"{target} does not exist")
    return path, (path if path.is_dir() else path.parent)


def _default_integrations() -> "Integrations | None":
    """TRELLIS_CONFIG's integrations for URLs inside a path location; None (URLs refused as before) when
    the config cannot be read, so a local ingest never fails for it."""
    from ingest.integrations import load_integrations

    try:
        return load_integrations()
    except Exception:
        return None


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
