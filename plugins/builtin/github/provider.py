"""The GitHub provider: get (plugins.builtin.github.get) -> transform (.transform) -> ctx.ingest_fetched.

Load + cleanup go through the context: origins `github:<org>/<repo>/<path>` under the source's kind rules,
teams and members under the org rules; a file that could not be read removes nothing it held.
"""
from __future__ import annotations

import logging
from typing import Any

from plugins.api import IngestResult, Provider, SyncContext, token_fingerprint
from plugins.builtin.github.get import client_for, fetch
from plugins.builtin.github.transform import GitHubOptions

log = logging.getLogger(__name__)


class GitHubProvider(Provider):
    name = "github"

    def sync(self, ctx: SyncContext, **client_overrides: Any) -> IngestResult:
        """One run of a GitHub source. `ctx.options["refresh_repos"]` (set by the webhook) limits the requests
        to those repositories (and the repository list, with `refresh_listing`); the others are taken from the
        ETag cache, so nothing is lost."""
        api = ctx.endpoint("github", GitHubOptions.token_secret_name)
        options = GitHubOptions.parse({**ctx.options, "api_url": api.api_url, "token_secret_name": api.secret_name})
        refresh = ctx.options.get("refresh_repos")
        token = ctx.secret(options.token_secret_name)
        cache = ctx.etag_cache(f"github\n{options.api_url}\n{token_fingerprint(token)}")
        client = client_for(options, token, cache, **client_overrides)
        try:
            fetched = fetch(client, options, ctx.read_descriptor_file, ctx.read_repository,
                            refresh=set(refresh) if refresh else None,
                            relist=bool(ctx.options.get("refresh_listing")), progress=ctx.progress)
        finally:
            client.close()
        log.info("GitHub source %s: %s", ctx.source, client.stats.as_dict())
        return ctx.ingest_fetched(f"github:{options.org}", fetched)
