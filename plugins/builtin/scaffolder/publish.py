"""publish:git, publish:github, publish:gitlab, publish:github:pull-request, publish:gitlab:merge-request.

Repositories are created through the host's REST API (GitHub's and GitLab's documented endpoints) with the
integration's token, and the workspace is pushed over git to the clone URL the host hands back, which must
be on the same integration's hosts. Commits are made in a git folder outside the workspace (a skeleton can
carry no `.git` of its own, and git reads no hooks or config from it). `publish:git` pushes to any remote of
an allowed integration, or to a bare repository under `scaffolder.git_roots` (created when missing).
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from plugins.api import ActionContext, ActionError, ActionIntegration, TemplateAction
from plugins.builtin.scaffolder._files import read_bytes, walk, write_bytes

_COMMON = {
    "sourcePath": {"type": "string", "title": "Source Path",
                   "description": "Path within the workspace that is used as the repository root"},
    "defaultBranch": {"type": "string", "title": "Default Branch"},
    "gitCommitMessage": {"type": "string", "title": "Git Commit Message"},
    "gitAuthorName": {"type": "string", "title": "Default Author Name"},
    "gitAuthorEmail": {"type": "string", "title": "Default Author Email"},
    "description": {"type": "string", "title": "Repository Description"},
}
_PUBLISH_OUTPUT = {"type": "object", "properties": {
    "remoteUrl": {"type": "string", "examples": ["https://git.example.com/acme/example.git"]},
    "repoContentsUrl": {"type": "string", "examples": ["https://git.example.com/acme/example/blob/main"]},
    "commitHash": {"type": "string", "examples": ["0000000000000000000000000000000000000000"]}}}


def parse_repo_url(value: str) -> dict:
    if not isinstance(value, str) or not value:
        raise ActionError("repoUrl is required (host?owner=o&repo=r)")
    parts = urlsplit("https://" + value)
    query = {k: v[0].strip("/") for k, v in parse_qs(parts.query).items()}
    if not parts.netloc or not query.get("repo"):
        raise ActionError(f"Invalid repo URL passed to publisher: {value}, missing repo")
    return {"host": parts.netloc, **query}


def _integration(ctx: ActionContext, host: str, kind: str, token: str | None) -> ActionIntegration:
    found = ctx.integration_for(f"https://{host}/")
    if found is None:
        # an operator-configured http host (a lab server) is allowed as http
        found = ctx.integration_for(f"http://{host}/")
    if found is None or found.type != kind:
        raise ActionError(f"No matching {kind} integration configuration for host {host}, please check your "
                          f"integrations config")
    if token:
        found = ActionIntegration(found.type, found.host, found.api_base_url, token)
    if not found.token:
        raise ActionError(f"No token available for host {host} (set the integration's token_secret_name secret)")
    return found


def _allowed_clone(ctx: ActionContext, integration: ActionIntegration, clone_url: str) -> str:
    check = ctx.integration_for(clone_url)
    if not clone_url or check is None or check.host != integration.host:
        raise ActionError(f"the host answered with a clone URL outside its integration ({urlsplit(clone_url).netloc})")
    return clone_url


def commit_workspace(ctx: ActionContext, source: Path, *, branch: str, message: str, author_name: str | None,
                     author_email: str | None) -> tuple[Path, str]:
    """A fresh repository (outside the workspace) holding one commit of `source`; returns (git dir, hash)."""
    if not source.is_dir():
        raise ActionError("the source path is not a folder of the workspace")
    git_dir = ctx.create_temporary_directory() / "repo.git"
    ctx.git(["init", "-q", "--bare", "--initial-branch", branch, str(git_dir)])
    ctx.git(["add", "-A", "."], git_dir=git_dir, cwd=source)
    identity = []
    if author_name:
        identity += ["-c", f"user.name={author_name}"]
    if author_email:
        identity += ["-c", f"user.email={author_email}"]
    env_author = []
    if author_name or author_email:
        env_author = ["--author", f"{author_name or 'Trellis'} <{author_email or 'trellis@localhost'}>"]
    ctx.git([*identity, "commit", "-q", "--allow-empty", "-m", message, *env_author], git_dir=git_dir, cwd=source)
    commit = ctx.git(["rev-parse", "HEAD"], git_dir=git_dir, cwd=source).strip()
    return git_dir, commit


def _push(ctx: ActionContext, git_dir: Path, remote: str, refspec: str, *, username: str | None = None,
          password: str | None = None) -> None:
    ctx.git(["push", "-q", remote, refspec], git_dir=git_dir, remote_url=remote if password else None,
            username=username, password=password)


def _point_head(ctx: ActionContext, bare: Path, branch: str) -> None:
    """A bare repository made here starts on git's default branch name; when that branch does not exist its
    HEAD is moved to the pushed one, so a clone (catalog:register, people) checks out what was pushed."""
    try:
        ctx.git(["rev-parse", "--verify", "-q", "HEAD"], git_dir=bare)
    except ActionError:
        ctx.git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], git_dir=bare)


def _source(ctx: ActionContext) -> Path:
    return ctx.resolve(ctx.input.get("sourcePath") or "./")


# ------------------------------------------------------------------------------------------ publish:git

def publish_git(ctx: ActionContext) -> None:
    inp = ctx.input
    remote = ctx.git_remote(inp["remoteUrl"])
    branch = inp.get("defaultBranch") or "main"
    git_dir, commit = commit_workspace(ctx, _source(ctx), branch=branch,
                                       message=inp.get("gitCommitMessage") or "initial commit",
                                       author_name=inp.get("gitAuthorName"), author_email=inp.get("gitAuthorEmail"))
    integration = remote["integration"]
    token = integration.token if integration else None
    username = "oauth2" if integration and integration.type == "gitlab" else "x-access-token"
    _push(ctx, git_dir, remote["url"], f"HEAD:refs/heads/{branch}", username=username, password=token)
    if remote.get("local_path") is not None:
        _point_head(ctx, remote["local_path"], branch)
    ctx.logger.info(f"Pushed {commit[:12]} to {remote['url']} ({branch})")
    ctx.output("remoteUrl", remote["url"])
    ctx.output("repoContentsUrl", remote["url"])
    ctx.output("commitHash", commit)
    ctx.output("defaultBranch", branch)


# ------------------------------------------------------------------------------------------ GitHub

def publish_github(ctx: ActionContext) -> None:
    inp = ctx.input
    repo_url = parse_repo_url(inp["repoUrl"])
    owner, name = repo_url.get("owner"), repo_url["repo"]
    if not owner:
        raise ActionError("Invalid repository owner provided in repoUrl")
    integration = _integration(ctx, repo_url["host"], "github", inp.get("token"))
    api = integration.api_base_url
    status, user = ctx.http("GET", f"{api}/users/{quote(owner)}", token=integration.token)
    if status != 200:
        raise ActionError(f"GitHub owner {owner} was not found (HTTP {status})")
    visibility = inp.get("repoVisibility") or "private"
    body = {"name": name, "private": visibility == "private", "description": inp.get("description"),
            "homepage": inp.get("homepage"), "has_issues": inp.get("hasIssues"), "has_wiki": inp.get("hasWiki"),
            "has_projects": inp.get("hasProjects"), "delete_branch_on_merge": bool(inp.get("deleteBranchOnMerge")),
            "allow_merge_commit": inp.get("allowMergeCommit", True), "allow_squash_merge": inp.get("allowSquashMerge", True),
            "allow_rebase_merge": inp.get("allowRebaseMerge", True)}
    body = {k: v for k, v in body.items() if v is not None}
    is_org = isinstance(user, dict) and user.get("type") == "Organization"
    if is_org:
        body["visibility"] = visibility
    path = f"{api}/orgs/{quote(owner)}/repos" if is_org else f"{api}/user/repos"
    status, repo = ctx.http("POST", path, json_body=body, token=integration.token)
    if status not in (200, 201) or not isinstance(repo, dict):
        message = repo.get("message") if isinstance(repo, dict) else repo
        raise ActionError(f"Failed to create the {'Organization' if is_org else 'User'} repository {owner}/{name}, "
                          f"{message} (HTTP {status})")
    clone_url = _allowed_clone(ctx, integration, repo.get("clone_url") or "")
    branch = inp.get("defaultBranch") or "master"
    git_dir, commit = commit_workspace(ctx, _source(ctx), branch=branch,
                                       message=inp.get("gitCommitMessage") or "initial commit",
                                       author_name=inp.get("gitAuthorName"), author_email=inp.get("gitAuthorEmail"))
    _push(ctx, git_dir, clone_url, f"HEAD:refs/heads/{branch}", username="x-access-token", password=integration.token)
    ctx.logger.info(f"Pushed {commit[:12]} to {clone_url}")
    topics = inp.get("topics")
    if topics:
        status, _ = ctx.http("PUT", f"{api}/repos/{quote(owner)}/{quote(name)}/topics",
                             json_body={"names": [str(t).lower() for t in topics]}, token=integration.token)
        if status >= 300:
            ctx.logger.warning(f"Skipping topics {' '.join(map(str, topics))}, HTTP {status}")
    if inp.get("protectDefaultBranch", True):
        status, _ = ctx.http(
            "PUT", f"{api}/repos/{quote(owner)}/{quote(name)}/branches/{quote(branch)}/protection",
            json_body={"required_status_checks": None, "enforce_admins": inp.get("protectEnforceAdmins", True),
                       "required_pull_request_reviews": {"required_approving_review_count":
                                                         inp.get("requiredApprovingReviewCount", 1)},
                       "restrictions": None}, token=integration.token)
        if status >= 300:
            ctx.logger.warning(f"Skipping: default branch protection on '{name}', HTTP {status}")
    ctx.output("remoteUrl", clone_url)
    ctx.output("repoContentsUrl", f"{repo.get('html_url') or clone_url.removesuffix('.git')}/blob/{branch}")
    ctx.output("commitHash", commit)


def _clone_and_change(ctx: ActionContext, clone_url: str, base_branch: str, new_branch: str, integration,
                      username: str) -> tuple[Path, Path]:
    """Clone `base_branch` outside the workspace, copy the workspace's files in, commit on `new_branch`."""
    work = ctx.create_temporary_directory()
    checkout = work / "checkout"
    git_dir = work / "repo.git"
    ctx.git(["clone", "-q", "--depth", "1", "--no-tags", "--branch", base_branch, "--separate-git-dir", str(git_dir),
             "--", clone_url, str(checkout)], remote_url=clone_url, username=username, password=integration.token)
    os.unlink(checkout / ".git")   # the gitfile clone left; git runs with GIT_DIR from here on
    ctx.git(["checkout", "-q", "-b", new_branch], git_dir=git_dir, cwd=checkout)
    source = _source(ctx)
    target_path = ctx.input.get("targetPath") or ""
    dest_root = checkout
    if target_path:
        parts = [p for p in Path(target_path).parts if p not in ("", ".", "/")]
        if any(p == ".." for p in parts):
            raise ActionError("targetPath may not contain '..'")
        dest_root = checkout.joinpath(*parts)
    for rel, path, is_dir in walk(source):
        dest = dest_root / rel
        if is_dir:
            dest.mkdir(parents=True, exist_ok=True)
        else:
            write_bytes(dest, read_bytes(path), os.lstat(path).st_mode)
    ctx.git(["add", "-A", "."], git_dir=git_dir, cwd=checkout)
    ctx.git(["commit", "-q", "-m", ctx.input.get("gitCommitMessage") or ctx.input.get("title") or "changes"],
            git_dir=git_dir, cwd=checkout)
    _push(ctx, git_dir, clone_url, f"HEAD:refs/heads/{new_branch}", username=username, password=integration.token)
    return git_dir, checkout


