"""Privilege escalation through provider-ingested catalog data.

Anyone who can push a `catalog-info.yaml` to a repository a source discovers controls what that file says.
Roles flow down the group tree and ownership claims follow MEMBER_OF then CHILD_OF*, so a repository that
may declare `kind: Group` / `kind: User` could make mallory a member of a privileged group. Each test drives
one provider end to end (its replayed HTTP API, or a real git repository through a configured source) and
asserts on the gain over HTTP: mallory, signed in, holds the admin role or an ownership claim she must not.
"""
from __future__ import annotations

import base64
import copy
import subprocess
import textwrap
from pathlib import Path

from ingest.jobs.config import parse_config
from ingest.jobs.runner import run_once
from ingest.sync import ingest, new_run_id
from ingest.context import sync_context
from plugins.registry import load_registry
from tests.attacks.conftest import holds_admin, mallory_client
from tests.fixtures.github.recorded_api import RecordedApi, load_routes
from tests.integration_helpers import integrations_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GITHUB_ROUTES = load_routes(FIXTURES / "github")
GITLAB_ROUTES = load_routes(FIXTURES / "gitlab")
GITHUB_TOKEN = "ghp_recorded_fixture_token"
GITLAB_TOKEN = "glpat-recorded-fixture-token"


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def contents(text: str, path: str = "catalog-info.yaml") -> dict:
    """A contents/files API answer for `text` (the shape GitHub and GitLab share for what we read)."""
    data = text.encode()
    return {"type": "file", "encoding": "base64", "size": len(data), "name": path, "path": path,
            "file_name": path, "file_path": path, "content": base64.b64encode(data).decode()}


def github_org_with(repos: dict[str, str]) -> dict:
    """The recorded acme organisation, mallory in its unprivileged `interns` team, plus repositories holding
    these catalog files."""
    routes = copy.deepcopy(GITHUB_ROUTES)
    routes["/orgs/acme/teams"].append({"id": 99, "name": "Interns", "slug": "interns", "parent": None,
                                       "html_url": "https://github.com/orgs/acme/teams/interns"})
    routes["/orgs/acme/teams/interns/members"] = [{"login": "mallory", "id": 66, "type": "User"}]
    routes["/users/mallory"] = {"login": "mallory", "id": 66, "name": "Mallory", "type": "User"}
    for i, (name, text) in enumerate(repos.items()):
        routes["/orgs/acme/repos"].append({
            "id": 900 + i, "name": name, "full_name": f"acme/{name}", "owner": {"login": "acme"},
            "html_url": f"https://github.com/acme/{name}", "default_branch": "main", "archived": False,
            "disabled": False})
        routes[f"/repos/acme/{name}/contents/catalog-info.yaml"] = contents(text)
    return routes


def run_github(graph, routes):
    with RecordedApi(routes, style="github", token=GITHUB_TOKEN, per_page_cap=50) as api:
        ctx = sync_context(graph=graph, source="github-acme", options={"org": "acme", "api_url": api.url},
                          run_id=new_run_id(), secret=lambda name: {"github-token": GITHUB_TOKEN}[name],
                          integrations=integrations_for(api.url, "github"))
        return load_registry().provider("github").sync(ctx)


def member_refs(graph, group: str) -> list[str]:
    rows = graph.read("MATCH (u)-[:MEMBER_OF]->(:Entity {ref: $g}) RETURN u.ref AS ref ORDER BY ref", g=group)
    return [r["ref"] for r in rows]


def kind_rejections(result) -> list[dict]:
    return [r for r in result.rejected if r["field"] == "kind"]


# ------------------------------------------------------------------------------------------ GitHub

