"""GitHub get: the REST API v3 calls of one organisation, through the door's HTTP client.

`GET /orgs/{org}/repos`, then per repository `GET /repos/{org}/{repo}/contents/{path}?ref={branch}` (404: no
descriptor, skipped) and the files its Locations name; `GET /orgs/{org}/teams`,
`GET /orgs/{org}/teams/{slug}/members`, `GET /users/{login}` for profiles. Pagination, rate limits, retries
and ETags are plugins.http's. Any failure while getting raises before loading, so a failed run deletes nothing.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import quote

from plugins.api import ApiClient, EtagCache, Fetched, FileDocuments, RepoRead
from plugins.builtin.github.transform import (
    GitHubOptions, Repo, descriptor_entities, org_entities, origin_of, repos_to_read,
)

API_VERSION = "2022-11-28"
PER_PAGE = 100

ReadFile = Callable[[Any], FileDocuments]
ReadRepository = Callable[[str, Callable[[str], Any], Callable[[str, Any], FileDocuments]], RepoRead]


def client_for(options: GitHubOptions, token: str, cache: EtagCache | None, **overrides: Any) -> ApiClient:
    """An API client for this source: bearer token, API version header, the ETag cache of endpoint + token."""
    return ApiClient(
        options.api_url,
        provider="GitHub",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        },
        cache=cache,
        max_wait=options.max_rate_limit_wait,
        pool_size=options.concurrency,
        **overrides,
    )


def fetch(client: ApiClient, options: GitHubOptions, read_file: ReadFile, read_repository: ReadRepository, *,
          refresh: set[str] | None = None, relist: bool = False,
          progress: Callable[[str, int, int], None] | None = None) -> Fetched:
    """Everything the organisation declares. `refresh`: only these repositories are asked again; the
    others come from the ETag cache when it has them (webhook pushes). `relist`: ask for the repository list
    again too (a repository was created, deleted, archived or renamed). `read_file` and `read_repository`
    are the context's (SyncContext.read_descriptor_file / read_repository)."""
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
                                     lambda path, payload: descriptor_entities(org, repo, path, read_file(payload)))

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