def publish_github_pull_request(ctx: ActionContext) -> None:
    inp = ctx.input
    repo_url = parse_repo_url(inp["repoUrl"])
    owner, name = repo_url.get("owner"), repo_url["repo"]
    integration = _integration(ctx, repo_url["host"], "github", inp.get("token"))
    api = integration.api_base_url
    status, repo = ctx.http("GET", f"{api}/repos/{quote(owner or '')}/{quote(name)}", token=integration.token)
    if status != 200 or not isinstance(repo, dict):
        raise ActionError(f"repository {owner}/{name} was not found (HTTP {status})")
    clone_url = _allowed_clone(ctx, integration, repo.get("clone_url") or "")
    base = inp.get("targetBranchName") or repo.get("default_branch") or "main"
    _clone_and_change(ctx, clone_url, base, inp["branchName"], integration, "x-access-token")
    status, pull = ctx.http("POST", f"{api}/repos/{quote(owner or '')}/{quote(name)}/pulls", token=integration.token,
                            json_body={"title": inp["title"], "head": inp["branchName"], "base": base,
                                       "body": inp.get("description") or "", "draft": bool(inp.get("draft"))})
    if status not in (200, 201) or not isinstance(pull, dict):
        raise ActionError(f"creating the pull request failed (HTTP {status})")
    ctx.output("remoteUrl", pull.get("html_url"))
    ctx.output("pullRequestNumber", pull.get("number"))
    ctx.output("targetBranchName", base)


