"""URL readers: one file named by its web URL, read through its host's API, on the integrations allow-list.

Why through the API rather than the web URL: the web page of a file is HTML, private repositories need the
host's token, and each host has its own file endpoint (as Backstage's URL readers do):
- GitHub and GitHub Enterprise: `blob|tree/<ref>/<path>` -> `{apiBaseUrl}/repos/<o>/<r>/contents/<path>?ref=`
  with `Accept: application/vnd.github.raw` (no `ref` for `HEAD`: the contents API reads the default branch);
- GitLab (and self-managed): `<project>/-/blob/<ref>/<path>` -> `{apiBaseUrl}/projects/<id>/repository/files/
  <path>/raw?ref=` (`HEAD` resolved to the project's `default_branch` first);
- Bitbucket Cloud `src/<ref>/<path>`, Bitbucket Server `browse/<path>?at=`, Azure DevOps `_git/<repo>?path=`,
  Gitea `src/branch/<ref>/<path>`: their raw-file endpoints;
- a plain allowed host (`integrations.allow`): the URL itself.

Every request goes through `plugins.http.ApiClient` (ETags, rate limits, retries, redirects followed
within the origin only) with a body cap; nothing is contacted for a URL `check_url` refuses. Tokens come from
the secrets mechanism by the integration's `token_secret_name` and travel to that integration's API only.
"""
from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from ingest.integrations.config import PLAIN, Integration, Integrations
from ingest.integrations.policy import OutboundRefused, check_url
from ingest.cache import etag_cache_for
from plugins.api import secret as read_secret
from plugins.errors import RetryableError
from plugins.http import ApiClient, BadCredentials, ProviderError, TooLarge, token_fingerprint
from plugins.urls import BadUrl, normalise_url, origin_of

DESCRIPTOR = "catalog-info.yaml"


