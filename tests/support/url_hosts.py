"""Local HTTP servers that answer like each Git host's file API (written here, in the shapes of their docs).

One `FileHost` per host type serves the same kind of content, `files[(repo, ref, path)] = bytes`, through
that host's endpoint:
- github:          GET {prefix}/repos/<o>/<r>/contents/<path>[?ref=]  (Accept: application/vnd.github.raw)
- gitlab:          GET {prefix}/projects/<id>/repository/files/<path>/raw?ref=, GET {prefix}/projects/<id>
- bitbucketCloud:  GET {prefix}/repositories/<ws>/<r>/src/<ref>/<path>, GET {prefix}/repositories/<ws>/<r>
- bitbucketServer: GET {prefix}/projects/<P>/repos/<r>/raw/<path>[?at=]
- gitea:           GET {prefix}/repos/<o>/<r>/raw/<path>[?ref=]
- plain:           GET /<path> (repo "", ref "")
Every 200 carries a strong ETag (sha of the body); a matching If-None-Match gets 304. Errors use the hosts'
JSON error bodies ({"message": "Not Found"}). Tests add `redirects`, `huge` paths, `rate_limit_once` and
`token` (then an Authorization header with it is required), and read `log` [(method, path, status)].
"""
from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.http_server import LocalHTTPServer

MB = 1024 * 1024


class FileHost(LocalHTTPServer):
    def __init__(self, style: str, *, prefix: str = "", default_branch: str = "main", token: str | None = None):
        self.style, self.prefix, self.default_branch, self.token = style, prefix, default_branch, token
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.redirects: dict[str, str] = {}       # request path -> Location
        self.huge: dict[str, bool] = {}           # request path -> send 50 MB (True: with Content-Length)
        self.rate_limit_once: set[str] = set()    # request paths answered 429 once (Retry-After: 7)
        self.log: list[tuple[str, str, int]] = []
        self.auth_seen: list[str | None] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # quiet
                pass

            def do_GET(self):   # noqa: N802
                host.handle(self)

        self._serve(Handler)
        self.url = self.base_url

    def add(self, repo: str, path: str, text: str, ref: str = "main") -> None:
        self.files[(repo, "" if self.style == "plain" else ref, path)] = text.encode()

    # -- answering --------------------------------------------------------------------------------------

    def _send(self, h, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.log.append(("GET", h.path, status))
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if body:
            h.wfile.write(body)

    def _json(self, h, status: int, data) -> None:
        self._send(h, status, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def handle(self, h) -> None:
        parts = urlsplit(h.path)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.auth_seen.append(h.headers.get("Authorization"))
        if self.token and self.token not in (h.headers.get("Authorization") or ""):
            return self._json(h, 401, {"message": "Bad credentials"})
        if h.path in self.redirects or path in self.redirects:
            return self._send(h, 302, b"", {"Location": self.redirects.get(h.path) or self.redirects[path]})
        if path in self.rate_limit_once:
            self.rate_limit_once.discard(path)
            return self._send(h, 429, b'{"message": "API rate limit exceeded"}',
                              {"Retry-After": "7", "Content-Type": "application/json"})
        if path in self.huge:
            return self._huge(h, with_length=self.huge[path])
        if not path.startswith(self.prefix):
            return self._json(h, 404, {"message": "Not Found"})
        rest = [unquote(s) for s in path[len(self.prefix):].split("/") if s]
        found = self.lookup(rest, query)
        if isinstance(found, dict):
            return self._json(h, 200, found)
        if found is None:
            return self._json(h, 404, {"message": "Not Found", "documentation_url": "https://docs.example/"})
        if self.style == "github" and h.headers.get("Accept") != "application/vnd.github.raw":
            return self._json(h, 415, {"message": "this fixture answers raw contents only"})
        etag = '"' + hashlib.sha256(found).hexdigest()[:20] + '"'
        if h.headers.get("If-None-Match") == etag:
            return self._send(h, 304, b"", {"ETag": etag})
        return self._send(h, 200, found, {"ETag": etag, "Content-Type": "text/plain; charset=utf-8"})

    def _huge(self, h, *, with_length: bool) -> None:
        self.log.append(("GET", h.path, 200))
        h.send_response(200)
        if with_length:
            h.send_header("Content-Length", str(50 * MB))
        h.end_headers()
        chunk = b"# padding\n" * 6554
        try:
            for _ in range(800):   # ~50 MB, until the client hangs up
                h.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    def lookup(self, rest: list[str], query: dict):
        """bytes of the file, a dict (a repository's JSON), or None (404)."""
        style, files = self.style, self.files
        if style == "github" and len(rest) >= 5 and rest[0] == "repos" and rest[3] == "contents":
            return files.get((f"{rest[1]}/{rest[2]}", query.get("ref", self.default_branch), "/".join(rest[4:])))
        if style == "gitlab" and len(rest) >= 2 and rest[0] == "projects":
            project = rest[1]
            if len(rest) == 2:
                return {"id": 7, "path_with_namespace": project, "default_branch": self.default_branch} \
                    if any(k[0] == project for k in files) else None
            if len(rest) >= 6 and rest[2:4] == ["repository", "files"] and rest[-1] == "raw":
                return files.get((project, query.get("ref", ""), "/".join(rest[4:-1])))
        if style == "bitbucketCloud" and len(rest) >= 3 and rest[0] == "repositories":
            repo = f"{rest[1]}/{rest[2]}"
            if len(rest) == 3:
                return {"full_name": repo, "mainbranch": {"name": self.default_branch, "type": "branch"}} \
                    if any(k[0] == repo for k in files) else None
            if len(rest) >= 6 and rest[3] == "src":
                return files.get((repo, rest[4], "/".join(rest[5:])))
        if style == "bitbucketServer" and len(rest) >= 6 and rest[0] == "projects" and rest[2] == "repos" \
                and rest[4] == "raw":
            return files.get((f"{rest[1]}/{rest[3]}", query.get("at", self.default_branch), "/".join(rest[5:])))
        if style == "gitea" and len(rest) >= 5 and rest[0] == "repos" and rest[3] == "raw":
            return files.get((f"{rest[1]}/{rest[2]}", query.get("ref", self.default_branch), "/".join(rest[4:])))
        if style == "plain":
            return files.get(("", "", "/".join(rest)))
        return None
