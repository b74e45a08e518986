"""GitHub organisation discovery, teams and members (REST API v3): get -> transform -> load -> cleanup.

- get: `GET /orgs/{org}/repos`, then per repository `GET /repos/{org}/{repo}/contents/{path}?ref={branch}`
  (404: no descriptor, skipped); `GET /orgs/{org}/teams`, `GET /orgs/{org}/teams/{slug}/members`,
  `GET /users/{login}` for profiles. Everything through ingest.providers.http (pagination, rate limits,
  retries, ETags).
- transform (pure): repositories -> which to read; a contents answer -> descriptor documents, annotated with
  where they came from; teams -> `Group` (parent team -> `spec.parent`), members -> `User` with the profile
  email and the `github.com/user-login` annotation.
- load + cleanup: `ingest.sync.ingest_entities` with origins `github:<org>/<repo>/<path>`; any failure while
  getting raises before loading, so a failed run deletes nothing.
"""
from __future__ import annotations

import re
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable
from urllib.parse import quote

from ingest.descriptors.files import FileProblem
from ingest.integrations.sources import endpoint
from ingest.providers.descriptors import (
    MANAGED_BY_LOCATION, FileDocuments, annotate, decode_base64_file, split_documents,
)
from ingest.providers.http import ApiClient, etag_cache_for, token_fingerprint
from ingest.providers.loading import Fetched, OptionsError, load
from ingest.providers.repofiles import RepoRead, read_repository

if TYPE_CHECKING:
    from ingest.sync import IngestResult
    from plugins.api import SyncContext

log = logging.getLogger(__name__)
DEFAULT_API_URL = "https://api.github.com"
PROJECT_SLUG = "github.com/project-slug"
TEAM_SLUG = "github.com/team-slug"
USER_LOGIN = "github.com/user-login"
API_VERSION = "2022-11-28"
PER_PAGE = 100


@dataclass(frozen=True)
class GitHubOptions:
    """A GitHub source's options (from the source configuration; no secrets in here)."""

    org: str
    api_url: str = DEFAULT_API_URL
    catalog_path: str = "catalog-info.yaml"
    token_secret_name: str = "github-token"
    webhook_secret_name: str = "github-webhook-secret"
    teams: bool = True
    namespace: str = "default"
    concurrency: int = 8
    max_rate_limit_wait: float = 900.0

    @classmethod
    def parse(cls, options: dict[str, Any]) -> "GitHubOptions":
        org = options.get("org")
        if not isinstance(org, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}", org):
            raise OptionsError(f"github source: `org` must be a GitHub organisation login, got {org!r}")
        path = str(options.get("catalog_path", cls.catalog_path)).strip("/")
        if not path or ".." in path.split("/"):
            raise OptionsError(f"github source: `catalog_path` must be a path inside the repository, got {path!r}")
        try:
            concurrency = int(options.get("concurrency", cls.concurrency))
            max_wait = float(options.get("max_rate_limit_wait", cls.max_rate_limit_wait))
        except (TypeError, ValueError):
            raise OptionsError("github source: `concurrency` and `max_rate_limit_wait` must be numbers") from None
        return cls(
            org=org,
            api_url=str(options.get("api_url") or DEFAULT_API_URL),
            catalog_path=path,
            token_secret_name=str(options.get("token_secret_name", cls.token_secret_name)),
            webhook_secret_name=str(options.get("webhook_secret_name", cls.webhook_secret_name)),
            teams=bool(options.get("teams", True)),
            namespace=str(options.get("namespace", "default")).lower(),
            concurrency=max(1, min(concurrency, 32)),
            max_rate_limit_wait=max(0.0, max_wait),
        )


@dataclass(frozen=True)
class Repo:
    """A repository worth reading: not archived, not disabled."""

    name: str
    branch: str
    html_url: str


# ------------------------------------------------------------------------------------------ transforms

def repos_to_read(repos: Iterable[dict]) -> list[Repo]:
    """The repositories whose descriptor we look for: archived and disabled ones are skipped."""
    out = []
    for repo in repos:
        if repo.get("archived") or repo.get("disabled"):
            continue
        name = repo.get("name")
        if not isinstance(name, str) or not name:
            continue
        out.append(Repo(name=name, branch=str(repo.get("default_branch") or "main"),
                        html_url=str(repo.get("html_url") or "")))
    return out