class ReadFailed(RuntimeError):
    """A URL could not be read; the message is for the user (no network details). `not_found`: a 404."""

    def __init__(self, message: str, *, not_found: bool = False, refused: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found
        self.refused = refused


@dataclass(frozen=True)
class Request:
    """What to ask an integration's API for one file."""

    base: str                       # the API base URL (the client's origin)
    path: str                       # relative to `base`
    params: dict[str, str]
    accept: str | None = None
    json_field: str | None = None   # the answer is JSON with the file base64-encoded in this field


@dataclass(frozen=True)
class RemoteFile:
    url: str
    text: str
    not_modified: bool


@dataclass(frozen=True)
class _Parsed:
    """A file URL split into repository, ref and file path (`ref` None: the default branch)."""

    repo: str
    ref: str | None
    path: str


def _segments(url: str) -> list[str]:
    return [unquote(s) for s in urlsplit(url).path.split("/") if s]


def _under_base(entry: Integration, url: str) -> list[str]:
    """Path segments after the integration's own base path (a GitLab served under `/gitlab`, say)."""
    segs = _segments(url)
    base = _segments(entry.web_url) if entry.base_url else []
    return segs[len(base):] if segs[: len(base)] == base else segs


def parse_file_url(entry: Integration, url: str) -> _Parsed | None:
    """The repository, ref and file path a web URL names, or None when it names no file in a repository.

    A `tree/<ref>[/dir]` URL (or a directory path) names that directory's `catalog-info.yaml`.
    """
    segs = _under_base(entry, url)
    query = parse_qs(urlsplit(url).query)
    kind = entry.kind

    def ref_of(value: str | None) -> str | None:
        return None if value in (None, "", "HEAD") else value

    if kind == "github" and len(segs) >= 4 and segs[2] in ("blob", "tree", "raw"):
        path = "/".join(segs[4:])
        if segs[2] == "tree" or not path:
            path = f"{path}/{DESCRIPTOR}".lstrip("/")
        return _Parsed(f"{segs[0]}/{segs[1]}", ref_of(segs[3]), path)
    if kind == "gitlab" and "-" in segs:
        at = segs.index("-")
        rest = segs[at + 1:]
        if at >= 2 and len(rest) >= 2 and rest[0] in ("blob", "tree", "raw"):
            path = "/".join(rest[2:])
            if rest[0] == "tree" or not path:
                path = f"{path}/{DESCRIPTOR}".lstrip("/")
            return _Parsed("/".join(segs[:at]), ref_of(rest[1]), path)
    if kind == "bitbucketCloud" and len(segs) >= 4 and segs[2] == "src":
        path = "/".join(segs[4:]) or DESCRIPTOR
        return _Parsed(f"{segs[0]}/{segs[1]}", ref_of(segs[3]), path)
    if kind == "bitbucketServer" and len(segs) >= 5 and segs[0] == "projects" and segs[2] == "repos" \
            and segs[4] == "browse":
        path = "/".join(segs[5:]) or DESCRIPTOR
        return _Parsed(f"{segs[1]}/{segs[3]}", ref_of((query.get("at") or [None])[0]), path)
    if kind == "azure" and "_git" in segs and query.get("path"):
        at = segs.index("_git")
        if at >= 1 and len(segs) == at + 2:
            version = (query.get("version") or [""])[0]
            ref = version[2:] if version[:2] in ("GB", "GT", "GC") else None
            return _Parsed("/".join(segs[:at]) + "/" + segs[at + 1], ref_of(ref), query["path"][0].lstrip("/"))
    if kind == "gitea" and len(segs) >= 5 and segs[2] == "src" and segs[3] in ("branch", "tag", "commit"):
        path = "/".join(segs[5:]) or DESCRIPTOR
        return _Parsed(f"{segs[0]}/{segs[1]}", ref_of(segs[4]), path)
    return None


def is_file_url(url: str, integrations: Integrations) -> bool:
    """Whether `url` names one file read through a URL reader (else: a repository to clone, or no URL).

    On a Git host a URL names a file when it has the host's file path shape (`blob/`, `-/blob/`, `src/`,
    `browse/`, `?path=`); on a plain allowed host when it ends in `.yaml`, `.yml` or `.json` (a plain host may
    serve git over HTTP too). A repository URL (`.git`, or no file path) is cloned.
    """
    if not url.lower().startswith(("https://", "http://")):
        return False
    entry = integrations.integration_for(url)
    if entry is None:
        return False
    if entry.kind == PLAIN:
        return urlsplit(url).path.lower().endswith((".yaml", ".yml", ".json"))
    return parse_file_url(entry, url) is not None


def resolve_url(base: str, target: str) -> str:
    """`target` (absolute, or relative to the file `base`) as an absolute URL in normal form.

    Azure DevOps keeps the file in the `path` query parameter; Bitbucket Server the ref in `at`: both are
    carried over. BadUrl for what cannot be a URL.
    """
    if "://" in target:
        return normalise_url(target)
    parts = urlsplit(base)
    query = parse_qs(parts.query)
    if "_git" in parts.path.split("/") and query.get("path"):
        directory = query["path"][0].rsplit("/", 1)[0] + "/"
        resolved = urlsplit(urljoin("https://x" + directory, target)).path
        query["path"] = [resolved]
        return normalise_url(urlunsplit(parts._replace(query=urlencode({k: v[0] for k, v in query.items()}))))
    joined = urljoin(base, target)
    if "/browse/" in parts.path and query.get("at") and "?" not in target:
        joined = urlunsplit(urlsplit(joined)._replace(query=urlencode({"at": query["at"][0]})))
    return normalise_url(joined)


def edit_url(entry: Integration | None, url: str) -> str | None:
    """The host's editor for a file (Backstage's `backstage.io/edit-url`), where the host has one."""
    if entry is None:
        return None
    parts = urlsplit(url)
    if entry.kind == "github" and "/blob/" in parts.path:
        return urlunsplit(parts._replace(path=parts.path.replace("/blob/", "/edit/", 1)))
    if entry.kind == "gitlab" and "/-/blob/" in parts.path:
        return urlunsplit(parts._replace(path=parts.path.replace("/-/blob/", "/-/edit/", 1)))
    if entry.kind == "bitbucketCloud":
        return urlunsplit(parts._replace(query="mode=edit"))
    if entry.kind == "gitea" and "/src/" in parts.path:
        return urlunsplit(parts._replace(path=parts.path.replace("/src/", "/_edit/", 1)))
    if entry.kind in ("bitbucketServer", "azure"):
        return url
    return None


def _request(entry: Integration, url: str, default_branch: Callable[[str], str | None]) -> Request:
    """The API request that reads the file `url` names on `entry` (ReadFailed when it names none)."""
    if entry.kind == PLAIN:
        parts = urlsplit(url)
        origin = origin_of(url)
        return Request(f"{origin}/", urlunsplit(("", "", parts.path, parts.query, "")), {})
    parsed = parse_file_url(entry, url)
    if parsed is None:
        raise ReadFailed(f"{url} does not name a file on the {entry.kind} host {entry.host} "
                         f"(expected its file URL shape, e.g. .../blob/<branch>/catalog-info.yaml)")
    api = entry.api_base_url or entry.web_url
    ref = parsed.ref
    if entry.kind == "github":
        return Request(api, f"repos/{parsed.repo}/contents/{quote(parsed.path)}", {"ref": ref} if ref else {},
                       accept="application/vnd.github.raw")
    if entry.kind == "gitlab":
        project = quote(parsed.repo, safe="")
        ref = ref or default_branch(url)
        return Request(api, f"projects/{project}/repository/files/{quote(parsed.path, safe='')}/raw",
                       {"ref": ref or "HEAD"})
    if entry.kind == "bitbucketCloud":
        ref = ref or default_branch(url)
        return Request(api, f"repositories/{parsed.repo}/src/{quote(ref or 'HEAD', safe='')}/{quote(parsed.path)}",
                       {})
    if entry.kind == "bitbucketServer":
        project, repo = parsed.repo.split("/", 1)
        return Request(api, f"projects/{project}/repos/{repo}/raw/{quote(parsed.path)}", {"at": ref} if ref else {})
    if entry.kind == "azure":
        org_project, repo = parsed.repo.rsplit("/", 1)
        params = {"path": "/" + parsed.path, "api-version": "6.0", "$format": "octetStream"}
        if ref:
            params.update({"versionDescriptor.version": ref, "versionDescriptor.versionType": "branch"})
        return Request(f"{entry.web_url}/", f"{org_project}/_apis/git/repositories/{repo}/items", params)
    if entry.kind == "gitea":
        return Request(api, f"repos/{parsed.repo}/raw/{quote(parsed.path)}", {"ref": ref} if ref else {})
    raise ReadFailed(f"{entry.kind} URLs cannot be read")


def _auth_headers(entry: Integration, token: str | None) -> dict[str, str]:
    if not token:
        return {}
    if entry.kind in ("github", "gitea"):
        return {"Authorization": f"token {token}"}
    if entry.kind == "azure":
        return {"Authorization": "Basic " + base64.b64encode(f":{token}".encode()).decode()}
    if entry.kind == "bitbucketCloud" and entry.username:
        return {"Authorization": "Basic " + base64.b64encode(f"{entry.username}:{token}".encode()).decode()}
    return {"Authorization": f"Bearer {token}"}


class UrlReaders:
    """Reads files by URL through the integrations; one API client (and ETag cache) per host and token.

    `client_options` go to every ApiClient (tests inject clock and sleep; `max_wait` bounds rate-limit waits).
    """

    def __init__(self, integrations: Integrations, *, max_bytes: int,
                 secret: Callable[[str], str] | None = None, **client_options: Any) -> None:
        self.integrations = integrations
        self.max_bytes = max_bytes
        self.secret = secret or read_secret
        self.client_options = client_options
        self._clients: dict[tuple[str, str], Any] = {}
        self._branches: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self.stats: dict[str, int] = {"requests": 0, "not_modified": 0}

    def check(self, url: str) -> Integration:
        """The integration `url` is read through; ReadFailed(refused=True) before contacting anything."""
        try:
            return check_url(normalise_url(url), self.integrations, what="a URL location")
        except (OutboundRefused, BadUrl) as exc:
            raise ReadFailed(str(exc), refused=True) from None

    def _client(self, entry: Integration, base: str):
        token = self.secret(entry.token_secret_name) if entry.token_secret_name else None
        key = (base, token_fingerprint(token) if token else "")
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = ApiClient(base, provider=f"{entry.kind} ({entry.host})",
                                   headers=_auth_headers(entry, token),
                                   cache=etag_cache_for("url-reader\n" + "\n".join(key)), **self.client_options)
                self._clients[key] = client
            return client

    def _default_branch(self, entry: Integration, url: str) -> str | None:
        """The default branch of the repository of `url` (GitLab, Bitbucket Cloud), asked once per repository."""
        parsed = parse_file_url(entry, url)
        if parsed is None:
            return None
        key = f"{entry.host}\n{parsed.repo}"
        if key in self._branches:
            return self._branches[key]
        api = entry.api_base_url or entry.web_url
        client = self._client(entry, api)
        if entry.kind == "gitlab":
            page = self._ask(lambda: client.get(f"projects/{quote(parsed.repo, safe='')}", allow_404=True), url)
            branch = page.body.get("default_branch") if page and isinstance(page.body, dict) else None
        else:
            page = self._ask(lambda: client.get(f"repositories/{parsed.repo}", allow_404=True), url)
            main = page.body.get("mainbranch") if page and isinstance(page.body, dict) else None
            branch = main.get("name") if isinstance(main, dict) else None
        self._branches[key] = branch if isinstance(branch, str) else None
        return self._branches[key]

    def _ask(self, call: Callable[[], Any], url: str) -> Any:
        try:
            return call()
        except TooLarge:
            raise ReadFailed(f"{url} is larger than the limit of {self.max_bytes:,} bytes") from None
        except BadCredentials:
            raise ReadFailed(f"{url}: the host refused this server's credentials (401)") from None
        except ProviderError as exc:
            if "redirect" in str(exc) or "another host" in str(exc):
                raise ReadFailed(f"{url} redirects to another host; refused (only the configured host is "
                                 f"read)", refused=True) from None
            raise ReadFailed(f"{url} could not be read: {exc}") from None
        except RetryableError as exc:
            raise ReadFailed(f"{url} could not be read: {exc}") from None

    def read(self, url: str) -> RemoteFile:
        """The text of the file `url` names (UTF-8). ReadFailed: refused, missing, too large, unreadable."""
        entry = self.check(url)
        request = _request(entry, url, lambda u: self._default_branch(entry, u))
        client = self._client(entry, request.base)
        raw = self._ask(lambda: client.get_bytes(request.path, request.params or None, max_bytes=self.max_bytes,
                                                 allow_404=True, accept=request.accept), url)
        self.stats["requests"] += 1
        if raw is None:
            raise ReadFailed(f"{url} does not exist (404)", not_found=True)
        if raw.not_modified:
            self.stats["not_modified"] += 1
        try:
            text = raw.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReadFailed(f"{url} is not valid UTF-8 (byte offset {exc.start})") from None
        return RemoteFile(url, text[1:] if text.startswith("\ufeff") else text, raw.not_modified)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
