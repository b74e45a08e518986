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

from plugins.builtin.ci.provider import GitHubActionsProvider, GitLabCiProvider, JenkinsProvider


def register(registry) -> None:
    """Entry point `trellis.plugins` -> `ci`."""
    for provider in (GitHubActionsProvider(), GitLabCiProvider(), JenkinsProvider()):
        registry.add_provider(provider)
