"""What an action's context does for it (plugins.api.ActionContext delegates here): paths, fetching, the
templater, integrations, git and HTTP, each enforcing the rules once so no action can get them wrong.

- git runs with no user/system config, no hooks, no fsmonitor, no redirects, ordinary transports only, a
  throwaway HOME, a time limit; credentials go in an `http.<url>.extraHeader` scoped to the remote, never in
  argv, the URL or a file;
- HTTP goes only to allow-listed integration URLs, a token only to its own integration's hosts, with a
  timeout and a size cap on answers;
- fetching by URL goes through the same allow-list (the repository is found through the host's REST API and
  cloned shallow); relative fetches stay inside the template's location and never follow links.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urljoin, urlsplit

import requests

from plugins.api import ActionError, ActionIntegration
from scaffolder.config import ScaffolderConfig
from scaffolder.expressions import Templater
from scaffolder.filters import backstage_filters
from scaffolder.integrations import REPOSITORY_HOSTS, Integrations
from scaffolder.workspace import (Budget, WorkspaceError, copy_file, copy_tree, relative_parts, safe_child,
                                  check_entry)

MAX_HTTP_BYTES = 10 * 1024 * 1024
_GITHUB_TREE = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?(?:/(?:tree|blob)/(?P<ref>[^/]+)(?:/(?P<path>.*))?)?/?$")
_GITLAB_TREE = re.compile(r"^/(?P<project>.+?)(?:\.git)?(?:/-/(?:tree|blob)/(?P<ref>[^/]+)(?:/(?P<path>.*))?)?/?$")


@dataclass(frozen=True)
class TemplateBase:
    """Where a template's relative `url:`s resolve: a folder on disk (inside `root`, which nothing may
    leave: the git working tree or registered location) or a URL of an allowed integration."""

    dir: Path | None = None
    root: Path | None = None
    url: str | None = None

    def as_json(self) -> dict:
        return {"dir": str(self.dir) if self.dir else None, "root": str(self.root) if self.root else None,
                "url": self.url}

    @classmethod
    def from_json(cls, data: dict | None) -> "TemplateBase":
        data = data or {}
        return cls(dir=Path(data["dir"]) if data.get("dir") else None,
                   root=Path(data["root"]) if data.get("root") else None, url=data.get("url"))

    @property
    def base_url(self) -> str | None:
        if self.url:
            return self.url
        return f"file://{self.dir}/template.yaml" if self.dir else None


def git_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C", "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes",
    }
    env.update(extra or {})
    return env


GIT_SAFETY = ["-c", "core.hooksPath=" + os.devnull, "-c", "core.fsmonitor=false", "-c", "http.followRedirects=false",
              "-c", "protocol.ext.allow=never", "-c", "protocol.fd.allow=never", "-c", "commit.gpgsign=false",
              "-c", "core.symlinks=false", "-c", "submodule.recurse=false", "-c", "credential.helper="]


class Services:
    """The helpers of one task's action contexts."""

    def __init__(self, *, workspace: Path, scratch: Path, base: TemplateBase, integrations: Integrations,
                 config: ScaffolderConfig, allowed: set[str], reveal: Callable[[str], None],
                 log: Callable[[str, str], None], dry_run: bool) -> None:
        self.workspace = workspace
        self.scratch = scratch
        self.base = base
        self.integrations = integrations
        self.config = config
        self.allowed_actions = allowed
        self.reveal = reveal          # every credential handed out is added to the task's masks
        self.log = log
        self.dry_run = dry_run
        self.budget = Budget(config.workspace)
        self._templaters: dict[tuple, Templater] = {}
        self._temps: list[Path] = []
        self.home = scratch / "home"
        self.home.mkdir(parents=True, exist_ok=True)

    # -------------------------------------------------------------- paths

    def resolve(self, relative: str | None, *, under: Path | None = None) -> Path:
        root = Path(under) if under is not None else self.workspace
        if under is not None:
            try:
                Path(under).relative_to(self.workspace)
            except ValueError:
                raise ActionError("paths may only be resolved inside the workspace") from None
        try:
            return safe_child(root, relative)
        except WorkspaceError as exc:
            raise ActionError(str(exc)) from None

    def create_temporary_directory(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="step-", dir=self.scratch))
        self._temps.append(path)
        return path

    def cleanup_step(self) -> None:
        for path in self._temps:
            shutil.rmtree(path, ignore_errors=True)
        self._temps.clear()

    def allowed(self, permission: str) -> bool:
        return permission in self.allowed_actions

    # -------------------------------------------------------------- templater

    def templater(self, *, cookiecutter_compat: bool = False, trim_blocks: bool = False,
                  lstrip_blocks: bool = False) -> Templater:
        key = (bool(cookiecutter_compat), bool(trim_blocks), bool(lstrip_blocks))
        if key not in self._templaters:
            self._templaters[key] = Templater(backstage_filters(self.integrations), limits=self.config.render,
                                              cookiecutter_compat=key[0], trim_blocks=key[1], lstrip_blocks=key[2])
        return self._templaters[key]

    # -------------------------------------------------------------- integrations and HTTP

    def integration_for(self, url: str) -> ActionIntegration | None:
        item = self.integrations.for_url(url)
        if item is None:
            return None
        token = item.token()
        if token:
            self.reveal(token)
        return ActionIntegration(type=item.type, host=item.host, api_base_url=item.api_base_url, token=token)

    def http(self, method: str, url: str, *, json_body: Any = None, token: str | None = None,
             auth_scheme: str = "Bearer", params: dict | None = None) -> tuple[int, Any]:
        return http_request(self.integrations, self.config.http_timeout, self.reveal, method, url,
                            json_body=json_body, token=token, auth_scheme=auth_scheme, params=params)

    # -------------------------------------------------------------- git

    def git(self, args: list[str], *, cwd: Path | None = None, git_dir: Path | None = None,
            remote_url: str | None = None, username: str | None = None, password: str | None = None,
            work_tree: Path | None = None) -> str:
        extra: dict[str, str] = {"GIT_AUTHOR_NAME": self.config.author_name, "GIT_AUTHOR_EMAIL": self.config.author_email,
                                 "GIT_COMMITTER_NAME": self.config.author_name,
                                 "GIT_COMMITTER_EMAIL": self.config.author_email}
        if password:
            if not remote_url:
                raise ActionError("git credentials need the remote URL they are for")
            self.reveal(password)
            basic = base64.b64encode(f"{username or 'x-access-token'}:{password}".encode()).decode()
            self.reveal(basic)
            scope = _url_prefix(remote_url)
            extra.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{scope}.extraHeader",
                          "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"})
        if git_dir is not None:
            extra["GIT_DIR"] = str(git_dir)
            if work_tree is None and cwd is not None:
                work_tree = cwd      # the work tree is where the command runs (also for a bare git folder)
        if work_tree is not None:
            extra["GIT_WORK_TREE"] = str(work_tree)
        try:
            proc = subprocess.run(["git", *GIT_SAFETY, *args], cwd=cwd or self.scratch, env=git_env(self.home, extra),
                                  capture_output=True, text=True, timeout=self.config.git_timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ActionError(f"git {args[0]} timed out after {self.config.git_timeout:.0f} s") from None
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.strip().splitlines() if line.strip()] or ["unknown error"]
            raise ActionError(f"git {args[0]} failed: {lines[-1][:500]}")
        return proc.stdout

    def git_remote(self, url: str) -> dict[str, Any]:
        """A publish:git remote: a local bare repository under scaffolder.git_roots (made if missing), or a
        URL of an allowed integration (with its credentials)."""
        if not isinstance(url, str) or not url:
            raise ActionError("remoteUrl is required")
        local: Path | None = None
        if url.startswith("file://"):
            local = Path(url[len("file://"):])
        elif url.startswith("/"):
            local = Path(url)
        if local is not None:
            if not self.config.git_roots:
                raise ActionError("publishing to a local repository needs scaffolder.git_roots in TRELLIS_CONFIG")
            parts = relative_parts(str(local).lstrip("/"), what="remoteUrl")
            target = Path("/", *parts)
            root = next((r for r in self.config.git_roots if _inside(target, r)), None)
            if root is None:
                raise ActionError(f"{target} is not under an allowed git root "
                                  f"({', '.join(map(str, self.config.git_roots))})")
            try:
                target = safe_child(root, os.path.relpath(target, root), what="remoteUrl")
            except WorkspaceError as exc:
                raise ActionError(str(exc)) from None
            if not self.dry_run and not target.exists():
                target.mkdir(parents=True)
                self.git(["init", "-q", "--bare", str(target)])
            return {"url": f"file://{target}", "local_path": target, "integration": None}
        if not url.startswith(("https://", "http://")):
            raise ActionError(f"remoteUrl {url!r}: use https:// URLs of an allowed integration or a local path under "
                              f"scaffolder.git_roots")
        integration = self.integration_for(url)
        if integration is None:
            raise ActionError(f"{_host(url)} is not an allowed integration host (integrations: in TRELLIS_CONFIG)")
        return {"url": url, "local_path": None, "integration": integration}

    # -------------------------------------------------------------- fetching

    def fetch(self, url: str, dest: Path, *, file: bool) -> None:
        """Copy what `url` names into `dest` (a path from `resolve`)."""
        if not isinstance(url, str) or not url:
            raise ActionError("url is required")
        try:
            if "://" in url:
                self._fetch_url(url, dest, file=file)
            elif self.base.dir is not None and self.base.root is not None:
                self._fetch_local(url, dest, file=file)
            elif self.base.url:
                self._fetch_url(urljoin(self.base.url, url), dest, file=file)
            else:
                raise ActionError(f"cannot fetch {url!r}: the template's location is not known (use an absolute URL)")
        except WorkspaceError as exc:
            raise ActionError(str(exc)) from None

    def _fetch_local(self, url: str, dest: Path, *, file: bool) -> None:
        root, base_dir = self.base.root, self.base.dir
        assert root is not None and base_dir is not None
        try:
            start = os.path.relpath(base_dir, root)
        except ValueError:
            raise ActionError("the template's folder is outside its location") from None
        joined = os.path.normpath(os.path.join(start, url))
        if joined == ".." or joined.startswith("../") or os.path.isabs(joined):
            raise ActionError(f"{url!r} leaves the template's location ({root})")
        source = safe_child(root, joined, what="url")
        self._copy_in(source, dest, file=file, shown=url)

    def _copy_in(self, source: Path, dest: Path, *, file: bool, shown: str) -> None:
        if not os.path.lexists(source):
            raise ActionError(f"{shown!r} does not exist in the template's location")
        if file:
            info = check_entry(source, shown)
            if not os.path.isfile(source):
                raise ActionError(f"{shown!r} is not a file")
            self.budget.add(info.st_size, shown)
            dest.parent.mkdir(parents=True, exist_ok=True)
            copy_file(source, dest, info)
        else:
            if not os.path.isdir(source) or os.path.islink(source):
                raise ActionError(f"{shown!r} is not a folder")
            copy_tree(source, dest, self.budget)

    def _fetch_url(self, url: str, dest: Path, *, file: bool) -> None:
        integration = self.integrations.for_url(url)
        if integration is None:
            raise ActionError(f"fetching {_host(url)} is not allowed: it is not a configured integration host")
        if integration.type not in REPOSITORY_HOSTS:
            raise ActionError(f"fetching {_host(url)}: fetch actions read GitHub and GitLab repositories; this host "
                              f"is a `{integration.type}` integration")
        path = urlsplit(url).path
        if integration.type == "github":
            match = _GITHUB_TREE.match(path)
            if not match:
                raise ActionError(f"{url} is not a GitHub repository, tree or blob URL")
            status, repo = self.http("GET", f"{integration.api_base_url}/repos/{match['owner']}/{match['repo']}")
            clone = repo.get("clone_url") if status == 200 and isinstance(repo, dict) else None
        else:
            match = _GITLAB_TREE.match(path)
            if not match:
                raise ActionError(f"{url} is not a GitLab project, tree or blob URL")
            status, repo = self.http("GET", f"{integration.api_base_url}/projects/{quote(match['project'], safe='')}",
                                     auth_scheme="PRIVATE-TOKEN")
            clone = repo.get("http_url_to_repo") if status == 200 and isinstance(repo, dict) else None
        if not clone:
            raise ActionError(f"{url}: the repository was not found (HTTP {status})")
        if not integration.allows(clone):
            raise ActionError(f"{url}: the host answered with a clone URL on another host ({_host(clone)})")
        checkout = Path(tempfile.mkdtemp(prefix="fetch-", dir=self.scratch))
        self._temps.append(checkout)
        args = ["clone", "-q", "--depth", "1", "--no-tags"]
        if match["ref"] and match["ref"] != "HEAD":
            args += ["--branch", match["ref"]]
        token = integration.token()
        username = "oauth2" if integration.type == "gitlab" else "x-access-token"
        self.git([*args, "--", clone, str(checkout / "repo")], remote_url=clone, username=username, password=token)
        repo_dir = checkout / "repo"
        shutil.rmtree(repo_dir / ".git", ignore_errors=True)
        sub = (match["path"] or "").strip("/")
        source = safe_child(repo_dir, sub, what="url") if sub else repo_dir
        self._copy_in(source, dest, file=file, shown=url)