def origin_of(org: str, repo: str, path: str) -> str:
    """The origin recorded on every entity of a repository's descriptor file."""
    return f"github:{org}/{repo}/{path}"


def descriptor_entities(org: str, repo: Repo, path: str, payload: Any) -> FileDocuments:
    """A contents-API answer -> annotated entities (and the reasons for any unreadable document)."""
    try:
        text = decode_base64_file(payload)
    except FileProblem as exc:
        return FileDocuments(problems=[(None, str(exc))])
    docs = split_documents(text)
    location = (f"url:{repo.html_url}/blob/{repo.branch}/{path}" if repo.html_url
                else f"url:{origin_of(org, repo.name, path)}")
    for _, entity in docs.documents:
        extra = {MANAGED_BY_LOCATION: location}
        if str(entity.get("kind", "")).lower() in ("component", "api", "resource", "system", "template"):
            extra[PROJECT_SLUG] = f"{org}/{repo.name}"
        annotate(entity, extra)
    return docs


def team_entity(team: dict, org: str, namespace: str = "default") -> dict:
    """A GitHub team as a Backstage Group; the parent team becomes `spec.parent`."""
    slug = str(team["slug"])
    spec: dict[str, Any] = {
        "type": "team",
        "profile": {"displayName": str(team.get("name") or slug)},
        "children": [],
    }
    parent = team.get("parent")
    if isinstance(parent, dict) and parent.get("slug"):
        spec["parent"] = f"group:{namespace}/{parent['slug']}"
    metadata: dict[str, Any] = {
        "name": slug,
        "namespace": namespace,
        "annotations": {TEAM_SLUG: f"{org}/{slug}"},
    }
    if team.get("description"):
        metadata["description"] = str(team["description"])
    if team.get("html_url"):
        metadata["annotations"][MANAGED_BY_LOCATION] = f"url:{team['html_url']}"
    return {"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": metadata, "spec": spec}


def user_entity(user: dict, teams: Iterable[str], namespace: str = "default") -> dict:
    """A GitHub user as a Backstage User, member of the given team slugs (profile email when public)."""
    login = str(user["login"])
    profile: dict[str, Any] = {"displayName": str(user.get("name") or login)}
    if user.get("email"):
        profile["email"] = str(user["email"])
    if user.get("avatar_url"):
        profile["picture"] = str(user["avatar_url"])
    annotations = {USER_LOGIN: login}
    if user.get("html_url"):
        annotations[MANAGED_BY_LOCATION] = f"url:{user['html_url']}"
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "User",
        "metadata": {"name": login, "namespace": namespace, "annotations": annotations},
        "spec": {"profile": profile, "memberOf": sorted(f"group:{namespace}/{t}" for t in set(teams))},
    }


def org_entities(org: str, teams: list[dict], members: dict[str, list[str]], users: dict[str, dict],
                 namespace: str = "default") -> list[tuple[str, dict]]:
    """Teams and their members as (origin, entity) pairs; users appear once, with every team they are in."""
    out: list[tuple[str, dict]] = []
    memberships: dict[str, set[str]] = {}
    for team in teams:
        out.append((f"github:{org}/teams/{team['slug']}", team_entity(team, org, namespace)))
        for login in members.get(team["slug"], []):
            memberships.setdefault(login, set()).add(team["slug"])
    for login in sorted(memberships):
        user = users.get(login) or {"login": login}
        out.append((f"github:{org}/users/{login}", user_entity(user, memberships[login], namespace)))
    return out


# ------------------------------------------------------------------------------------------ get

def client_for(options: GitHubOptions, token: str, **overrides: Any) -> ApiClient:
    """An API client for this source: bearer token, API version header, ETag cache per endpoint + token."""
    return ApiClient(
        options.api_url,
        provider="GitHub",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        },
        cache=etag_cache_for(f"github\n{options.api_url}\n{token_fingerprint(token)}"),
        max_wait=options.max_rate_limit_wait,
        pool_size=options.concurrency,
        **overrides,
    )


