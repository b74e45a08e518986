"""The `integrations:` section of TRELLIS_CONFIG (Backstage's shape) and the `git:` clone limits, typed.

```yaml
integrations:
  github:           [{host: github.com, token_secret_name: github-token},
                     {host: ghe.acme.com, apiBaseUrl: https://ghe.acme.com/api/v3}]
  gitlab:           [{host: gitlab.acme.com, token_secret_name: gitlab-token}]   # apiBaseUrl/baseUrl derived
  bitbucketCloud:   [{username: acme-bot, token_secret_name: bitbucket-token}]
  bitbucketServer:  [{host: bitbucket.acme.com}]
  azure:            [{host: dev.azure.com, token_secret_name: azure-token}]
  gitea:            [{host: gitea.acme.com, baseUrl: https://gitea.acme.com}]
  allow:            [docs.acme.com, {host: files.acme.com, paths: [/catalog/]}, "http://127.0.0.1:8080"]
git: {max_clone_mb: 500, clone_timeout: 300}
```

Why typed and parsed once: every outbound request (git clones, TechDocs `url:` refs, provider API clients,
and the URL readers built on this) asks one question, `integration_for(url)`, and the answer also says which
credential may travel there. Parsing is strict: unknown keys, credentials written inline, hosts given twice
and URLs that are not `https://` (or `http://` written out explicitly, for on-premises hosts and tests) are
all reported at once, each with its place (`integrations.github[1].apiBaseUrl`).

As in Backstage, github.com, gitlab.com, bitbucket.org and dev.azure.com are integrations even when not
listed (anonymous, public repositories only); listing one replaces its default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from plugins.api import MissingSecret, secret_env_name
from plugins.urls import BadUrl, Origin, origin_of, path_of, split_host

KINDS = ("github", "gitlab", "bitbucketCloud", "bitbucketServer", "azure", "gitea")
PLAIN = "allow"
_KEYS = {
    "github": {"host", "apiBaseUrl", "rawBaseUrl", "token_secret_name"},
    "gitlab": {"host", "apiBaseUrl", "baseUrl", "token_secret_name"},
    "bitbucketCloud": {"host", "apiBaseUrl", "username", "token_secret_name"},
    "bitbucketServer": {"host", "apiBaseUrl", "username", "token_secret_name"},
    "azure": {"host", "token_secret_name"},
    "gitea": {"host", "baseUrl", "username", "token_secret_name"},
    PLAIN: {"host", "baseUrl", "paths", "token_secret_name"},
}
_INLINE_SECRETS = {"token", "password", "appPassword", "privateKey", "clientSecret", "apps", "credentials"}
# The user name a git host expects beside an access token sent as the HTTP password.
GIT_USERNAMES = {"github": "x-access-token", "gitlab": "oauth2", "bitbucketCloud": "x-token-auth",
                 "bitbucketServer": "x-token-auth", "azure": "pat", "gitea": "token", PLAIN: "token"}
MB = 1024 * 1024


class IntegrationsError(ValueError):
    """The integrations (or git) section is invalid; the message lists every problem with its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid integrations:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Integration:
    """One configured host: where its API and files are, and the name of the secret it may use."""

    kind: str                          # one of KINDS, or "allow" for a plain allowed host
    host: str                          # lower-case `host` or `host:port`, as people write it in URLs
    api_base_url: str | None = None
    raw_base_url: str | None = None    # github: raw file downloads
    base_url: str | None = None        # the web and git address (gitlab, gitea, plain hosts)
    token_secret_name: str | None = None
    username: str | None = None
    paths: tuple[str, ...] = ()        # plain hosts: only these path prefixes (empty: any path)
    origins: frozenset[Origin] = field(default_factory=frozenset)   # where its credential may go
    default: bool = False              # one of Backstage's implicit public hosts

    @property
    def hostname(self) -> str:
        return split_host(self.host)[0]

    @property
    def web_url(self) -> str:
        """Where repositories live (clone URLs start here)."""
        return (self.base_url or f"https://{self.host}").rstrip("/")

    def covers(self, origin: Origin, path: str = "/") -> bool:
        """Whether a request to `origin` (and `path`, for plain hosts with `paths`) belongs to this integration.

        ssh (and scp-like addresses) match the integration's host name: its SSH port is not an HTTP origin.
        """
        if origin.scheme == "ssh":
            return self.kind != PLAIN and origin.host == self.hostname
        if origin not in self.origins:
            return False
        return not self.paths or any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/")
                                     for p in self.paths)


@dataclass(frozen=True)
class GitLimits:
    """Caps on one clone or fetch: bytes on disk while it runs, and seconds."""

    max_clone_bytes: int = 500 * MB
    clone_timeout: float = 300.0