def http_request(integrations: Integrations, timeout: float, reveal: Callable[[str], None], method: str, url: str,
                 *, json_body: Any = None, token: str | None = None, auth_scheme: str = "Bearer",
                 params: dict | None = None) -> tuple[int, Any]:
    """A JSON request to an allow-listed URL (ActionError otherwise), no redirects, a timeout, a size cap."""
    integration = integrations.for_url(url)
    if integration is None:
        raise ActionError(f"{_host(url)} is not an allowed integration host (integrations: in TRELLIS_CONFIG)")
    if token is None:
        token = integration.token()
    headers = {"Accept": "application/json", "User-Agent": "trellis-scaffolder"}
    if token:
        reveal(token)
        if auth_scheme == "PRIVATE-TOKEN":
            headers["PRIVATE-TOKEN"] = token
        else:
            headers["Authorization"] = f"{auth_scheme} {token}" if auth_scheme else token
    try:
        response = requests.request(method, url, json=json_body, params=params, headers=headers, timeout=timeout,
                                    allow_redirects=False, stream=True)
        raw = response.raw.read(MAX_HTTP_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ActionError(f"{method} {_host(url)} failed: {type(exc).__name__}") from None
    if len(raw) > MAX_HTTP_BYTES:
        raise ActionError(f"the answer of {_host(url)} is larger than {MAX_HTTP_BYTES:,} bytes")
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")[:500]
    return response.status_code, body


def _host(url: str) -> str:
    return urlsplit(url).netloc or url[:60]


def _url_prefix(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False
