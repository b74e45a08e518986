"""The door's HTTP client, shared by every provider plugin and ingest's URL readers: JSON GETs with pagination, rate limits, retries and ETags.

Why one module: GitHub and GitLab differ in headers, not in how a careful client behaves.
- Pagination follows `Link: <...>; rel="next"` (GitHub, GitLab) or GitLab's `X-Next-Page`.
- Rate limits: a 403/429 carrying `Retry-After`, or `x-ratelimit-remaining: 0` with `x-ratelimit-reset`
  (GitLab: `ratelimit-remaining`/`ratelimit-reset`), sleeps until the reset and resumes; a wait longer than
  `max_wait` raises `RateLimited` (retryable: the job framework runs the source again later).
- 5xx and connection failures: bounded retries with exponential backoff, then `Unavailable` (retryable).
- 401: `BadCredentials`, a clear run error; raised before anything is loaded, so nothing is deleted.
- Conditional requests: every 200 with an `ETag` is cached under `$TRELLIS_CACHE/http/` (the directory is given: `etag_cache_in`); the next request
  sends `If-None-Match` and a 304 reuses the cached body (and its next-page link). GitHub does not count
  304s against the rate limit, which is what makes a no-change re-sync of a large organisation cheap.
- Credentials stay home: a client's headers (its token) go only to the origin (scheme, host, port) of its
  base URL. Redirects are followed by hand, within that origin only; a redirect elsewhere (or an absolute
  URL elsewhere) is refused, not followed without the token: the answer would not be the host's anyway.
Clock and sleep are injectable so tests exercise the waits without waiting.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import orjson
import requests
from requests.adapters import HTTPAdapter

from plugins.errors import RetryableError
from plugins.urls import same_origin

USER_AGENT = "trellis-developer-portal"
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class ProviderError(RuntimeError):
    """The provider answered something we cannot use (not retried: retrying would get the same answer)."""


class BadCredentials(ProviderError):
    """401: the token is missing, wrong, expired or revoked."""


class RateLimited(RetryableError):
    """The rate limit resets later than we are willing to wait in this run."""


class Unavailable(RetryableError):
    """5xx or network failures persisted through every retry."""


@dataclass
class Page:
    """One JSON answer: its body, the next page's URL (if any), and whether it came from the ETag cache."""

    body: Any
    next_url: str | None = None
    not_modified: bool = False


@dataclass
class Raw:
    """One file's bytes, and whether they came from the ETag cache (the server answered 304)."""

    content: bytes
    not_modified: bool = False


class TooLarge(ProviderError):
    """A body over the caller's size cap (refused; retrying would get the same answer)."""