@dataclass(frozen=True)
class Integrations:
    """Every integration of this server, looked up by URL."""

    entries: tuple[Integration, ...] = ()
    git: GitLimits = GitLimits()

    def integration_for(self, url: str) -> Integration | None:
        """The integration a URL belongs to (typed integrations before plain hosts), or None.

        None also for URLs that cannot be compared safely (BadUrl): nothing outside the list is reached.
        """
        try:
            origin, path = origin_of(url), path_of(url)
        except BadUrl:
            return None
        for entry in sorted(self.entries, key=lambda e: e.kind == PLAIN):
            if entry.covers(origin, path):
                return entry
        return None

    def of_kind(self, kind: str) -> list[Integration]:
        return [e for e in self.entries if e.kind == kind]

    def by_host(self, host: str, kind: str | None = None) -> Integration | None:
        """The integration configured for `host` (`host[:port]`, any case), optionally of one kind."""
        wanted = host.strip().lower()
        for entry in self.entries:
            if entry.host == wanted and (kind is None or entry.kind == kind):
                return entry
        return None

    @property
    def hosts(self) -> list[str]:
        return [e.host for e in self.entries]


def _default_entries() -> list[Integration]:
    defaults = [
        _complete("github", {"host": "github.com"}, default=True),
        _complete("gitlab", {"host": "gitlab.com"}, default=True),
        _complete("bitbucketCloud", {"host": "bitbucket.org"}, default=True),
        _complete("azure", {"host": "dev.azure.com"}, default=True),
    ]
    return defaults


def _complete(kind: str, item: dict[str, Any], default: bool = False) -> Integration:
    """Fill in Backstage's derived URLs for a host; every field of `item` was checked already."""
    host = str(item["host"]).strip().lower()
    api = item.get("apiBaseUrl")
    raw = item.get("rawBaseUrl")
    base = item.get("baseUrl")
    if kind == "github":
        if host == "github.com":
            api, raw = api or "https://api.github.com", raw or "https://raw.githubusercontent.com"
        else:   # GitHub Enterprise Server's documented paths
            api, raw = api or f"https://{host}/api/v3", raw or f"https://{host}/raw"
    elif kind == "gitlab":
        base = base or f"https://{host}"
        api = api or f"{base.rstrip('/')}/api/v4"
    elif kind == "bitbucketCloud":
        api = api or "https://api.bitbucket.org/2.0"
    elif kind == "bitbucketServer":
        api = api or f"https://{host}/rest/api/1.0"
    elif kind == "azure":
        base = f"https://{host}"
    elif kind == "gitea":
        base = base or f"https://{host}"
        api = f"{base.rstrip('/')}/api/v1"
    elif kind == PLAIN:
        base = base or f"https://{host}"
    urls = [u for u in (api, raw, base) if u]
    origins = {origin_of(u) for u in urls}
    hostname, port = split_host(host)
    # the host itself over https, unless a URL of this entry says how it is reached
    if not any(o.host == hostname and (port is None or o.port == port) for o in origins):
        origins.add(Origin("https", hostname, port or 443))
    return Integration(
        kind=kind, host=host, api_base_url=api.rstrip("/") if api else None,
        raw_base_url=raw.rstrip("/") if raw else None, base_url=base.rstrip("/") if base else None,
        token_secret_name=item.get("token_secret_name"), username=item.get("username"),
        paths=tuple(item.get("paths") or ()), origins=frozenset(origins), default=default)