def test_github_repository_cannot_hang_a_group_under_a_privileged_team(graph, portal):
    """A repository declares `kind: Group` with `parent: platform` (whose members are admins) and
    `members: [mallory]`: roles flow down the group tree, so mallory would be an admin."""
    routes = github_org_with({"sandbox": doc("""
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: skunkworks}
        spec: {type: team, parent: platform, children: [], members: [mallory]}
    """)})
    result = run_github(graph, routes)
    client = mallory_client(portal({"group:default/platform": "admin"}), graph)

    assert not holds_admin(client), "a repository's Group made mallory an admin"
    assert "user:default/mallory" not in member_refs(graph, "group:default/skunkworks")
    (rejected,) = kind_rejections(result)
    assert rejected["file"] == "github:acme/sandbox/catalog-info.yaml" and rejected["ref"] == "group:default/skunkworks"
    assert "Group" in rejected["reason"] and "rules" in rejected["reason"]
    # the organisation's own teams still come from its teams and members
    assert member_refs(graph, "group:default/platform") == ["user:default/alice"]


def test_github_repository_cannot_take_a_real_teams_ref(graph, portal):
    """A repository declares `kind: Group payments-team` (a real team, under the admins' `platform`) with
    mallory as member. Repository files are read before the teams in a run; the team must stay the org's."""
    routes = github_org_with({"aaa-first": doc("""
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: payments-team, description: now ours}
        spec: {type: team, parent: platform, children: [], members: [mallory]}
    """)})
    run_github(graph, routes)
    client = mallory_client(portal({"group:default/platform": "admin"}), graph)

    assert not holds_admin(client), "the repository's copy of payments-team made mallory an admin"
    row = graph.read("MATCH (g:Entity {ref: 'group:default/payments-team'}) RETURN g.file AS file, "
                     "g.descriptor AS d")[0]
    assert row["file"] == "github:acme/teams/payments-team", row
    assert "acme/payments-team" in row["d"] and "now ours" not in row["d"]   # the team-slug annotation
    assert member_refs(graph, "group:default/payments-team") == ["user:default/alice", "user:default/bob"]


def test_github_repository_cannot_claim_a_teams_entities_for_mallory(graph, portal):
    """`kind: User mallory` with `memberOf: [payments-team]` would give mallory the team's ownership claim:
    she could read its restricted component (and change it as an owner)."""
    routes = github_org_with({
        "vault": doc("""
            apiVersion: backstage.io/v1alpha1
            kind: Component
            metadata: {name: vault, annotations: {trellis.io/restricted: "true"}}
            spec: {type: service, lifecycle: production, owner: payments-team}
        """),
        "sandbox": doc("""
            apiVersion: backstage.io/v1alpha1
            kind: User
            metadata: {name: mallory}
            spec: {memberOf: [payments-team]}
        """),
    })
    run_github(graph, routes)
    client = mallory_client(portal({}), graph)

    assert client.get("/api/v1/entities/by-name/component/default/vault").status_code == 404, \
        "a repository's User gave mallory payments-team's ownership claim"
    assert "user:default/mallory" not in member_refs(graph, "group:default/payments-team")


# ------------------------------------------------------------------------------------------ GitLab

def gitlab_group_with(projects: dict[str, str]) -> dict:
    """The recorded acme group, mallory a member of its top level only, plus projects holding these files."""
    routes = copy.deepcopy(GITLAB_ROUTES)
    routes["/groups/10/members"].append({"id": 66, "username": "mallory", "name": "Mallory", "state": "active",
                                         "access_level": 30})
    for i, (name, text) in enumerate(projects.items()):
        pid = 900 + i
        routes["/groups/acme/projects"].append({
            "id": pid, "name": name, "path": name, "path_with_namespace": f"acme/{name}", "default_branch": "main",
            "web_url": f"https://gitlab.example.com/acme/{name}", "archived": False, "empty_repo": False})
        routes[f"/projects/{pid}/repository/files/catalog-info.yaml"] = contents(text)
    return routes


