"""Built-in GitHub plugin: organisation discovery, teams and members (registered like any third party).

Source options (`provider: github`): `org` (required), `api_url` (default https://api.github.com; GitHub
Enterprise: https://HOST/api/v3), `catalog_path` (default catalog-info.yaml), `token_secret_name` (default
github-token -> TRELLIS_SECRET_GITHUB_TOKEN), `webhook_secret_name` (default github-webhook-secret ->
TRELLIS_SECRET_GITHUB_WEBHOOK_SECRET), `teams` (default true), `namespace` (for teams and users, default
"default"), `concurrency` (default 8), `max_rate_limit_wait` (seconds, default 900).
"""
from __future__ import annotations

from plugins.api import API_VERSION
from plugins.builtin.github.provider import GitHubProvider
from plugins.builtin.github.webhook import WEBHOOK

TRELLIS_API_VERSION = API_VERSION


def register(registry) -> None:
    """Entry point `trellis.plugins: github`."""
    registry.add_provider(GitHubProvider())
    registry.add_webhook(WEBHOOK)