def _url_problem(value: Any, where: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"{where} must be a URL (https://..., or http://... for a host without TLS)"
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http"):
        return f"{where} {value!r} must start with https:// (or http:// for a host without TLS, written out)"
    if "@" in parts.netloc or parts.query or parts.fragment:
        return f"{where} {value!r} must not carry credentials, a query or a fragment"
    try:
        origin_of(value)
    except BadUrl as exc:
        return f"{where}: {exc}"
    return None


def _entry(kind: str, raw: Any, where: str, problems: list[str]) -> Integration | None:
    if kind == PLAIN and isinstance(raw, str):   # "host", "host:port" or "http(s)://host[:port]"
        text = raw.strip()
        raw = {"host": urlsplit(text).netloc, "baseUrl": text} if "://" in text else {"host": text}
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a mapping with host" + (" (or a host name)" if kind == PLAIN else ""))
        return None
    inline = sorted(set(map(str, raw)) & _INLINE_SECRETS)
    if inline:
        problems.append(f"{where}.{inline[0]}: credentials never go in this file; name a secret with "
                        f"token_secret_name (read from TRELLIS_SECRET_<NAME> or its _FILE)")
    unknown = sorted(set(map(str, raw)) - _KEYS[kind] - _INLINE_SECRETS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_KEYS[kind]))})")
    item = dict(raw)
    if kind in ("bitbucketCloud", "azure"):
        item.setdefault("host", {"bitbucketCloud": "bitbucket.org", "azure": "dev.azure.com"}[kind])
    host = item.get("host")
    count = len(problems)
    if not isinstance(host, str) or not host.strip():
        problems.append(f"{where}.host is required (a host name, e.g. github.acme.com or 10.0.0.5:8443)")
    else:
        try:
            split_host(host)
        except BadUrl as exc:
            problems.append(f"{where}.host: {exc}")
    for key in ("apiBaseUrl", "rawBaseUrl", "baseUrl"):
        if key in item:
            problem = _url_problem(item[key], f"{where}.{key}")
            if problem:
                problems.append(problem)
    for key in ("token_secret_name", "username"):
        if key in item and (not isinstance(item[key], str) or not item[key].strip()):
            problems.append(f"{where}.{key} must be a non-empty string")
    if "token_secret_name" in item and isinstance(item["token_secret_name"], str):
        try:
            secret_env_name(item["token_secret_name"])
        except MissingSecret as exc:
            problems.append(f"{where}.token_secret_name: {exc}")
    if "paths" in item:
        paths = item["paths"]
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            problems.append(f"{where}.paths must be a list of paths starting with '/'")
    if len(problems) > count:
        return None
    try:
        return _complete(kind, item)
    except BadUrl as exc:
        problems.append(f"{where}: {exc}")
        return None


def _git_limits(raw: Any, problems: list[str]) -> GitLimits:
    if raw is None:
        return GitLimits()
    if not isinstance(raw, dict) or set(raw) - {"max_clone_mb", "clone_timeout"}:
        problems.append("git must be a mapping with max_clone_mb and/or clone_timeout (seconds)")
        return GitLimits()
    limits = GitLimits()
    size = raw.get("max_clone_mb", limits.max_clone_bytes / MB)
    timeout = raw.get("clone_timeout", limits.clone_timeout)
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0:
        problems.append(f"git.max_clone_mb must be a positive number of megabytes, got {size!r}")
        size = limits.max_clone_bytes / MB
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        problems.append(f"git.clone_timeout must be a positive number of seconds, got {timeout!r}")
        timeout = limits.clone_timeout
    return GitLimits(max_clone_bytes=int(size * MB), clone_timeout=float(timeout))


def parse_integrations(data: Any) -> Integrations:
    """The `integrations:` and `git:` sections of a parsed TRELLIS_CONFIG mapping. IntegrationsError lists
    every problem at once."""
    problems: list[str] = []
    data = data if isinstance(data, dict) else {}
    section = data.get("integrations")
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise IntegrationsError([f"integrations must be a mapping of {', '.join(KINDS)} and {PLAIN}"])
    unknown = sorted(set(map(str, section)) - set(KINDS) - {PLAIN})
    if unknown:
        problems.append(f"integrations: unknown key(s) {', '.join(unknown)} "
                        f"(known: {', '.join(KINDS)}, {PLAIN})")
    entries: list[Integration] = []
    for kind in (*KINDS, PLAIN):
        items = section.get(kind)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(f"integrations.{kind} must be a list")
            continue
        for i, raw in enumerate(items):
            entry = _entry(kind, raw, f"integrations.{kind}[{i}]", problems)
            if entry is not None:
                entries.append(entry)
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.host in seen:
            problems.append(f"integrations: host {entry.host} is configured twice ({seen[entry.host]} and "
                            f"{entry.kind}); each host belongs to one integration")
        seen[entry.host] = entry.kind
    git = _git_limits(data.get("git"), problems)
    if problems:
        raise IntegrationsError(problems)
    configured = {e.host for e in entries}
    entries.extend(d for d in _default_entries() if d.host not in configured)
    return Integrations(tuple(entries), git)


_cache: dict[tuple, Integrations] = {}


def load_integrations(path: str | os.PathLike | None = None) -> Integrations:
    """The integrations of the file `path` (default `$TRELLIS_CONFIG`; none: only the public defaults).

    Cached per file and modification time, so deep callers (git, TechDocs, providers) may ask freely.
    Raises IntegrationsError for an invalid section, OSError/yaml.YAMLError for an unreadable file.
    """
    path = path or os.environ.get("TRELLIS_CONFIG")
    if not path:
        return parse_integrations({})
    file = Path(path)
    stat = file.stat()
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(key)
    if cached is None:
        cached = parse_integrations(yaml.safe_load(file.read_text(encoding="utf-8")) or {})
        _cache.clear()
        _cache[key] = cached
    return cached

