"""Which integration a configured source talks to, and which secret it may send there.

A source names its host with the `host` option (an integration's host: its apiBaseUrl is used), or with
`api_url`/`url` (which must lie on an integration), or gets its provider's public default
(https://api.github.com, https://gitlab.com/api/v4). Loading TRELLIS_CONFIG refuses a source whose host is
not configured (`outbound_problems`), and each run asks again (`endpoint`), so the server's credential for a
host is only ever sent to that host.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.integrations.config import Integration, Integrations
from ingest.integrations.policy import OutboundRefused, check_url
from ingest.git import is_remote_url

# Built-in providers that talk to one kind of integration, and the API they use when no option says.
PROVIDER_INTEGRATIONS = {
    "github": ("github", "https://api.github.com"), "github-actions": ("github", "https://api.github.com"),
    "gitlab": ("gitlab", "https://gitlab.com/api/v4"), "gitlab-ci": ("gitlab", "https://gitlab.com/api/v4"),
}


@dataclass(frozen=True)
class Endpoint:
    """Where one source's API is, the integration it belongs to, and the secret name to use there."""

    api_url: str
    integration: Integration
    secret_name: str | None


def provider_api_url(provider: str, options: dict[str, Any], integrations: Integrations) -> str | None:
    """The API base URL a source talks to: `api_url` (or `url`), else its `host` integration's apiBaseUrl,
    else the provider's public default (None for other providers without one). OutboundRefused when `host`
    names no integration of the provider's kind."""
    kind, default = PROVIDER_INTEGRATIONS.get(provider, (None, None))
    url = options.get("api_url") or options.get("url")
    host = options.get("host")
    if isinstance(host, str) and host.strip():
        entry = integrations.by_host(host, kind)
        if entry is None:
            wanted = f"{kind} integration" if kind else "integration"
            raise OutboundRefused(f"host {host!r} is not a configured {wanted} (integrations: in TRELLIS_CONFIG)")
        if not url:
            return entry.api_base_url or entry.web_url
    return str(url) if url else default


def endpoint(provider: str, options: dict[str, Any], integrations: Integrations,
             default_secret: str | None = None) -> Endpoint:
    """The source's API endpoint, checked against the integrations (OutboundRefused otherwise).

    The secret: the source's `token_secret_name`, else its integration's, else `default_secret`.
    """
    url = provider_api_url(provider, options, integrations)
    if url is None:
        raise OutboundRefused(f"the {provider} source needs a `host`, `api_url` or `url` option naming a "
                              f"configured integration")
    entry = check_url(url, integrations, what=f"a {provider} source")
    kind = PROVIDER_INTEGRATIONS.get(provider, (None, None))[0]
    if kind is not None and entry.kind != kind:
        raise OutboundRefused(f"{url} belongs to the {entry.kind} integration {entry.host}; a {provider} "
                              f"source needs a {kind} integration")
    name = options.get("token_secret_name") or entry.token_secret_name or default_secret
    return Endpoint(url.rstrip("/"), entry, str(name) if name else None)


def outbound_problems(provider: str, options: dict[str, Any], integrations: Integrations, where: str) -> list[str]:
    """Why a source's options would reach a host that is not a configured integration (empty: none)."""
    problems: list[str] = []
    kind = PROVIDER_INTEGRATIONS.get(provider, (None, None))[0]
    key = "api_url" if options.get("api_url") else "url" if options.get("url") else "host"
    try:
        url = provider_api_url(provider, options, integrations)
    except OutboundRefused as exc:
        return [f"{where}.host: {exc}"]
    if url is not None and kind is None and not str(url).lower().startswith(("http://", "https://")):
        url = None   # another plugin's `url` that is not a web address (e.g. s3://): not ours to judge
    if url is not None:
        try:
            endpoint(provider, options, integrations)
        except OutboundRefused as exc:
            problems.append(f"{where}.{key}: {exc}")
    clusters = options.get("clusters") if provider == "kubernetes" else None
    for i, cluster in enumerate(clusters if isinstance(clusters, list) else []):
        url = cluster.get("url") if isinstance(cluster, dict) else None
        if isinstance(url, str) and url.strip():
            try:
                check_url(url.strip(), integrations, what="a kubernetes source")
            except OutboundRefused as exc:
                problems.append(f"{where}.clusters[{i}].url: {exc}")
    target = options.get("target")
    if isinstance(target, str) and is_remote_url(target.strip()):
        try:
            check_url(target.strip(), integrations, what="a source")
        except OutboundRefused as exc:
            problems.append(f"{where}.target: {exc}")
    return problems