# ------------------------------------------------------------------------------------------ GitLab

def publish_gitlab(ctx: ActionContext) -> None:
    inp = ctx.input
    repo_url = parse_repo_url(inp["repoUrl"])
    owner, name = repo_url.get("owner"), repo_url["repo"]
    if not owner:
        raise ActionError(f"No owner provided for host: {repo_url['host']}, and repo {name}")
    integration = _integration(ctx, repo_url["host"], "gitlab", inp.get("token"))
    api = integration.api_base_url
    auth = {"token": integration.token, "auth_scheme": "PRIVATE-TOKEN"}
    status, namespace = ctx.http("GET", f"{api}/namespaces/{quote(owner, safe='')}", **auth)
    if status == 404:
        raise ActionError(f"The namespace {owner} is not found or the user doesn't have permissions to access it")
    if status != 200 or not isinstance(namespace, dict):
        raise ActionError(f"looking up the namespace {owner} failed (HTTP {status})")
    body = {"namespace_id": namespace.get("id"), "name": name, "path": name,
            "visibility": inp.get("repoVisibility") or "private"}
    if inp.get("topics"):
        body["topics"] = list(inp["topics"])
    status, project = ctx.http("POST", f"{api}/projects", json_body=body, **auth)
    if status not in (200, 201) or not isinstance(project, dict):
        message = project.get("message") if isinstance(project, dict) else project
        raise ActionError(f"creating the project {owner}/{name} failed: {message} (HTTP {status})")
    clone_url = _allowed_clone(ctx, integration, project.get("http_url_to_repo") or "")
    branch = inp.get("defaultBranch") or "master"
    git_dir, commit = commit_workspace(ctx, _source(ctx), branch=branch,
                                       message=inp.get("gitCommitMessage") or "initial commit",
                                       author_name=inp.get("gitAuthorName"), author_email=inp.get("gitAuthorEmail"))
    _push(ctx, git_dir, clone_url, f"HEAD:refs/heads/{branch}", username="oauth2", password=integration.token)
    remote = clone_url.removesuffix(".git")
    ctx.output("remoteUrl", remote)
    ctx.output("repoContentsUrl", f"{remote}/-/blob/{branch}")
    ctx.output("commitHash", commit)
    ctx.output("projectId", project.get("id"))


