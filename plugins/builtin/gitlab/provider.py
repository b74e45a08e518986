"""The GitLab provider: get (plugins.builtin.gitlab.get) -> transform (.transform) -> ctx.ingest_fetched.

Origins `gitlab:<project path>/<file path>` under the source's kind rules, groups and members under the org
rules; a file that could not be read removes nothing it held.
"""
from __future__ import annotations

import logging
from typing import Any

from plugins.api import IngestResult, Provider, SyncContext, token_fingerprint
from plugins.builtin.gitlab.get import client_for, fetch
from plugins.builtin.gitlab.transform import GitLabOptions

log = logging.getLogger(__name__)


class GitLabProvider(Provider):
    name = "gitlab"

    def sync(self, ctx: SyncContext, **client_overrides: Any) -> IngestResult:
        """One run of a GitLab source."""
        api = ctx.endpoint("gitlab", GitLabOptions.token_secret_name)
        options = GitLabOptions.parse({**ctx.options, "api_url": api.api_url, "token_secret_name": api.secret_name})
        token = ctx.secret(options.token_secret_name)
        cache = ctx.etag_cache(f"gitlab\n{options.api_url}\n{token_fingerprint(token)}")
        client = client_for(options, token, cache, **client_overrides)
        try:
            fetched = fetch(client, options, ctx.read_descriptor_file, ctx.read_repository, progress=ctx.progress)
        finally:
            client.close()
        log.info("GitLab source %s: %s", ctx.source, client.stats.as_dict())
        return ctx.ingest_fetched(f"gitlab:{options.group}", fetched)
