"""The CI providers (GitHub Actions, GitLab CI, Jenkins): find annotated entities -> get each project's
builds -> transform -> write them as runtime facts (ctx.facts) -> clean up, recorded as a facts run.

Failure isolation: a project (repository, pipeline project, job) that cannot be fetched (404, a 5xx that
outlived the retries) is reported in the run's problems and keeps the builds it had; the others load. Bad
credentials and an exhausted rate limit abort the run before anything is written or removed (every project
would fail the same way); so does every project failing, as a retryable error.
"""
from __future__ import annotations

import time
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from plugins.api import (
    ApiClient, BadCredentials, EtagCache, FactsResult, FactsWriters, Provider, ProviderError, RateLimited,
    RetryableError, SyncContext, Unavailable, token_fingerprint,
)
from plugins.builtin.ci import get
from plugins.builtin.ci.transform import (
    GITHUB_ACTIONS, GITHUB_ANNOTATION, GITLAB, GITLAB_ANNOTATIONS, JENKINS, JENKINS_ANNOTATION, CiKind,
    github_run, github_slug, gitlab_pipeline, gitlab_project, group_by_project, jenkins_build, jenkins_job,
    option_int, transform_all,
)

KINDS: dict[str, CiKind] = {
    "github-actions": CiKind(GITHUB_ACTIONS, (GITHUB_ANNOTATION,), github_slug, get.github_runs, github_run),
    "gitlab-ci": CiKind(GITLAB, GITLAB_ANNOTATIONS, gitlab_project, get.gitlab_pipelines, gitlab_pipeline),
    "jenkins": CiKind(JENKINS, (JENKINS_ANNOTATION,), jenkins_job, get.jenkins_builds, jenkins_build),
}


def sync_builds(facts: FactsWriters, result: FactsResult, kind: CiKind, client: ApiClient, *,
                keep: int = 20, concurrency: int = 8,
                progress: Callable[[str, int, int], None] = lambda s, d, t: None) -> FactsResult:
    """get -> transform -> load -> cleanup for one CI source, filling `result` (its source and run id).

    Projects are fetched `concurrency` at a time (the HTTP client is thread-safe); results are handled in
    project order, so the outcome does not depend on timing. `created` counts new Build nodes, `seen_again`
    builds seen before, `removed` build links cleaned up, `read` projects; a failed project is one
    `rejected` item (file = the project, reason = why) and keeps its old builds.
    """
    started = time.perf_counter()
    source, run_id = result.source, result.run
    entities = facts.annotated_entities(kind.annotations)
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
    result.read = len(projects)
    if first_outage is not None and not links:
        raise first_outage   # nothing answered: retry the run later rather than record a useless one
    progress("writing builds", 0, len(links))
    written, created = facts.load_builds(source, run_id, links, keep)
    result.created, result.seen_again = created, written - created
    progress("removing", 0, 0)
    seen = [{"ref": link["ref"], "keys": [b["key"] for b in link["builds"]]} for link in links]
    result.removed = facts.cleanup_builds(source, seen, keep_refs=failed_refs)
    result.seconds = time.perf_counter() - started
    return result


def _etags(ctx: SyncContext, kind: str, api_url: str, token: str) -> EtagCache:
    """The ETag cache of this API endpoint and credential: an unchanged project answers 304 (GitHub does not
    count those against the rate limit)."""
    return ctx.etag_cache(f"{kind}\n{api_url}\n{token_fingerprint(token)}")


class _CiProvider(Provider):
    @abstractmethod
    def client(self, ctx: SyncContext) -> ApiClient:
        """The provider's API client for this run's options and credentials."""

    def sync(self, ctx: SyncContext) -> FactsResult:
        keep = option_int(ctx.options, "keep", 20)
        concurrency = option_int(ctx.options, "concurrency", 8, 1, 32)
        client = self.client(ctx)
        try:
            return ctx.facts_run(self.target(ctx), lambda result, progress: sync_builds(
                ctx.facts, result, KINDS[self.name], client, keep=keep, concurrency=concurrency,
                progress=progress))
        finally:
            client.close()

    def target(self, ctx: SyncContext) -> str:
        return str(ctx.options.get("api_url") or ctx.options.get("url") or self.name)


class GitHubActionsProvider(_CiProvider):
    name = "github-actions"

    def client(self, ctx: SyncContext) -> ApiClient:
        api = ctx.endpoint(self.name, "github-token")
        token = ctx.secret(api.secret_name)
        return get.github_client({**ctx.options, "api_url": api.api_url}, token,
                                 cache=_etags(ctx, "github-actions", api.api_url, token))


class GitLabCiProvider(_CiProvider):
    name = "gitlab-ci"

    def client(self, ctx: SyncContext) -> ApiClient:
        api = ctx.endpoint(self.name, "gitlab-token")
        token = ctx.secret(api.secret_name)
        return get.gitlab_client({**ctx.options, "api_url": api.api_url}, token,
                                 cache=_etags(ctx, "gitlab-ci", api.api_url, token))


class JenkinsProvider(_CiProvider):
    name = "jenkins"

    def client(self, ctx: SyncContext) -> ApiClient:
        if not ctx.options.get("url"):
            raise ValueError("the jenkins source needs a `url` option (the Jenkins root URL)")
        api = ctx.endpoint(self.name, "jenkins-token")
        user = ctx.options.get("user")
        token = ctx.secret(api.secret_name) if user else None
        return get.jenkins_client({**ctx.options, "url": api.api_url}, user, token)