def publish_gitlab_merge_request(ctx: ActionContext) -> None:
    inp = ctx.input
    repo_url = parse_repo_url(inp["repoUrl"])
    project_path = repo_url.get("project") or f"{repo_url.get('owner')}/{repo_url['repo']}"
    integration = _integration(ctx, repo_url["host"], "gitlab", inp.get("token"))
    api = integration.api_base_url
    auth = {"token": integration.token, "auth_scheme": "PRIVATE-TOKEN"}
    status, project = ctx.http("GET", f"{api}/projects/{quote(project_path, safe='')}", **auth)
    if status != 200 or not isinstance(project, dict):
        raise ActionError(f"project {project_path} was not found (HTTP {status})")
    clone_url = _allowed_clone(ctx, integration, project.get("http_url_to_repo") or "")
    base = inp.get("targetBranchName") or project.get("default_branch") or "main"
    _clone_and_change(ctx, clone_url, base, inp["branchName"], integration, "oauth2")
    status, request = ctx.http("POST", f"{api}/projects/{project.get('id')}/merge_requests", **auth, json_body={
        "source_branch": inp["branchName"], "target_branch": base, "title": inp["title"],
        "description": inp.get("description") or "", "remove_source_branch": bool(inp.get("removeSourceBranch"))})
    if status not in (200, 201) or not isinstance(request, dict):
        raise ActionError(f"creating the merge request failed (HTTP {status})")
    ctx.output("projectid", project_path)
    ctx.output("projectPath", project_path)
    ctx.output("mergeRequestUrl", request.get("web_url"))
    ctx.output("targetBranchName", base)


