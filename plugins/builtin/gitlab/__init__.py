"""Built-in GitLab plugin: group and project discovery, groups and members (registered like any third party).

Source options (`provider: gitlab`): `group` (required: full path or id; subgroups are included),
`api_url` (default https://gitlab.com/api/v4), `catalog_path` (default catalog-info.yaml),
`token_secret_name` (default gitlab-token -> TRELLIS_SECRET_GITLAB_TOKEN), `members` (default true),
`namespace` (for groups and users, default "default"), `concurrency` (default 8), `max_rate_limit_wait`
(seconds, default 900).
"""
from __future__ import annotations

from plugins.builtin.gitlab.provider import GitLabProvider


def register(registry) -> None:
    """Entry point `trellis.plugins: gitlab`."""
    registry.add_provider(GitLabProvider())
