"""The outbound allow-list for fetch:* by URL and publish:* (the seam to the shared integrations module).

MERGE SEAM: the trust issue adds `ingest/integrations/` (one allow-list for every outbound request). Until it
lands this module reads the same `integrations:` section of TRELLIS_CONFIG in Backstage's shape, and
everything in the scaffolder asks only `Integrations.for_url(url)` / `by_host(host)` and `Integration.token()`,
so replacing this file with a thin adapter over the shared module changes nothing else.

```yaml
integrations:
  github:
    - host: github.com                       # default entry even when not configured (no token)
      apiBaseUrl: https://api.github.com
      token_secret_name: github-token        # TRELLIS_SECRET_GITHUB_TOKEN (never a token in this file)
  gitlab:
    - host: gitlab.example.com
      apiBaseUrl: https://gitlab.example.com/api/v4
      token_secret_name: gitlab-token
```

A URL is allowed when its host is an integration's host or the host of its `apiBaseUrl` (GitHub's clone URLs
live on github.com, its API on api.github.com), with https, or http only when the integration itself was
configured with an http `apiBaseUrl` (an operator's choice, e.g. a lab server). A token is only ever sent to
the hosts of its own integration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

TYPES = ("github", "gitlab")
DEFAULTS = {
    "github": {"host": "github.com", "apiBaseUrl": "https://api.github.com", "token_secret_name": "github-token"},
    "gitlab": {"host": "gitlab.com", "apiBaseUrl": "https://gitlab.com/api/v4", "token_secret_name": "gitlab-token"},
}


class IntegrationError(ValueError):
    """The integrations section is invalid, or a URL is not allowed by it."""


@dataclass(frozen=True)
class Integration:
    type: str                       # github | gitlab
    host: str                       # the web host (github.com, gitlab.example.com[:port])
    api_base_url: str
    token_secret_name: str | None = None
    hosts: frozenset[str] = field(default_factory=frozenset)   # host and API host, lower-case with port
    schemes: frozenset[str] = frozenset({"https"})

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in self.schemes and parts.netloc.lower().rsplit("@", 1)[-1] in self.hosts

    def token(self) -> str | None:
        """The integration's token from TRELLIS_SECRET_<NAME> (masked in logs), or None when not set."""
        if not self.token_secret_name:
            return None
        from plugins.api import MissingSecret, secret

        try:
            return secret(self.token_secret_name)
        except MissingSecret:
            return None


@dataclass(frozen=True)
class Integrations:
    items: tuple[Integration, ...] = ()

    def by_host(self, host: str) -> Integration | None:
        host = (host or "").lower()
        for item in self.items:
            if item.host == host:
                return item
        for item in self.items:
            if host in item.hosts:
                return item
        return None

    def for_url(self, url: str) -> Integration | None:
        """The integration allowing `url` (scheme and host), or None: the URL is not on the allow-list."""
        for item in self.items:
            if item.allows(url):
                return item
        return None

    def hosts(self) -> list[str]:
        return [item.host for item in self.items]


def parse_integrations(data: Any) -> Integrations:
    """Backstage's `integrations:` mapping -> Integrations (IntegrationError naming the bad key)."""
    data = data or {}
    if not isinstance(data, dict):
        raise IntegrationError("integrations must be a mapping of github/gitlab lists")
    items: list[Integration] = []
    for kind in TYPES:
        entries = data.get(kind) or []
        if not isinstance(entries, list):
            raise IntegrationError(f"integrations.{kind} must be a list")
        configured_hosts = set()
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("host"), str) or not entry["host"]:
                raise IntegrationError(f"integrations.{kind}[{i}].host is required")
            if "token" in entry:
                raise IntegrationError(f"integrations.{kind}[{i}].token: put tokens in TRELLIS_SECRET_* and name "
                                       f"them with token_secret_name")
            items.append(_integration(kind, entry, f"integrations.{kind}[{i}]"))
            configured_hosts.add(entry["host"].lower())
        if DEFAULTS[kind]["host"] not in configured_hosts:
            items.append(_integration(kind, DEFAULTS[kind], f"integrations.{kind} (default)"))
    return Integrations(tuple(items))


def _integration(kind: str, entry: dict, where: str) -> Integration:
    host = entry["host"].lower()
    api = str(entry.get("apiBaseUrl") or (f"https://{host}/api/v3" if kind == "github" else f"https://{host}/api/v4"))
    parts = urlsplit(api)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise IntegrationError(f"{where}.apiBaseUrl must be an http(s) URL")
    schemes = frozenset({"https", "http"}) if parts.scheme == "http" else frozenset({"https"})
    name = entry.get("token_secret_name", DEFAULTS[kind]["token_secret_name"] if host == DEFAULTS[kind]["host"]
                     else None)
    return Integration(type=kind, host=host, api_base_url=api.rstrip("/"), token_secret_name=name,
                       hosts=frozenset({host, parts.netloc.lower()}), schemes=schemes)


def load_integrations(config_path: str | None = None) -> Integrations:
    """The integrations of the TRELLIS_CONFIG file (defaults for github.com and gitlab.com when absent)."""
    path = config_path or os.environ.get("TRELLIS_CONFIG")
    data: Any = {}
    if path:
        try:
            data = (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("integrations") or {}
        except (OSError, yaml.YAMLError, AttributeError) as exc:
            raise IntegrationError(f"TRELLIS_CONFIG={path}: cannot read its integrations ({exc})") from None
    return parse_integrations(data)
