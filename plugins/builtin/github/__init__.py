"""Built-in GitHub plugin: organisation discovery, teams and members (registered like any third party).

Source options (`provider: github`): `org` (required), `api_url` (default https://api.github.com; GitHub
Enterprise: https://HOST/api/v3), `catalog_path` (default catalog-info.yaml), `token_secret_name` (default
github-token -> TRELLIS_SECRET_GITHUB_TOKEN), `webhook_secret_name` (default github-webhook-secret ->
TRELLIS_SECRET_GITHUB_WEBHOOK_SECRET), `teams` (default true), `namespace` (for teams and users, default
"default"), `concurrency` (default 8), `max_rate_limit_wait` (seconds, default 900).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.providers import github
from plugins.api import API_VERSION, Provider, SyncContext
from plugins.builtin.github.webhook import WEBHOOK

if TYPE_CHECKING:
    from ingest.sync import IngestResult
    from plugins.registry import Registry


TRELLIS_API_VERSION = API_VERSION


class GitHubProvider(Provider):
    name = "github"

    def sync(self, ctx: SyncContext) -> "IngestResult":
        return github.sync(ctx)


def register(registry: "Registry") -> None:
    """Entry point `trellis.plugins: github`."""
    registry.add_provider(GitHubProvider())
    registry.add_webhook(WEBHOOK)
