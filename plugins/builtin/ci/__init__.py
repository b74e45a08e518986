"""Built-in CI plugin: GitHub Actions, GitLab CI and Jenkins providers, registered like any third party.

Source options (no secrets in options; tokens come from `ctx.secret`):
- `github-actions`: `host` (a github integration) or `api_url` (default https://api.github.com),
  `token_secret_name` (default: the integration's, else `github-token`), `keep`.
- `gitlab-ci`: `host` (a gitlab integration) or `api_url` (default https://gitlab.com/api/v4),
  `token_secret_name` (default: the integration's, else `gitlab-token`), `keep`.
- `jenkins`: `url` (required, on a host under `integrations.allow`), `user`, `token_secret_name` (default
  `jenkins-token`; used with `user`), `keep`.
Every API URL must belong to a configured integration (TRELLIS_CONFIG `integrations:`).
`keep` (default 20) is how many builds each entity keeps; `concurrency` (default 8) how many projects are
fetched at a time.
"""
from __future__ import annotations

from abc import abstractmethod

from typing import TYPE_CHECKING

from plugins.api import Provider, SyncContext

if TYPE_CHECKING:
    from ingest.sync import IngestResult
    from plugins.registry import Registry


def _kinds():
    from ingest.providers.ci import github_actions, gitlab, jenkins
    from ingest.providers.ci.sync import CiKind

    return {
        "github-actions": CiKind(github_actions.PROVIDER, (github_actions.ANNOTATION,),
                                 lambda a: (str(a.get(github_actions.ANNOTATION) or "").strip() or None),
                                 github_actions.get_runs, github_actions.transform_run),
        "gitlab-ci": CiKind(gitlab.PROVIDER, gitlab.ANNOTATIONS, gitlab.project_of, gitlab.get_pipelines,
                            gitlab.transform_pipeline),
        "jenkins": CiKind(jenkins.PROVIDER, (jenkins.ANNOTATION,),
                          lambda a: (str(a.get(jenkins.ANNOTATION) or "").strip().strip("/") or None),
                          jenkins.get_builds, jenkins.transform_build),
    }


def _etags(kind: str, api_url: str, token: str):
    """The ETag cache of this API endpoint and credential: an unchanged project answers 304 (GitHub does not
    count those against the rate limit)."""
    from ingest.providers.http import etag_cache_for, token_fingerprint

    return etag_cache_for(f"{kind}\n{api_url}\n{token_fingerprint(token)}")


def _endpoint(provider: str, ctx: SyncContext, default_secret: str | None):
    """The source's API URL and secret name, on a configured integration (ingest.integrations.sources)."""
    from ingest.integrations.sources import endpoint

    return endpoint(provider, ctx.options, ctx.outbound(), default_secret)


class _CiProvider(Provider):
    @abstractmethod
    def client(self, ctx: SyncContext):
        """The provider's API client for this run's options and credentials."""

    def sync(self, ctx: SyncContext) -> "IngestResult":
        from ingest.providers.ci.runs import recorded_run
        from ingest.providers.ci.sync import option_int, sync_builds

        keep = option_int(ctx.options, "keep", 20)
        concurrency = option_int(ctx.options, "concurrency", 8, 1, 32)
        client = self.client(ctx)
        try:
            return recorded_run(ctx, self.target(ctx), lambda result, progress: sync_builds(
                ctx.graph, result, _kinds()[self.name], client, keep=keep, concurrency=concurrency,
                progress=progress))
        finally:
            client.close()

    def target(self, ctx: SyncContext) -> str:
        return str(ctx.options.get("api_url") or ctx.options.get("url") or self.name)


class GitHubActionsProvider(_CiProvider):
    name = "github-actions"

    def client(self, ctx: SyncContext):
        from ingest.providers.ci import github_actions

        api = _endpoint(self.name, ctx, "github-token")
        token = ctx.secret(api.secret_name)
        return github_actions.client({**ctx.options, "api_url": api.api_url}, token,
                                     cache=_etags("github-actions", api.api_url, token))


class GitLabCiProvider(_CiProvider):
    name = "gitlab-ci"

    def client(self, ctx: SyncContext):
        from ingest.providers.ci import gitlab

        api = _endpoint(self.name, ctx, "gitlab-token")
        token = ctx.secret(api.secret_name)
        return gitlab.client({**ctx.options, "api_url": api.api_url}, token,
                             cache=_etags("gitlab-ci", api.api_url, token))


class JenkinsProvider(_CiProvider):
    name = "jenkins"

    def client(self, ctx: SyncContext):
        from ingest.providers.ci import jenkins

        if not ctx.options.get("url"):
            raise ValueError("the jenkins source needs a `url` option (the Jenkins root URL)")
        api = _endpoint(self.name, ctx, "jenkins-token")
        user = ctx.options.get("user")
        token = ctx.secret(api.secret_name) if user else None
        return jenkins.client({**ctx.options, "url": api.api_url}, user, token)


def register(registry: "Registry") -> None:
    """Entry point `trellis.plugins` -> `ci`."""
    for provider in (GitHubActionsProvider(), GitLabCiProvider(), JenkinsProvider()):
        registry.add_provider(provider)
