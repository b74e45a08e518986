"""The SyncContext ingest builds for a provider run, and the services behind it (dependency injection).

plugins.api defines the shape (SyncContext, SyncServices); this module is the implementation: entities go
through ingest.sync (validation, kind rules, removal guard, the one run recorder), URLs through the outbound
policy (ingest.integrations), clones through ingest.git, remote descriptor files through the same bounded
YAML loader as files on disk. A plugin reaches none of these modules directly.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ingest import runs
from ingest.cache import etag_cache_for
from ingest.descriptors.contents import read_descriptor_file
from ingest.descriptors.repository import read_repository
from ingest.git import checkout, is_git_url
from ingest.integrations import check_url, load_integrations
from ingest.integrations.sources import endpoint
from ingest.kinds import org_rules, source_rules
from ingest.sync import RemovalGuard, ingest, ingest_entities, source_key
from ingest.url_locations import is_url_location
from plugins.api import Endpoint, FactsBody, FactsResult, FileDocuments, IngestResult, RepoRead, SyncContext

if TYPE_CHECKING:
    from plugins.http import EtagCache


class IngestServices:
    """ingest's implementation of plugins.api.SyncServices (stateless: everything per run is on the ctx)."""

    def integrations(self, ctx: SyncContext) -> Any:
        return load_integrations()

    def removal_guard(self, ctx: SyncContext) -> RemovalGuard:
        return RemovalGuard(max_share=ctx.max_removal_share, min_count=ctx.min_removal_count, force=ctx.force)

    def kind_rules(self, ctx: SyncContext) -> Any:
        return source_rules(ctx.source, ctx.kinds)

    def org_rules(self, ctx: SyncContext) -> Any:
        return org_rules(ctx.source)

    def ingest(self, ctx: SyncContext, entities: Iterable[tuple], *, target: str, unavailable: Iterable[str],
               problems: list[dict]) -> IngestResult:
        result = ingest_entities(ctx.graph, ctx.source, entities, target=target, trigger=ctx.trigger,
                                 run_id=ctx.run_id, guard=self.removal_guard(ctx), progress=ctx.progress,
                                 unavailable=unavailable, rules=self.kind_rules(ctx))
        runs.add_problems(ctx.graph, result, problems)
        return result

    def ingest_location(self, ctx: SyncContext, target: str, *, patterns: list[str] | None) -> IngestResult:
        return ingest(ctx.graph, target, guard=self.removal_guard(ctx), progress=ctx.progress,
                      trigger=ctx.trigger, run_id=ctx.run_id, name=ctx.source, patterns=patterns,
                      rules=self.kind_rules(ctx), integrations=ctx.outbound())

    def facts_run(self, ctx: SyncContext, target: str, body: FactsBody) -> FactsResult:
        result = FactsResult(source=ctx.source, target=target, run=ctx.run_id)
        runs.recorded_run(ctx.graph, result, trigger=ctx.trigger, name=ctx.source, progress=ctx.progress,
                          body=lambda progress: body(result, progress))
        return result

    def check_url(self, ctx: SyncContext, url: str, what: str) -> None:
        check_url(url, ctx.outbound(), what=what)

    def endpoint(self, ctx: SyncContext, provider: str, default_secret: str | None) -> Endpoint:
        found = endpoint(provider, ctx.options, ctx.outbound(), default_secret)
        return Endpoint(found.api_url, found.secret_name)

    def etag_cache(self, namespace: str) -> "EtagCache":
        return etag_cache_for(namespace)

    def read_descriptor_file(self, payload: Any) -> FileDocuments:
        return read_descriptor_file(payload)

    def read_repository(self, first: str, get: Callable[[str], Any],
                        describe: Callable[[str, Any], FileDocuments]) -> RepoRead:
        return read_repository(first, get, describe)

    def is_git_url(self, target: str) -> bool:
        return is_git_url(target)

    def is_url_location(self, ctx: SyncContext, target: str) -> bool:
        return is_url_location(target, ctx.outbound())

    def location_key(self, target: str) -> str:
        return source_key(target)

    def checkout(self, ctx: SyncContext, target: str) -> Path:
        return checkout(target, integrations=ctx.outbound())


SERVICES = IngestServices()


def sync_context(**fields: Any) -> SyncContext:
    """A SyncContext (same fields as plugins.api.SyncContext) with ingest's services."""
    fields.setdefault("options", {})
    return SyncContext(services=SERVICES, **fields)