def run_gitlab(graph, routes):
    with RecordedApi(routes, style="gitlab", token=GITLAB_TOKEN, prefix="/api/v4", per_page_cap=50) as api:
        ctx = sync_context(graph=graph, source="gitlab-acme", options={"group": "acme", "api_url": api.url},
                          run_id=new_run_id(), secret=lambda name: {"gitlab-token": GITLAB_TOKEN}[name],
                          integrations=integrations_for(api.url, "gitlab"))
        return load_registry().provider("gitlab").sync(ctx)


def test_gitlab_project_cannot_make_mallory_a_member_of_an_admin_group(graph, portal):
    """A project's catalog file declares `kind: User mallory` with `memberOf: [acme-platform]`, the GitLab
    group that holds the admin role."""
    routes = gitlab_group_with({"sandbox": doc("""
        apiVersion: backstage.io/v1alpha1
        kind: User
        metadata: {name: mallory}
        spec: {memberOf: [acme-platform]}
    """)})
    result = run_gitlab(graph, routes)
    client = mallory_client(portal({"group:default/acme-platform": "admin"}), graph)

    assert not holds_admin(client), "a project's User made mallory an admin"
    (rejected,) = kind_rejections(result)
    assert rejected["file"] == "gitlab:acme/sandbox/catalog-info.yaml" and rejected["ref"] == "user:default/mallory"
    # GitLab's own members are still users, members of their groups
    assert member_refs(graph, "group:default/acme-platform") == ["user:default/dana", "user:default/eve"]


def test_gitlab_project_cannot_take_a_real_groups_ref(graph, portal):
    routes = gitlab_group_with({"aaa": doc("""
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: acme-platform}
        spec: {type: team, children: [], members: [mallory]}
    """)})
    run_gitlab(graph, routes)
    client = mallory_client(portal({"group:default/acme-platform": "admin"}), graph)

    assert not holds_admin(client), "the project's copy of acme-platform made mallory an admin"
    file = graph.read("MATCH (g:Entity {ref: 'group:default/acme-platform'}) RETURN g.file AS f")[0]["f"]
    assert file == "gitlab:acme/platform"


# ------------------------------------------------------------------------------------------ git (a configured source)

ORG = doc("""
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: admins}
    spec: {type: team, children: [], members: [root]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: root}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: mallory}
    spec: {memberOf: []}
""")


def git_repo(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    cmd = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run([*cmd, "add", "."], check=True)
    subprocess.run([*cmd, "commit", "-q", "-m", "init"], check=True)
    return path


def test_git_source_repository_cannot_make_mallory_admin(graph, portal, redis_lock, tmp_path):
    """The operator loads the org with `trellis ingest`; a configured git source reads a repository whose
    file declares a Group under `admins` with mallory as member."""
    org = tmp_path / "org"
    org.mkdir()
    (org / "catalog-info.yaml").write_text(ORG)
    assert ingest(graph, str(org)).ok                       # the operator's org file: any kind
    git_repo(tmp_path / "tools", {"catalog-info.yaml": doc("""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: tool}
        spec: {type: service, lifecycle: production, owner: admins}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: helpers}
        spec: {type: team, parent: admins, children: [], members: [mallory]}
    """)})
    config = parse_config({"sources": [{"name": "tools", "provider": "git", "options": {"target": "tools"}}]},
                          path=str(tmp_path / "trellis.yaml"))
    outcome = run_once(graph, "tools", trigger="manual", force=False, run_id=new_run_id(), lock=redis_lock,
                       config=config, plugins=load_registry())
    client = mallory_client(portal({"group:default/admins": "admin"}), graph)

    assert not holds_admin(client), "a repository read by a git source made mallory an admin"
    assert outcome.status == "partial"
    (rejected,) = [r for r in outcome.result["rejected"] if r["field"] == "kind"]
    assert rejected["file"] == "catalog-info.yaml" and rejected["document"] == 2
    assert "source tools" in rejected["reason"]
    assert graph.read("MATCH (c:Entity {ref: 'component:default/tool'}) RETURN c.ref AS r")   # the rest landed
