"""URLs as the outbound policy compares them: one normal form, one origin, no parser differentials.

Why a normal form: the catalog rules, the allow-list and the git client must all see the same URL. A target
like `https://host/acme/org-x/../../mallory/repo.git` matches the glob `https://host/acme/org-*` as written,
but git (curl) fetches `https://host/mallory/repo.git`. Normalising first (scheme and host case, default
ports, percent-encoded unreserved characters, dot segments) makes "what was checked" and "what is fetched"
the same string. Authorities that parsers read differently (backslashes, `@` in odd places, spaces) are
refused instead of guessed at.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418}
# scp-like git addresses: `git@github.com:acme/repo.git` (no scheme, a colon before the path)
SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._~-]+)@(?P<host>[A-Za-z0-9.-]+):(?!//)(?P<path>[^\s\\]*)$")
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")
_IPV6 = re.compile(r"^\[[0-9a-f:.]+\]$")
_UNRESERVED_ESCAPE = re.compile(r"%(2[DEde]|3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]|5[Ff]|7[Ee])")


class BadUrl(ValueError):
    """Not a URL the outbound policy can reason about (the message says why)."""


@dataclass(frozen=True)
class Origin:
    """Scheme, lower-case host and port (the default port filled in): what credentials are bound to."""

    scheme: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        """`host` or `host:port` when the port is not the scheme's default."""
        return self.host if DEFAULT_PORTS.get(self.scheme) == self.port else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def valid_host(host: str) -> bool:
    """A DNS name or IP literal (no scheme, port, path or user)."""
    return bool(_HOST.match(host) or _IPV6.match(host))


def split_host(value: str) -> tuple[str, int | None]:
    """`Host[:port]` -> (lower-case host, port or None); BadUrl when it is anything else."""
    text = value.strip().lower()
    host, port = text, None
    match = re.match(r"^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$", text)
    if not match:
        raise BadUrl(f"{value!r} is not a host name (host or host:port)")
    host, digits = match.group(1), match.group(2)
    if digits is not None:
        port = int(digits)
        if not 0 < port < 65536:
            raise BadUrl(f"{value!r}: port {port} is out of range")
    if not valid_host(host):
        raise BadUrl(f"{value!r} is not a host name (host or host:port)")
    return host, port


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, as curl and browsers apply it before sending a request."""
    out: list[str] = []
    absolute = path.startswith("/")
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
            continue
        if segment == "..":
            if len(out) > (1 if absolute else 0):
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    result = "/".join(out)
    return result if result.startswith("/") or not absolute else "/" + result


def _decode_unreserved(text: str) -> str:
    """`%2e` -> `.`, `%7E` -> `~`: escapes of unreserved characters mean the character itself (RFC 3986 6.2.2.2)."""
    return _UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def normalise_url(url: str) -> str:
    """The normal form of an absolute URL (http, https, ssh, git, file) or an scp-like git address.

    Lower-case scheme and host, default port dropped, escapes of unreserved characters decoded, dot segments
    removed from the path. Raises BadUrl for what parsers disagree on (backslashes, whitespace, control
    characters, an authority that is not `[user@]host[:port]`).
    """
    text = url.strip()
    if not text or re.search(r"[\s\\\x00-\x1f\x7f]", text):
        raise BadUrl(f"{url!r} contains spaces, backslashes or control characters")
    scp = SCP_LIKE.match(text)
    if scp and "://" not in text:
        host, _ = split_host(scp["host"])
        path = _remove_dot_segments(_decode_unreserved(scp["path"]))
        return f"{scp['user']}@{host}:{path}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS and scheme != "file":
        raise BadUrl(f"{url!r} is not an http(s), ssh, git or file URL")
    if scheme == "file":
        path = _remove_dot_segments(_decode_unreserved(parts.path))
        return urlunsplit(("file", parts.netloc.lower(), path, parts.query, parts.fragment))
    netloc = parts.netloc
    user = ""
    if "@" in netloc:
        user, _, netloc = netloc.rpartition("@")
        if not re.match(r"^[A-Za-z0-9._~-]+$", user):
            raise BadUrl(f"{url!r}: the part before '@' is not a plain user name")
    host, port = split_host(netloc)
    if port == DEFAULT_PORTS[scheme]:
        port = None
    path = _remove_dot_segments(_decode_unreserved(parts.path)) if parts.path else ""
    authority = (f"{user}@" if user else "") + host + (f":{port}" if port is not None else "")
    return urlunsplit((scheme, authority, path, parts.query, parts.fragment))


def origin_of(url: str) -> Origin:
    """The origin of an absolute URL (scp-like addresses are ssh on port 22). BadUrl otherwise."""
    text = normalise_url(url)
    scp = SCP_LIKE.match(text)
    if scp and "://" not in text:
        return Origin("ssh", scp["host"], 22)
    parts = urlsplit(text)
    if parts.scheme == "file":
        raise BadUrl(f"{url!r} is a file URL: it has no network origin")
    netloc = parts.netloc.rpartition("@")[2]
    host, port = split_host(netloc)
    return Origin(parts.scheme, host, port or DEFAULT_PORTS[parts.scheme])


def user_of(url: str) -> str:
    """The user part of a URL's authority ("" when none)."""
    text = normalise_url(url)
    scp = SCP_LIKE.match(text)
    if scp and "://" not in text:
        return scp["user"]
    netloc = urlsplit(text).netloc
    return netloc.rpartition("@")[0]


def path_of(url: str) -> str:
    """The normalised path of a URL (scp-like: the part after the colon, with a leading '/')."""
    text = normalise_url(url)
    scp = SCP_LIKE.match(text)
    if scp and "://" not in text:
        return "/" + scp["path"].lstrip("/")
    return urlsplit(text).path or "/"


def same_origin(url: str, base: str) -> bool:
    """Whether `url` goes to exactly the origin of `base` (scheme, host, port): where a credential may go."""
    try:
        return origin_of(url) == origin_of(base)
    except BadUrl:
        return False
