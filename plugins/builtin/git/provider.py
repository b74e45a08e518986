"""The git provider: get (read the location) -> transform/load/cleanup (ctx.ingest_location) -> facts.

Options: `target` (a path, relative to the config file, a git URL on a configured integration host:
cloned through the outbound policy (ctx.checkout), or a file URL there: read through its API) and optional `glob` (one or more
patterns relative to it, e.g. `services/*/catalog-info.yaml`, instead of every `catalog-info.yaml`).
Ownership of the entities stays with the location itself (`file:/abs/path` or `url:<git url>`), so a schedule and `trellis ingest` of the same
location agree; the run is recorded under the configured source name too. A repository's files may declare
the repository kinds only unless the source's `kinds:` says more (ingest.kinds): a git source is not an org
source unless the operator configures it as one.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from plugins.api import IngestError, IngestResult, Provider, SyncContext, redact
from plugins.builtin.git.get import entity_links, repo_root, repository_facts

log = logging.getLogger(__name__)


def resolve_target(target: object, base_dir: str | None, is_git_url: Callable[[str], bool]) -> str:
    if not isinstance(target, str) or not target.strip():
        raise IngestError("the git provider needs options.target (a local path or a git URL)")
    target = target.strip()
    if is_git_url(target) or Path(target).is_absolute() or not base_dir:
        return target
    return str((Path(base_dir) / target).resolve())


def globs(value: object) -> list[str] | None:
    """options.glob: one pattern or a list (relative to the location), e.g. `services/*/catalog-info.yaml`."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise IngestError("options.glob must be a glob or a list of globs, e.g. services/*/catalog-info.yaml")
    return [v.strip() for v in items]


class GitProvider(Provider):
    name = "git"

    def sync(self, ctx: SyncContext) -> IngestResult:
        target = resolve_target(ctx.options.get("target"), ctx.base_dir, ctx.is_git_url)
        result = ctx.ingest_location(target, patterns=globs(ctx.options.get("glob")))
        try:
            self.record_facts(ctx, target)
        except Exception as exc:   # facts are extras: the catalog run itself succeeded and stays recorded
            log.warning("source %s: repository facts not recorded: %s", ctx.source, redact(str(exc)))
        return result

    @staticmethod
    def record_facts(ctx: SyncContext, target: str) -> None:
        """Default branch, last commit and CODEOWNERS of the repository the location lives in (if any).

        A URL location (one file read through its host's API) has no clone to read them from: none."""
        if ctx.is_url_location(target):
            return
        url = ctx.is_git_url(target)
        root = ctx.checkout(target).resolve() if url else repo_root(Path(target).resolve())
        if root is None:
            return
        key = f"url:{target}" if url else f"file:{root}"
        location = ctx.location_key(target)
        links = entity_links(root, ctx.facts.location_entities(location))
        ctx.facts.record_repository(repository_facts(root, key=key, url=target if url else str(root)), links,
                                    source=location)

