"""GitLab group and project discovery, groups and members (REST API v4): get -> transform -> load -> cleanup.

- get: `GET /groups/:id`, `GET /groups/:id/descendant_groups` (subgroups at every level),
  `GET /groups/:id/projects?include_subgroups=true&archived=false`, then per project
  `GET /projects/:id/repository/files/:path?ref=:default_branch` (404: no descriptor, skipped), and
  `GET /groups/:id/members` (direct members) per group. Everything through ingest.providers.http.
- transform (pure): projects -> which to read (archived and empty ones skipped); a files-API answer ->
  annotated descriptor documents; groups -> `Group` named after the full path (`acme/platform` ->
  `acme-platform`, Backstage's default), parent group -> `spec.parent`; active members -> `User` with
  `gitlab.com/user-login` (and the email when the API shows one).
- load + cleanup: `ingest.sync.ingest_entities` with origins `gitlab:<project path>/<file path>`.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable
from urllib.parse import quote

from ingest.descriptors.files import FileProblem
from ingest.providers.descriptors import (
    MANAGED_BY_LOCATION, FileDocuments, annotate, decode_base64_file, split_documents,
)
from ingest.integrations.sources import endpoint
from ingest.providers.http import ApiClient, etag_cache_for, token_fingerprint
from ingest.providers.loading import Fetched, OptionsError, load
from ingest.providers.repofiles import RepoRead, read_repository

if TYPE_CHECKING:
    from ingest.sync import IngestResult
    from plugins.api import SyncContext

log = logging.getLogger(__name__)
DEFAULT_API_URL = "https://gitlab.com/api/v4"
PROJECT_SLUG = "gitlab.com/project-slug"
GROUP_PATH = "gitlab.com/team-path"
USER_LOGIN = "gitlab.com/user-login"
PER_PAGE = 100


@dataclass(frozen=True)
class GitLabOptions:
    """A GitLab source's options (from the source configuration; no secrets in here)."""

    group: str
    api_url: str = DEFAULT_API_URL
    catalog_path: str = "catalog-info.yaml"
    token_secret_name: str = "gitlab-token"
    members: bool = True
    namespace: str = "default"
    concurrency: int = 8
    max_rate_limit_wait: float = 900.0

    @classmethod
    def parse(cls, options: dict[str, Any]) -> "GitLabOptions":
        group = options.get("group")
        if isinstance(group, int):
            group = str(group)
        if not isinstance(group, str) or not group.strip("/") or ".." in group:
            raise OptionsError(f"gitlab source: `group` must be a group's full path or id, got {group!r}")
        path = str(options.get("catalog_path", cls.catalog_path)).strip("/")
        if not path or ".." in path.split("/"):
            raise OptionsError(f"gitlab source: `catalog_path` must be a path inside the repository, got {path!r}")
        try:
            concurrency = int(options.get("concurrency", cls.concurrency))
            max_wait = float(options.get("max_rate_limit_wait", cls.max_rate_limit_wait))
        except (TypeError, ValueError):
            raise OptionsError("gitlab source: `concurrency` and `max_rate_limit_wait` must be numbers") from None
        return cls(
            group=group.strip("/"),
            api_url=str(options.get("api_url") or DEFAULT_API_URL),
            catalog_path=path,
            token_secret_name=str(options.get("token_secret_name", cls.token_secret_name)),
            members=bool(options.get("members", True)),
            namespace=str(options.get("namespace", "default")).lower(),
            concurrency=max(1, min(concurrency, 32)),
            max_rate_limit_wait=max(0.0, max_wait),
        )


@dataclass(frozen=True)
class Project:
    """A project worth reading: not archived, with a repository."""

    id: int
    path: str          # path_with_namespace, e.g. acme/platform/ledger
    branch: str
    web_url: str


# ------------------------------------------------------------------------------------------ transforms

def projects_to_read(projects: Iterable[dict]) -> list[Project]:
    """Archived projects and projects without a repository (empty, or no default branch) are skipped."""
    out = []
    for p in projects:
        if p.get("archived") or p.get("empty_repo") or not p.get("default_branch"):
            continue
        if not isinstance(p.get("id"), int):
            continue
        out.append(Project(id=p["id"], path=str(p.get("path_with_namespace") or p["id"]),
                           branch=str(p["default_branch"]), web_url=str(p.get("web_url") or "")))
    return out


def origin_of(project: str, path: str) -> str:
    return f"gitlab:{project}/{path}"


def descriptor_entities(project: Project, path: str, payload: Any) -> FileDocuments:
    """A repository-files answer -> annotated entities (and the reasons for any unreadable document)."""
    try:
        text = decode_base64_file(payload)
    except FileProblem as exc:
        return FileDocuments(problems=[(None, str(exc))])
    docs = split_documents(text)
    base = project.web_url or f"gitlab:{project.path}"
    for _, entity in docs.documents:
        extra = {MANAGED_BY_LOCATION: f"url:{base}/-/blob/{project.branch}/{path}"}
        if str(entity.get("kind", "")).lower() in ("component", "api", "resource", "system", "template"):
            extra[PROJECT_SLUG] = project.path
        annotate(entity, extra)
    return docs


