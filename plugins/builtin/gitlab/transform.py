"""GitLab: pure transforms from REST API v4 answers to what the catalog needs.

- projects -> which to read (archived and empty ones skipped);
- a descriptor file's documents -> annotated (`backstage.io/managed-by-location`, `gitlab.com/project-slug`);
- groups -> `Group` named after the full path (`acme/platform` -> `acme-platform`, Backstage's default),
  parent group -> `spec.parent`; active members -> `User` with `gitlab.com/user-login` (and the email when
  the API shows one).
No network, no graph: unit-tested on payloads alone (tests/test_gitlab_transform.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from plugins.api import MANAGED_BY_LOCATION, FileDocuments, OptionsError, annotate

DEFAULT_API_URL = "https://gitlab.com/api/v4"
PROJECT_SLUG = "gitlab.com/project-slug"
GROUP_PATH = "gitlab.com/team-path"
USER_LOGIN = "gitlab.com/user-login"


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


def descriptor_entities(project: Project, path: str, docs: FileDocuments) -> FileDocuments:
    """A descriptor file's documents (SyncContext.read_descriptor_file) -> annotated with where they came from."""
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
