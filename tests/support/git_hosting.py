"""A local git host for publish:github / publish:gitlab tests: one threaded HTTP server that

- serves real repositories over git's smart HTTP protocol by running `git http-backend` as a CGI program
  (pushes need `Authorization: Basic` with the host's token; clones are anonymous, as for public repos), and
- replays the host's REST API for what the publish actions call, in the documented shapes: GitHub v3
  (`GET /users/{owner}`, `POST /orgs/{org}/repos`, `POST /user/repos`, `GET /repos/{o}/{r}`,
  `PUT .../topics`, `PUT .../branches/{b}/protection`, `POST .../pulls`) or GitLab v4 (`GET /namespaces/{id}`,
  `GET /user`, `POST /projects`, `GET /projects/{id}`, `POST /projects/{id}/merge_requests`),
  handing back clone URLs on this same server.

Every request is logged (method, path, status, the credentials it carried) for assertions.
"""
from __future__ import annotations

import base64
import json
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.support.git_http import http_backend
from tests.support.http_server import LocalHTTPServer


class GitHost(LocalHTTPServer):
    def __init__(self, root: Path, *, style: str, token: str, orgs: tuple[str, ...] = (), user: str = "octo",
                 web_host: str = "github.com") -> None:
        assert style in ("github", "gitlab")
        self.root, self.style, self.token, self.orgs, self.user, self.web_host = root, style, token, set(orgs), user, web_host
        self.repos_root = root / "repos"
        self.repos_root.mkdir(parents=True, exist_ok=True)
        self.log: list[dict] = []
        self.projects: dict[str, dict] = {}
        self.pulls: list[dict] = []
        self.protections: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:   # quiet
                pass

            def do_GET(self):  # noqa: N802
                host._handle(self)

            do_POST = do_PUT = do_GET  # noqa: N815

        self._serve(Handler)
        self.url = self.base_url
        self.netloc = f"127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v3" if self.style == "github" else f"{self.url}/api/v4"

    # -------------------------------------------------------------- request handling

    def _body(self, handler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(handler.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    handler.rfile.readline()
                    return data
                data += handler.rfile.read(size)
                handler.rfile.readline()
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""

    def _handle(self, handler) -> None:
        path = urlsplit(handler.path).path
        body = self._body(handler)
        auth = handler.headers.get("Authorization") or handler.headers.get("PRIVATE-TOKEN")
        entry = {"method": handler.command, "path": path, "auth": auth, "status": None}
        self.log.append(entry)
        if path.startswith("/git/"):
            entry["status"] = self._git(handler, body)
            return
        if not self._api_authorised(handler):
            entry["status"] = 401
            return self._json(handler, 401, {"message": "Bad credentials"})
        payload = json.loads(body) if body else None
        status, answer = (self._github if self.style == "github" else self._gitlab)(handler.command, path, payload)
        entry["status"] = status
        self._json(handler, status, answer)

    def _api_authorised(self, handler) -> bool:
        if self.style == "github":
            return handler.headers.get("Authorization") in (f"Bearer {self.token}", f"token {self.token}")
        return handler.headers.get("PRIVATE-TOKEN") == self.token

    def _json(self, handler, status: int, data) -> None:
        raw = json.dumps(data).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def _create_repo(self, namespace: str, name: str) -> Path:
        path = self.repos_root / namespace / f"{name}.git"
        if path.exists():
            raise FileExistsError(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
        return path

    def clone_url(self, namespace: str, name: str) -> str:
        return f"{self.url}/git/{namespace}/{name}.git"

    def repo_path(self, namespace: str, name: str) -> Path:
        return self.repos_root / namespace / f"{name}.git"

    # -------------------------------------------------------------- GitHub v3

    def _github_repo(self, owner: str, name: str) -> dict:
        return {"name": name, "full_name": f"{owner}/{name}", "clone_url": self.clone_url(owner, name),
                "html_url": f"https://{self.web_host}/{owner}/{name}", "default_branch": "main",
                "owner": {"login": owner}}

    def _github(self, method: str, path: str, body):
        parts = [unquote(p) for p in path.removeprefix("/api/v3/").split("/")]
        if method == "GET" and parts[0] == "users" and len(parts) == 2:
            return 200, {"login": parts[1], "type": "Organization" if parts[1] in self.orgs else "User"}
        if method == "POST" and (parts[:1] == ["orgs"] and parts[2:] == ["repos"] or parts == ["user", "repos"]):
            owner = parts[1] if parts[0] == "orgs" else self.user
            try:
                self._create_repo(owner, body["name"])
            except FileExistsError:
                return 422, {"message": "Repository creation failed.",
                             "errors": [{"message": "name already exists on this account"}]}
            self.projects[f"{owner}/{body['name']}"] = body
            return 201, self._github_repo(owner, body["name"])
        if parts[0] == "repos" and len(parts) >= 3:
            owner, name = parts[1], parts[2]
            if not self.repo_path(owner, name).exists():
                return 404, {"message": "Not Found"}
            rest = parts[3:]
            if method == "GET" and not rest:
                return 200, self._github_repo(owner, name)
            if method == "PUT" and rest == ["topics"]:
                return 200, body
            if method == "PUT" and rest[:1] == ["branches"] and rest[-1:] == ["protection"]:
                self.protections.append(f"{owner}/{name}:{rest[1]}")
                return 200, {}
            if method == "POST" and rest == ["pulls"]:
                number = len(self.pulls) + 1
                self.pulls.append({"repo": f"{owner}/{name}", **body, "number": number})
                return 201, {"number": number, "html_url": f"https://{self.web_host}/{owner}/{name}/pull/{number}"}
        return 404, {"message": "Not Found"}

    # -------------------------------------------------------------- GitLab v4

    def _gitlab_project(self, full_path: str, pid: int) -> dict:
        namespace, name = full_path.rsplit("/", 1)
        return {"id": pid, "path_with_namespace": full_path, "http_url_to_repo": self.clone_url(namespace, name),
                "web_url": f"https://{self.web_host}/{full_path}", "default_branch": "main"}

    def _gitlab(self, method: str, path: str, body):
        rest = path.removeprefix("/api/v4/")
        if method == "GET" and rest.startswith("namespaces/"):
            full = unquote(rest.removeprefix("namespaces/"))
            if full not in self.orgs:
                return 404, {"message": "404 Namespace Not Found"}
            return 200, {"id": 100 + sorted(self.orgs).index(full), "full_path": full}
        if method == "GET" and rest == "user":
            return 200, {"id": 1, "username": self.user}
        if method == "POST" and rest == "projects":
            namespace = next((o for o in self.orgs if 100 + sorted(self.orgs).index(o) == body.get("namespace_id")),
                             self.user)
            full = f"{namespace}/{body['path'] or body['name']}"
            try:
                self._create_repo(namespace, body["path"] or body["name"])
            except FileExistsError:
                return 400, {"message": {"name": ["has already been taken"]}}
            pid = len(self.projects) + 1
            self.projects[full] = {"id": pid, **body}
            return 201, self._gitlab_project(full, pid)
        if rest.startswith("projects/"):
            key, _, tail = rest.removeprefix("projects/").partition("/")
            key = unquote(key)
            full = key if "/" in key else next((p for p, v in self.projects.items() if str(v["id"]) == key), None)
            if full is None or not self.repo_path(*full.rsplit("/", 1)).exists():
                return 404, {"message": "404 Project Not Found"}
            pid = self.projects.get(full, {}).get("id", 99)
            if method == "GET" and not tail:
                return 200, self._gitlab_project(full, pid)
            if method == "POST" and tail == "merge_requests":
                iid = len(self.pulls) + 1
                self.pulls.append({"project": full, **body, "iid": iid})
                return 201, {"iid": iid, "web_url": f"https://{self.web_host}/{full}/-/merge_requests/{iid}"}
        return 404, {"message": "404 Not Found"}

    # -------------------------------------------------------------- smart HTTP through git http-backend

    def _git_user(self, handler) -> str | None:
        header = handler.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if password == self.token else None

    def _git(self, handler, body: bytes) -> int:
        url = urlsplit(handler.path)
        path_info = url.path.removeprefix("/git")
        pushing = "git-receive-pack" in url.query or path_info.endswith("/git-receive-pack")
        user = self._git_user(handler)
        if pushing and user is None:
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="git"')
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return 401
        env = {"REMOTE_USER": user or "", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self.root)}
        if user:
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.receivepack", GIT_CONFIG_VALUE_0="true")
        return http_backend(handler, self.repos_root, path_info, url.query, body, env)
