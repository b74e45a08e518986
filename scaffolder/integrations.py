"""The scaffolder's view of the shared outbound allow-list (`ingest.integrations`, `integrations:` in TRELLIS_CONFIG).

Why an adapter and not a second list: publish:*, fetch:* by URL, catalog:register and parseRepoUrl must reach
exactly the hosts ingest, TechDocs and the providers may reach, with the same secret per host. This module only
narrows the shared answer to what the scaffolder speaks (HTTP(S); the GitHub and GitLab REST APIs for
publishing and reading repositories) and keeps the small surface its callers use: `Integrations.for_url(url)`,
`by_host(host)`, `hosts()` and `Integration.token()` / `allows(url)`.

As everywhere, the public github.com and gitlab.com are integrations without a token until the operator
lists them with `token_secret_name`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ingest.integrations import (
    Integration as SharedIntegration, Integrations as SharedIntegrations, IntegrationsError, OutboundRefused,
    check_url, load_integrations as load_shared, parse_integrations as parse_shared,
)
from plugins.api import MissingSecret, secret

IntegrationError = IntegrationsError
#: The integration kinds whose REST APIs publish:*, fetch:* by URL and catalog:register speak.
REPOSITORY_HOSTS = ("github", "gitlab")


@dataclass(frozen=True)
class Integration:
    """One shared integration, as the scaffolder's actions use it."""

    entry: SharedIntegration

    @property
    def type(self) -> str:
        return self.entry.kind

    @property
    def host(self) -> str:
        return self.entry.host

    @property
    def api_base_url(self) -> str | None:
        return self.entry.api_base_url

    @property
    def token_secret_name(self) -> str | None:
        return self.entry.token_secret_name

    def allows(self, url: str) -> bool:
        """Whether `url` (http or https) belongs to this integration: where its token may go."""
        return _http(url) and _checked(url, SharedIntegrations((self.entry,))) == self.entry

    def token(self) -> str | None:
        """The integration's token from TRELLIS_SECRET_<NAME> (masked in logs), or None when not set."""
        if not self.entry.token_secret_name:
            return None

        try:
            return secret(self.entry.token_secret_name)
        except MissingSecret:
            return None


@dataclass(frozen=True)
class Integrations:
    """The shared integrations, looked up the way the scaffolder asks."""

    shared: SharedIntegrations

    def for_url(self, url: str) -> Integration | None:
        """The integration allowing `url` (an http(s) URL the shared policy accepts), or None: not allowed."""
        if not _http(url):
            return None
        entry = _checked(url, self.shared)
        return Integration(entry) if entry is not None else None

    def by_host(self, host: str) -> Integration | None:
        entry = self.shared.by_host(host or "")
        return Integration(entry) if entry is not None else None

    def hosts(self, kinds: tuple[str, ...] | None = None) -> list[str]:
        """Configured hosts (of `kinds` only, when given), in configuration order."""
        return [e.host for e in self.shared.entries if kinds is None or e.kind in kinds]


def _http(url: Any) -> bool:
    return isinstance(url, str) and url[:8].lower().startswith(("https://", "http://"))


def _checked(url: str, shared: SharedIntegrations) -> SharedIntegration | None:
    try:
        return check_url(url, shared, what="the scaffolder")
    except OutboundRefused:
        return None


def adapt(value: "Integrations | SharedIntegrations | None") -> Integrations:
    """The scaffolder's view of `value` (shared integrations, already adapted ones, or None: TRELLIS_CONFIG's)."""
    if isinstance(value, Integrations):
        return value
    if value is None:
        return load_integrations()
    return Integrations(value)


def parse_integrations(section: Any) -> Integrations:
    """An `integrations:` section (the mapping under that key) parsed by the shared parser."""
    return Integrations(parse_shared({"integrations": section if section is not None else {}}))


def load_integrations(config_path: str | None = None) -> Integrations:
    """The integrations of the TRELLIS_CONFIG file (the public defaults when there is none)."""
    try:
        return Integrations(load_shared(config_path))
    except (OSError, yaml.YAMLError) as exc:
        raise IntegrationError([f"TRELLIS_CONFIG: cannot read its integrations ({exc})"]) from None
