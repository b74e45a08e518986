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
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from graph import write
from ingest.cache import FileEntry, IngestCache
from ingest.descriptors import Limits, Rejection, read_catalog
from ingest.descriptors.model import Problem
from ingest.descriptors.reader import Reusable
from ingest.descriptors.validation import describe_value, entity_ref, key_problems, validate_entity
from ingest.execute import execute, held_elsewhere, stored_by
from ingest.git import checked_out, is_git_url
from ingest.integrations import load_integrations
from ingest.integrations.readers import ReadFailed
from ingest.kinds import OPERATOR, KindRules, registration_rules, source_rules
from ingest.plan import Batch, Candidate, Plan, RemovalGuard, declare, plan
from ingest.transform import ROW_FORMAT, Transformed
from ingest.url_locations import add_url_targets, is_url_location, read_url_location
from ingest.runs import new_run_id, recorded_run
from plugins.api import IngestError, IngestResult

if TYPE_CHECKING:
    from graph.driver import Graph
    from ingest.integrations import Integrations

Progress = Callable[[str, int, int], None]


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
    if is_url_location(target, integrations):   # a file by URL (ingest.url_locations), not a clone
        return recorded_run(graph, result, trigger=trigger, name=name or key, progress=progress,
                            body=lambda step: _ingest_url(graph, target, key, result, guard, step, rules,
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


def _ingest_url(graph: "Graph | None", target: str, key: str, result: IngestResult, guard: RemovalGuard | None,
                progress: Progress, rules: KindRules, integrations: "Integrations | None") -> IngestResult:
    """Get for a URL location (ingest.url_locations reads it), then `_plan_and_write`."""
    started = time.perf_counter()
    progress("reading", 0, 0)
    stored = stored_by(graph, key) if graph is not None else {}
    try:
        batch = read_url_location(target, result, rules, integrations)
    except ReadFailed as exc:   # the registered URL itself: nothing to ingest
        raise IngestError(str(exc)) from None
    _plan_and_write(graph, key, target, result, batch, stored, guard, progress)
    result.seconds = time.perf_counter() - started
    return result


def _ingest_files(graph: "Graph | None", paths: tuple[Path, Path], target: str, key: str, result: IngestResult,
                  guard: RemovalGuard | None, progress: Progress, rules: KindRules = OPERATOR,
                  patterns: Sequence[str] | None = None, integrations: "Integrations | None" = None) -> IngestResult:
    """Get for a location: read its descriptor files (skipping unchanged ones), then `_plan_and_write`.

    `paths`: the local path to read and the root nothing may escape (`_resolve`)."""
    started = time.perf_counter()
    progress("reading", 0, 0)
    path, root = paths
    stored = stored_by(graph, key) if graph is not None else {}
    # One cache per location and rules: a file cached from a run under other rules must not slip by.
    cache = IngestCache.for_location(key if rules is OPERATOR else f"{key}\n{rules.fingerprint()}",
                                     graph.settings.uri if graph is not None else "")
    outbound = integrations or _default_integrations()   # URL targets and placeholders (ingest.url_locations)
    try:
        read = read_catalog(path, root=root, reusable=_reusable(cache, stored), patterns=patterns,
                            integrations=outbound)
    except ValueError as exc:   # a glob reaching outside the location
        raise IngestError(str(exc)) from None
    result.files = len(read.files)
    result.reused_files = len(read.reused)
    if not read.files:
        wanted = " or ".join(patterns) if patterns else "catalog-info.yaml (or .yml)"
        raise IngestError(f"no {wanted} descriptor files found under {target}")
    result.rejected.extend(r.as_dict() for r in read.rejections)
    batch = Batch(
        candidates=[Candidate(str(d.file), _shown(d.file, root), d.index, d.entity, rules) for d in read.documents],
        shown=lambda file: _shown(Path(file or ""), root),
        # Entities of files skipped as unchanged: still declared, still stored, nothing to do.
        kept={ref: _shown(f, root) for f in read.reused for ref in cache.files[str(f)].entities},
        protected={r.ref for r in read.rejections if r.ref},
        failed={r.file for r in read.rejections if r.ref is None},
        truncated=read.truncated,   # files past the read limit were not seen: their entities must not look gone
    )
    if read.url_targets:   # Location targets that are URLs: read through the integrations (ingest.url_locations)
        add_url_targets(batch, read.url_targets, result, rules, outbound)
    planned = _plan_and_write(graph, key, target, result, batch, stored, guard, progress)
    if graph is not None and not result.dry_run:
        _remember(cache, read, planned.accepted, root, result)
    result.seconds = time.perf_counter() - started
    return result


def _ingest_dicts(graph: "Graph | None", source: str, entities: Iterable[tuple[str, dict]], result: IngestResult,
                  guard: RemovalGuard | None, progress: Progress, unavailable: set[str],
                  rules: KindRules) -> IngestResult:
    """Get for a provider: validate its descriptor dicts exactly like documents of a file, then
    `_plan_and_write`.

    Like unchanged files, an item identical to one accepted last time (same origin, position and content)
    whose entity the graph still holds with the same hash is not validated and transformed again.
    """
    started = time.perf_counter()
    progress("validating", 0, 0)
    batch = Batch(candidates=[], shown=lambda origin: origin or "", failed=set(unavailable), keep_refused=False)
    stored = stored_by(graph, source) if graph is not None else {}
    cache = IngestCache.for_location("entities:" + source, graph.settings.uri if graph is not None else "")
    reusable = {key: entry for key, entry in cache.files.items() if entry.entities and all(
        (s := stored.get(ref)) is not None and s.hash == digest for ref, digest in entry.entities.items())}
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
        batch.candidates.append(Candidate(origin, origin, index, entity, item_rules))
    result.files = len(origins)
    result.reused_files = len(seen)
    batch.candidates.sort(key=lambda c: (c.shown, c.index or 0))   # by origin and position, not listing order
    accepted = _plan_and_write(graph, source, result.target, result, batch, stored, guard, progress).accepted
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


def _plan_and_write(graph: "Graph | None", key: str, target: str, result: IngestResult, batch: Batch,
                    stored: dict[str, write.StoredEntity], guard: RemovalGuard | None, progress: Progress) -> Plan:
    """The step every path shares: declare and plan (ingest.plan), count into `result`, write (ingest.execute).

    Without a database it only validates (what is declared counts as added); a dry run plans but writes
    nothing. A plan the removal guard stopped fails the run before anything is written.
    """
    progress("transforming", 0, len(batch.candidates))
    declared = declare(batch, key)
    elsewhere: dict[str, write.StoredEntity] = {}
    if graph is not None:
        progress("comparing", 0, len(declared.accepted))
        elsewhere = held_elsewhere(graph, declared.accepted, stored)
    planned = plan(declared, stored, elsewhere, guard or RemovalGuard())
    result.rejected.extend(r.as_dict() for r in planned.rejected)
    result.conflicts.extend(c.as_dict() for c in planned.conflicts)
    result.unchanged = len(planned.unchanged)   # counted before the guard decides, as a failed run reports it
    if planned.removal_refused:
        raise IngestError(planned.removal_refused)
    result.added, result.updated, result.removed = len(planned.to_add), len(planned.to_update), len(planned.to_remove)
    if graph is None or result.dry_run:
        return planned
    summary = {k: v for k, v in result.as_json().items() if isinstance(v, int) and not isinstance(v, bool)}
    summary["rejected"] = len(result.rejected)
    summary["conflicts"] = len(result.conflicts)
    execute(graph, planned, source=key, target=target, run=result.run, summary=summary, progress=progress)
    return planned


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

