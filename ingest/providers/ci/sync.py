"""One CI source's run: find annotated entities -> get each project's builds -> transform -> load -> cleanup.

Failure isolation: a project (repository, pipeline project, job) that cannot be fetched (404, a 5xx that
outlived the retries) is reported in the run's problems and keeps the builds it had; the others load. Bad
credentials and an exhausted rate limit abort the run before anything is written or removed (every project
would fail the same way); so does every project failing, as a retryable error.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from graph import builds as graph_builds
from ingest.providers.http import BadCredentials, ProviderError, RateLimited, Unavailable
from ingest.sync import IngestResult
from plugins.api import RetryableError

if TYPE_CHECKING:
    from graph.driver import Graph
    from ingest.providers.http import ApiClient


@dataclass(frozen=True)
class CiKind:
    """What differs between CI systems: which annotations name a project, and how to get and transform."""

    provider: str
    annotations: tuple[str, ...]
    project_of: Callable[[dict], str | None]
    fetch: Callable[["ApiClient", str, int], list[dict]]
    transform: Callable[[str, dict], dict]


def group_by_project(kind: CiKind, entities: list[tuple[str, dict]]) -> dict[str, list[str]]:
    """project -> entity refs naming it (pure). Several entities may share one repository or job."""
    out: dict[str, list[str]] = {}
    for ref, annotations in entities:
        project = kind.project_of(annotations)
        if project:
            out.setdefault(project, []).append(ref)
    return out


def transform_all(kind: CiKind, project: str, raw: list[dict]) -> tuple[list[dict], list[str]]:
    """Build records of one project, and the reasons for payload items that could not be read (pure)."""
    records, problems = [], []
    for item in raw:
        try:
            records.append(kind.transform(project, item))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"unreadable {kind.provider} build in {project}: {type(exc).__name__}: {exc}")
    return records, problems


def sync_builds(graph: "Graph", result: IngestResult, kind: CiKind, client: "ApiClient", *,
                keep: int = graph_builds.DEFAULT_KEEP, concurrency: int = 8,
                progress: Callable[[str, int, int], None] = lambda s, d, t: None) -> IngestResult:
    """get -> transform -> load -> cleanup for one CI source, filling `result` (its source and run id).

    Projects are fetched `concurrency` at a time (the HTTP client is thread-safe); results are handled in
    project order, so the outcome does not depend on timing. `added` counts new Build nodes, `unchanged`
    builds seen before, `removed` build links cleaned up; a failed project is one `rejected` item
    (file = the project, reason = why) and keeps its old builds.
    """
    started = time.perf_counter()
    source, run_id = result.source, result.run
    entities = graph_builds.annotated_entities(graph, kind.annotations)
    projects = group_by_project(kind, entities)
    links: list[dict] = []
    failed_refs: set[str] = set()
    first_outage: RetryableError | None = None
    progress("fetching builds", 0, len(projects))
    ordered = sorted(projects.items())
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(kind.fetch, client, project, keep) for project, _ in ordered]
        try:
            for done, ((project, refs), future) in enumerate(zip(ordered, futures), 1):
                try:
                    raw = future.result()
                except (BadCredentials, RateLimited):
                    raise   # the whole source is unusable now: fail (or retry) the run, nothing removed
                except (ProviderError, Unavailable, ValueError) as exc:
                    if isinstance(exc, Unavailable) and first_outage is None:
                        first_outage = exc
                    failed_refs.update(refs)
                    result.rejected.append({"file": project, "document": None, "ref": refs[0], "field": None,
                                            "reason": str(exc)})
                    continue
                records, problems = transform_all(kind, project, raw)
                result.rejected.extend({"file": project, "document": None, "ref": refs[0], "field": None,
                                        "reason": p} for p in problems)
                links.extend({"ref": ref, "builds": records} for ref in refs)
                progress("fetching builds", done, len(projects))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    result.files = len(projects)
    if first_outage is not None and not links:
        raise first_outage   # nothing answered: retry the run later rather than record a useless one
    progress("writing builds", 0, len(links))
    written, created = graph_builds.load_builds(graph, source, run_id, links, keep)
    result.added, result.unchanged = created, written - created
    progress("removing", 0, 0)
    seen = [{"ref": link["ref"], "keys": [b["key"] for b in link["builds"]]} for link in links]
    result.removed = graph_builds.cleanup(graph, source, seen, keep_refs=failed_refs)
    result.seconds = time.perf_counter() - started
    return result


def option_int(options: dict[str, Any], name: str, default: int, low: int = 1, high: int = 1000) -> int:
    """An integer source option within bounds, or a clear error naming it."""
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"option {name!r} must be an integer from {low} to {high}, got {value!r}")
    return value