ACTIONS = [
    TemplateAction(
        id="publish:git", handler=publish_git, output_schema=_PUBLISH_OUTPUT,
        description="Commits the workspace and pushes it to a git remote: a URL of an allowed integration, or a "
                    "bare repository under scaffolder.git_roots (created when missing).",
        input_schema={"type": "object", "required": ["remoteUrl"], "properties": {
            "remoteUrl": {"type": "string", "title": "Git remote (https URL or local path)"}, **_COMMON}},
    ),
    TemplateAction(
        id="publish:github", handler=publish_github, output_schema=_PUBLISH_OUTPUT,
        description="Initializes a git repository of contents in workspace and publishes it to GitHub.",
        input_schema={"type": "object", "required": ["repoUrl"], "properties": {
            "repoUrl": {"type": "string"}, "repoVisibility": {"type": "string", "enum": ["private", "internal", "public"]},
            "homepage": {"type": "string"}, "topics": {"type": "array", "items": {"type": "string"}},
            "protectDefaultBranch": {"type": "boolean"}, "protectEnforceAdmins": {"type": "boolean"},
            "token": {"type": "string"}, **_COMMON}},
    ),
    TemplateAction(
        id="publish:gitlab", handler=publish_gitlab,
        output_schema={"type": "object", "properties": {**_PUBLISH_OUTPUT["properties"],
                                                        "projectId": {"type": "number", "examples": [1]}}},
        description="Initializes a git repository of the content in the workspace, and publishes it to GitLab.",
        input_schema={"type": "object", "required": ["repoUrl"], "properties": {
            "repoUrl": {"type": "string"}, "repoVisibility": {"type": "string", "enum": ["private", "internal", "public"]},
            "topics": {"type": "array", "items": {"type": "string"}}, "token": {"type": "string"}, **_COMMON}},
    ),
    TemplateAction(
        id="publish:github:pull-request", handler=publish_github_pull_request,
        output_schema={"type": "object", "properties": {"remoteUrl": {"type": "string"},
                                                        "pullRequestNumber": {"type": "number"},
                                                        "targetBranchName": {"type": "string"}}},
        description="Creates a pull request in a GitHub repository with the workspace's files.",
        input_schema={"type": "object", "required": ["repoUrl", "title", "branchName"], "properties": {
            "repoUrl": {"type": "string"}, "title": {"type": "string"}, "branchName": {"type": "string"},
            "targetBranchName": {"type": "string"}, "description": {"type": "string"}, "draft": {"type": "boolean"},
            "targetPath": {"type": "string"}, "sourcePath": {"type": "string"}, "token": {"type": "string"},
            "gitCommitMessage": {"type": "string"}}},
    ),
    TemplateAction(
        id="publish:gitlab:merge-request", handler=publish_gitlab_merge_request,
        output_schema={"type": "object", "properties": {"mergeRequestUrl": {"type": "string"},
                                                        "projectid": {"type": "string"},
                                                        "projectPath": {"type": "string"},
                                                        "targetBranchName": {"type": "string"}}},
        description="Creates a merge request in a GitLab project with the workspace's files.",
        input_schema={"type": "object", "required": ["repoUrl", "title", "branchName"], "properties": {
            "repoUrl": {"type": "string"}, "title": {"type": "string"}, "branchName": {"type": "string"},
            "targetBranchName": {"type": "string"}, "description": {"type": "string"},
            "removeSourceBranch": {"type": "boolean"}, "targetPath": {"type": "string"},
            "sourcePath": {"type": "string"}, "token": {"type": "string"}, "gitCommitMessage": {"type": "string"}}},
    ),
]