@dataclass
class HttpStats:
    """What a run cost, for logs and the benchmark."""

    requests: int = 0          # HTTP requests sent (retries included)
    not_modified: int = 0      # 304 answers served from the ETag cache
    not_found: int = 0         # 404 answers (e.g. repositories without a descriptor)
    retries: int = 0           # 5xx / network retries
    rate_limit_waits: int = 0  # sleeps for a rate-limit reset
    slept: float = 0.0         # seconds slept, in total
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class EtagCache:
    """`If-None-Match` validators and bodies, one small file per URL, written atomically.

    Only a shortcut: a missing, corrupt or foreign entry just means a full request.
    """

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            entry = orjson.loads(self._path(key).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or "body" not in entry or not isinstance(entry.get("etag"), (str, type(None))):
            return None
        return entry

    def put(self, key: str, etag: str | None, body: bytes | None, next_url: str | None) -> None:
        """Remember an answer; `etag=None, body=None` remembers a 404 (only reused with `reuse_cached`)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            text = body.decode("utf-8") if body is not None else None
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps({"etag": etag, "next": next_url, "body": text}))
            os.replace(tmp, path)
        except (OSError, UnicodeDecodeError):
            pass


def etag_cache_in(root: Path, namespace: str) -> EtagCache:
    """The cache directory of one API endpoint + credential under `root` (hashed: neither appears in the
    path). Where `root` is (`$TRELLIS_CACHE/http`) is ingest's to say: plugins get theirs from the context."""
    name = hashlib.sha256(namespace.encode()).hexdigest()[:24]
    return EtagCache(root / name)


def next_page_url(url: str, headers: Any) -> str | None:
    """The next page from `Link: <url>; rel="next"`, else GitLab's `X-Next-Page` (a page number)."""
    link = headers.get("Link") or headers.get("link")
    if link:
        for part in link.split(","):
            section = part.split(";")
            if len(section) < 2:
                continue
            target = section[0].strip()
            if any(p.strip().replace(" ", "") in ('rel="next"', "rel=next") for p in section[1:]):
                if target.startswith("<") and target.endswith(">"):
                    return urljoin(url, target[1:-1])
    page = (headers.get("X-Next-Page") or headers.get("x-next-page") or "").strip()
    if page:
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
        query.append(("page", page))
        return urlunsplit(parts._replace(query=urlencode(query)))
    return None


def rate_limit_wait(status: int, headers: Any, now: float) -> float | None:
    """Seconds to wait before retrying a rate-limited answer, or None if this is not a rate limit.

    GitHub: 403 or 429 with `retry-after` (secondary limits) or `x-ratelimit-remaining: 0` +
    `x-ratelimit-reset` (epoch seconds). GitLab: 429 with `Retry-After` or `RateLimit-Reset`.
    """
    if status not in (403, 429):
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 60.0   # an HTTP date: rare; a minute is the documented minimum anyway
    for prefix in ("x-ratelimit", "ratelimit"):
        remaining = headers.get(f"{prefix}-remaining")
        reset = headers.get(f"{prefix}-reset")
        if remaining is not None and remaining.strip() == "0" and reset is not None:
            try:
                return max(0.0, float(reset) - now) + 1.0   # +1: the reset second itself
            except ValueError:
                return 60.0
    if status == 429:
        return 60.0
    return None


class ApiClient:
    """GET-only JSON client for one API base URL with one credential."""

    def __init__(
        self,
        base_url: str,
        *,
        provider: str,
        headers: dict[str, str] | None = None,
        cache: EtagCache | None = None,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 900.0,
        max_rate_limit_waits: int = 5,
        timeout: float = 30.0,
        pool_size: int = 10,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.provider = provider
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        self.cache = cache
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.max_rate_limit_waits = max_rate_limit_waits
        self.timeout = timeout
        self.pool_size = pool_size
        self.clock = clock
        self.sleep = sleep
        self.stats = HttpStats()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def _session(self) -> requests.Session:
        """One session per thread (requests' Session is not documented as thread-safe)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self.headers)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def url(self, path: str, params: dict | None = None) -> str:
        """An absolute URL for an API path (absolute URLs, e.g. next-page links, are kept as they are)."""
        url = path if "://" in path else urljoin(self.base_url, path.lstrip("/"))
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return url

    def _wait(self, seconds: float) -> None:
        self.stats.add(slept=seconds)
        self.sleep(seconds)

    def get(self, path: str, params: dict | None = None, *, allow_404: bool = False,
            reuse_cached: bool = False) -> Page | None:
        """One JSON GET; None for a 404 when `allow_404`. Raises ProviderError / RetryableError subclasses.

        `reuse_cached`: answer from the cache without asking when it has this URL (a webhook re-sync of one
        repository uses it for all the others); otherwise the cache only supplies `If-None-Match`.
        """
        url = self.url(path, params)
        self._check_origin(url)
        key = hashlib.sha256(url.encode()).hexdigest()
        cached = self.cache.get(key) if self.cache is not None else None
        if reuse_cached and cached is not None:
            if cached["body"] is None:
                return None if allow_404 else self.get(path, params, allow_404=allow_404)
            return Page(_json(cached["body"].encode(), self.provider, url), cached.get("next"), True)
        answer = self._exchange(url, key, cached, allow_404=allow_404)
        if answer is None:
            return None
        content, next_url, not_modified = answer
        return Page(_json(content, self.provider, url), next_url, not_modified)

    def get_bytes(self, path: str, params: dict | None = None, *, max_bytes: int, allow_404: bool = False,
                  accept: str | None = None) -> Raw | None:
        """One GET of a file's bytes (UTF-8 text: the ETag cache stores text), at most `max_bytes` of them.

        Why a size cap here: a remote file is read by the server on behalf of whoever registered its URL; a
        `Content-Length` over the cap is refused before the body is read, and a body that keeps coming is cut
        off at `max_bytes + 1` (TooLarge either way). Same retries, rate-limit waits, ETags and same-origin
        redirects as `get`. `accept` replaces the Accept header (GitHub's contents API answers raw bytes to
        `application/vnd.github.raw`).
        """
        url = self.url(path, params)
        self._check_origin(url)
        key = hashlib.sha256(f"{accept}\n{url}".encode()).hexdigest()
        cached = self.cache.get(key) if self.cache is not None else None
        headers = {"Accept": accept} if accept else {}
        answer = self._exchange(url, key, cached, allow_404=allow_404, max_bytes=max_bytes, extra=headers)
        if answer is None:
            return None
        content, _, not_modified = answer
        return Raw(content, not_modified)

    def _exchange(self, url: str, key: str, cached: dict | None, *, allow_404: bool, max_bytes: int | None = None,
                  extra: dict[str, str] | None = None) -> tuple[bytes, str | None, bool] | None:
        """The request loop both GETs share: (body, next-page URL, served from the ETag cache) or None (404)."""
        if cached is not None and cached["etag"] is None:
            cached = None   # a remembered 404: nothing to validate against
        failures = 0
        waits = 0
        while True:
            headers = {**(extra or {}), **({"If-None-Match": cached["etag"]} if cached else {})}
            try:
                response = self._fetch(url, headers, stream=max_bytes is not None)
            except requests.RequestException as exc:
                self.stats.add(requests=1)
                failures += 1
                if failures > self.max_retries:
                    raise Unavailable(f"{self.provider} could not be reached at {_shown(url)} after "
                                      f"{failures} attempts: {type(exc).__name__}") from None
                self.stats.add(retries=1)
                self._wait(self.backoff * 2 ** (failures - 1))
                continue
            self.stats.add(requests=1)
            status = response.status_code
            if status == 304 and cached:
                response.close()
                self.stats.add(not_modified=1)
                return cached["body"].encode(), cached.get("next"), True
            if status == 401:
                response.close()
                raise BadCredentials(
                    f"bad credentials: {self.provider} refused the token (401) for {_shown(url)}; "
                    f"check the source's token secret")
            wait = rate_limit_wait(status, response.headers, self.clock())
            if wait is not None:
                response.close()
                waits += 1
                if wait > self.max_wait or waits > self.max_rate_limit_waits:
                    raise RateLimited(
                        f"{self.provider} rate limit exhausted; it resets in {wait:.0f} s, longer than this run "
                        f"waits ({self.max_wait:.0f} s)" if wait > self.max_wait else
                        f"{self.provider} still rate-limited after {waits - 1} waits", retry_after=wait)
                self.stats.add(rate_limit_waits=1)
                self._wait(wait)
                continue
            if status >= 500:
                response.close()
                failures += 1
                if failures > self.max_retries:
                    raise Unavailable(f"{self.provider} answered {status} for {_shown(url)} "
                                      f"{failures} times in a row")
                self.stats.add(retries=1)
                self._wait(self.backoff * 2 ** (failures - 1))
                continue
            if status == 404 and allow_404:
                response.close()
                self.stats.add(not_found=1)
                if self.cache is not None:
                    self.cache.put(key, None, None, None)
                return None
            if status >= 400:
                message = _message(response)
                response.close()
                raise ProviderError(f"{self.provider} answered {status} for {_shown(url)}: {message}")
            content = response.content if max_bytes is None else _limited_body(response, max_bytes, self.provider,
                                                                                url)
            next_url = next_page_url(url, response.headers)
            etag = response.headers.get("ETag")
            if etag and self.cache is not None:
                self.cache.put(key, etag, content, next_url)
            return content, next_url, False

    def _check_origin(self, url: str) -> None:
        """Refuse a request (an absolute URL, a redirect) outside the base URL's origin: the token goes with it."""
        if not same_origin(url, self.base_url):
            raise ProviderError(f"{self.provider}: refusing to send this source's credentials to "
                                f"{urlsplit(url).netloc or url} (a redirect or link to another host than "
                                f"{urlsplit(self.base_url).netloc}); only the configured host is asked")

    def _fetch(self, url: str, headers: dict[str, str], *, stream: bool = False) -> requests.Response:
        """One GET, following redirects by hand and only within the base URL's origin."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._session().get(url, headers=headers, timeout=self.timeout, allow_redirects=False,
                                           stream=stream)
            if response.status_code not in _REDIRECTS or not response.headers.get("Location"):
                return response
            target = urljoin(url, response.headers["Location"])
            response.close()
            self._check_origin(target)
            url = target
        raise ProviderError(f"{self.provider}: more than {MAX_REDIRECTS} redirects for {_shown(url)}")

    def pages(self, path: str, params: dict | None = None, *, max_pages: int = 10_000,
              reuse_cached: bool = False) -> Iterator[Page]:
        """Every page of a paginated list, following next-page links."""
        url: str | None = self.url(path, params)
        seen: set[str] = set()
        home = urlsplit(self.base_url)[:2]
        while url:
            if url in seen or len(seen) >= max_pages:
                raise ProviderError(f"{self.provider} pagination does not end (at {_shown(url)})")
            if urlsplit(url)[:2] != home:   # the token goes with every request: never to another host
                raise ProviderError(f"{self.provider} pagination points to another host ({urlsplit(url).netloc})")
            seen.add(url)
            page = self.get(url, reuse_cached=reuse_cached)
            assert page is not None
            yield page
            url = page.next_url

    def items(self, path: str, params: dict | None = None, *, reuse_cached: bool = False) -> Iterator[Any]:
        """Every item of a paginated JSON list."""
        for page in self.pages(path, params, reuse_cached=reuse_cached):
            if not isinstance(page.body, list):
                raise ProviderError(f"{self.provider} returned {type(page.body).__name__} where a list was "
                                    f"expected ({_shown(self.url(path))})")
            yield from page.body

    def close(self) -> None:
        """Close every thread's session (their pooled connections)."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()


def _limited_body(response: requests.Response, max_bytes: int, provider: str, url: str) -> bytes:
    """At most `max_bytes` of a streamed body: refused on its Content-Length first, else cut off while read."""
    too_large = TooLarge(f"{provider}: {_shown(url)} is larger than the limit of {max_bytes:,} bytes")
    try:
        declared = int(response.headers.get("Content-Length") or -1)
    except ValueError:
        declared = -1
    if declared > max_bytes:
        response.close()
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)


def _json(content: bytes, provider: str, url: str) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        raise ProviderError(f"{provider} returned a body that is not JSON for {_shown(url)}") from None


def _message(response: requests.Response) -> str:
    """The provider's own error message (`message` in both GitHub's and GitLab's error bodies)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "error"
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if message:
            return str(message)[:300]
    return response.reason or "error"


def _shown(url: str) -> str:
    """A URL for messages: path and query only (no credentials ever travel in URLs here, but be safe)."""
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


def token_fingerprint(token: str) -> str:
    """A short, one-way tag of a token, so two credentials never share ETag cache entries."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
