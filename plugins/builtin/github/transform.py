"""GitHub: pure transforms from REST API v3 answers (and webhook deliveries) to what the catalog needs.

- repositories -> which to read (archived and disabled ones skipped);
- a descriptor file's documents -> annotated with where they came from (`backstage.io/managed-by-location`,
  `github.com/project-slug`);
- teams -> `Group` (parent team -> `spec.parent`), members -> `User` with the profile email and the
  `github.com/user-login` annotation;
- webhook deliveries: the signature check and what a `push` or `repository` event says.
No network, no graph: unit-tested on payloads alone (tests/test_github_transform.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from plugins.api import MANAGED_BY_LOCATION, FileDocuments, OptionsError, annotate

DEFAULT_API_URL = "https://api.github.com"
PROJECT_SLUG = "github.com/project-slug"
TEAM_SLUG = "github.com/team-slug"
USER_LOGIN = "github.com/user-login"


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


def descriptor_entities(org: str, repo: Repo, path: str, docs: FileDocuments) -> FileDocuments:
    """A descriptor file's documents (SyncContext.read_descriptor_file) -> annotated with where they came from."""
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