def group_name(full_path: str) -> str:
    """Backstage's default GitLab group name: the full path with '/' as '-'."""
    return full_path.replace("/", "-").lower()


def group_entity(group: dict, by_id: dict[int, dict], namespace: str = "default") -> dict:
    """A GitLab group as a Backstage Group; its parent (when discovered too) becomes `spec.parent`."""
    full_path = str(group["full_path"])
    spec: dict[str, Any] = {
        "type": "team",
        "profile": {"displayName": str(group.get("full_name") or group.get("name") or full_path)},
        "children": [],
    }
    parent = by_id.get(group.get("parent_id"))   # type: ignore[arg-type]
    if parent is not None:
        spec["parent"] = f"group:{namespace}/{group_name(parent['full_path'])}"
    if group.get("avatar_url"):
        spec["profile"]["picture"] = str(group["avatar_url"])
    annotations = {GROUP_PATH: full_path}
    if group.get("web_url"):
        annotations[MANAGED_BY_LOCATION] = f"url:{group['web_url']}"
    metadata: dict[str, Any] = {"name": group_name(full_path), "namespace": namespace, "annotations": annotations}
    if group.get("description"):
        metadata["description"] = str(group["description"])
    return {"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": metadata, "spec": spec}


def user_entity(member: dict, groups: Iterable[str], namespace: str = "default") -> dict:
    """A group member as a Backstage User, member of the given group names."""
    login = str(member["username"])
    profile: dict[str, Any] = {"displayName": str(member.get("name") or login)}
    email = member.get("email") or member.get("public_email")
    if email:
        profile["email"] = str(email)
    if member.get("avatar_url"):
        profile["picture"] = str(member["avatar_url"])
    annotations = {USER_LOGIN: login}
    if member.get("web_url"):
        annotations[MANAGED_BY_LOCATION] = f"url:{member['web_url']}"
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "User",
        "metadata": {"name": login, "namespace": namespace, "annotations": annotations},
        "spec": {"profile": profile, "memberOf": sorted(f"group:{namespace}/{g}" for g in set(groups))},
    }


def org_entities(groups: list[dict], members: dict[int, list[dict]],
                 namespace: str = "default") -> list[tuple[str, dict]]:
    """Groups and their active members as (origin, entity); a user appears once, with all their groups."""
    by_id = {g["id"]: g for g in groups}
    out: list[tuple[str, dict]] = []
    users: dict[str, dict] = {}
    memberships: dict[str, set[str]] = {}
    for group in groups:
        out.append((f"gitlab:{group['full_path']}", group_entity(group, by_id, namespace)))
        for member in members.get(group["id"], []):
            if member.get("state", "active") != "active" or not member.get("username"):
                continue   # blocked / deactivated accounts and bots awaiting deletion
            users.setdefault(member["username"], member)
            memberships.setdefault(member["username"], set()).add(group_name(group["full_path"]))
    for login in sorted(users):
        out.append((f"gitlab:users/{login}", user_entity(users[login], memberships[login], namespace)))
    return out


# ------------------------------------------------------------------------------------------ get

def client_for(options: GitLabOptions, token: str, **overrides: Any) -> ApiClient:
    return ApiClient(
        options.api_url,
        provider="GitLab",
        headers={"PRIVATE-TOKEN": token},
        cache=etag_cache_for(f"gitlab\n{options.api_url}\n{token_fingerprint(token)}"),
        max_wait=options.max_rate_limit_wait,
        pool_size=options.concurrency,
        **overrides,
    )


def fetch(client: ApiClient, options: GitLabOptions,
          progress: Callable[[str, int, int], None] | None = None) -> Fetched:
    """Everything the group (and its subgroups) declares."""
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
                                        lambda path, payload: descriptor_entities(project, path, payload))

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


def sync(ctx: "SyncContext", **client_overrides: Any) -> "IngestResult":
    """One run of a GitLab source."""
    api = endpoint("gitlab", ctx.options, ctx.outbound(), GitLabOptions.token_secret_name)
    options = GitLabOptions.parse({**ctx.options, "api_url": api.api_url, "token_secret_name": api.secret_name})
    token = ctx.secret(options.token_secret_name)
    client = client_for(options, token, **client_overrides)
    try:
        fetched = fetch(client, options, progress=ctx.progress)
    finally:
        client.close()
    log.info("GitLab source %s: %s", ctx.source, client.stats.as_dict())
    return load(ctx, f"gitlab:{options.group}", fetched)