def fetch(client: ApiClient, options: GitHubOptions, *, refresh: set[str] | None = None, relist: bool = False,
          progress: Callable[[str, int, int], None] | None = None) -> Fetched:
    """Everything the organisation declares. `refresh`: only these repositories are asked again; the
    others come from the ETag cache when it has them (webhook pushes). `relist`: ask for the repository list
    again too (a repository was created, deleted, archived or renamed)."""
    org = options.org
    partial = refresh is not None
    cached_ok = (lambda name: partial and name not in refresh) if partial else (lambda name: False)
    step = progress or (lambda stage, done, total: None)
    out = Fetched(stats=client.stats)

    step("listing repositories", 0, 0)
    listed = list(client.items(f"orgs/{quote(org)}/repos", {"per_page": PER_PAGE, "type": "all"},
                               reuse_cached=partial and not relist))
    if partial and not refresh <= {r.get("name") for r in listed}:   # a repository newer than the cache
        listed = list(client.items(f"orgs/{quote(org)}/repos", {"per_page": PER_PAGE, "type": "all"}))
    repos = repos_to_read(listed)
    out.repos = len(listed)

    def one(repo: Repo) -> tuple[Repo, RepoRead]:
        def get(path: str) -> Any:
            page = client.get(f"repos/{quote(org)}/{quote(repo.name)}/contents/{quote(path)}",
                              {"ref": repo.branch}, allow_404=True, reuse_cached=cached_ok(repo.name))
            return page.body if page is not None else None

        return repo, read_repository(options.catalog_path, get,
                                     lambda path, payload: descriptor_entities(org, repo, path, payload))

    step("reading descriptors", 0, len(repos))
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        for done, (repo, read) in enumerate(pool.map(one, repos), 1):
            if done % 50 == 0 or done == len(repos):
                step("reading descriptors", done, len(repos))
            out.descriptors += read.files
            out.entities.extend((origin_of(org, repo.name, path), entity) for path, entity in read.entities)
            out.problems.extend({"origin": origin_of(org, repo.name, p["path"]), "document": p["document"],
                                 "reason": p["reason"], "keep": p["keep"]} for p in read.problems)

    if options.teams:
        step("reading teams", 0, 0)
        teams = list(client.items(f"orgs/{quote(org)}/teams", {"per_page": PER_PAGE}, reuse_cached=partial))
        members: dict[str, list[str]] = {}

        def team_members(team: dict) -> tuple[str, list[str]]:
            logins = [m["login"] for m in client.items(
                f"orgs/{quote(org)}/teams/{quote(team['slug'])}/members", {"per_page": PER_PAGE},
                reuse_cached=partial)]
            return team["slug"], logins

        with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
            members = dict(pool.map(team_members, teams))
        logins = sorted({login for team in members.values() for login in team})

        def profile(login: str) -> tuple[str, dict]:
            page = client.get(f"users/{quote(login)}", allow_404=True, reuse_cached=partial)
            return login, (page.body if page is not None and isinstance(page.body, dict) else {"login": login})

        step("reading members", 0, len(logins))
        with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
            users = dict(pool.map(profile, logins))
        out.org.extend(org_entities(org, teams, members, users, options.namespace))
    return out


# ------------------------------------------------------------------------------------------ run

def sync(ctx: "SyncContext", **client_overrides: Any) -> "IngestResult":
    """One run of a GitHub source. `ctx.options["refresh_repos"]` (set by the webhook) limits the requests
    to those repositories (and the repository list, with `refresh_listing`); the others are taken from the
    ETag cache, so nothing is lost."""
    api = endpoint("github", ctx.options, ctx.outbound(), GitHubOptions.token_secret_name)
    options = GitHubOptions.parse({**ctx.options, "api_url": api.api_url, "token_secret_name": api.secret_name})
    refresh = ctx.options.get("refresh_repos")
    token = ctx.secret(options.token_secret_name)
    client = client_for(options, token, **client_overrides)
    try:
        fetched = fetch(client, options, refresh=set(refresh) if refresh else None,
                        relist=bool(ctx.options.get("refresh_listing")), progress=ctx.progress)
    finally:
        client.close()
    log.info("GitHub source %s: %s", ctx.source, client.stats.as_dict())
    return load(ctx, f"github:{options.org}", fetched)
