"""GitLab get: the REST API v4 calls of one group, through the door's HTTP client.

`GET /groups/:id`, `GET /groups/:id/descendant_groups` (subgroups at every level),
`GET /groups/:id/projects?include_subgroups=true&archived=false`, then per project
`GET /projects/:id/repository/files/:path?ref=:default_branch` (404: no descriptor, skipped) and the files
its Locations name, and `GET /groups/:id/members` (direct members) per group.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import quote

from plugins.api import ApiClient, EtagCache, Fetched, FileDocuments, RepoRead
from plugins.builtin.gitlab.transform import (
    GitLabOptions, Project, descriptor_entities, org_entities, origin_of, projects_to_read,
)

PER_PAGE = 100

ReadFile = Callable[[Any], FileDocuments]
ReadRepository = Callable[[str, Callable[[str], Any], Callable[[str, Any], FileDocuments]], RepoRead]


def client_for(options: GitLabOptions, token: str, cache: EtagCache | None, **overrides: Any) -> ApiClient:
    return ApiClient(
        options.api_url,
        provider="GitLab",
        headers={"PRIVATE-TOKEN": token},
        cache=cache,
        max_wait=options.max_rate_limit_wait,
        pool_size=options.concurrency,
        **overrides,
    )


def fetch(client: ApiClient, options: GitLabOptions, read_file: ReadFile, read_repository: ReadRepository,
          progress: Callable[[str, int, int], None] | None = None) -> Fetched:
    """Everything the group (and its subgroups) declares (`read_file`, `read_repository`: the context's)."""
    step = progress or (lambda stage, done, total: None)
    out = Fetched(stats=client.stats)
    root = quote(options.group, safe="")

    step("listing groups", 0, 0)
    top = client.get(f"groups/{root}", {"with_projects": "false"})
    assert top is not None
    groups = [top.body] + list(client.items(f"groups/{root}/descendant_groups", {"per_page": PER_PAGE}))
    step("listing projects", 0, 0)
    listed = list(client.items(f"groups/{root}/projects", {
        "include_subgroups": "true", "archived": "false", "with_shared": "false", "per_page": PER_PAGE}))
    projects = projects_to_read(listed)
    out.repos = len(listed)

    def one(project: Project) -> tuple[Project, RepoRead]:
        def get(path: str) -> Any:
            page = client.get(f"projects/{project.id}/repository/files/{quote(path, safe='')}",
                              {"ref": project.branch}, allow_404=True)
            return page.body if page is not None else None

        return project, read_repository(options.catalog_path, get,
                                        lambda path, payload: descriptor_entities(project, path, read_file(payload)))

    step("reading descriptors", 0, len(projects))
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        for done, (project, read) in enumerate(pool.map(one, projects), 1):
            if done % 50 == 0 or done == len(projects):
                step("reading descriptors", done, len(projects))
            out.descriptors += read.files
            out.entities.extend((origin_of(project.path, path), entity) for path, entity in read.entities)
            out.problems.extend({"origin": origin_of(project.path, p["path"]), "document": p["document"],
                                 "reason": p["reason"], "keep": p["keep"]} for p in read.problems)

    members: dict[int, list[dict]] = {}
    if options.members:
        step("reading members", 0, len(groups))

        def group_members(group: dict) -> tuple[int, list[dict]]:
            return group["id"], list(client.items(f"groups/{group['id']}/members", {"per_page": PER_PAGE}))

        with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
            members = dict(pool.map(group_members, groups))
    out.org.extend(org_entities(groups, members, options.namespace))
    return out
