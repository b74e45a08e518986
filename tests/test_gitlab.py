"""GitLab provider: pure transforms, and full runs against recorded API v4 responses into the real Neo4j."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.context import sync_context
from ingest.descriptors.contents import read_descriptor_file
from ingest.sync import new_run_id
from plugins.api import SyncContext
from plugins.builtin.gitlab import transform as gitlab
from plugins.builtin.gitlab.provider import GitLabProvider
from plugins.builtin.gitlab.transform import GitLabOptions, Project
from plugins.http import BadCredentials, RateLimited
from tests.fixtures.github.recorded_api import RecordedApi, load_routes

FIXTURES = Path(__file__).parent / "fixtures" / "gitlab"
TOKEN = "glpat-recorded-fixture-token"
ROUTES = load_routes(FIXTURES)
GROUPS = [ROUTES["/groups/acme"], *ROUTES["/groups/acme/descendant_groups"]]


# ------------------------------------------------------------------------------------------ transforms

def test_archived_and_empty_projects_are_skipped():
    got = gitlab.projects_to_read(ROUTES["/groups/acme/projects"])
    assert [p.path for p in got] == ["acme/platform/payments/ledger", "acme/platform/web-shop", "acme/no-descriptor"]
    assert got[1].branch == "develop"


def test_files_answer_becomes_annotated_entities():
    project = Project(201, "acme/platform/payments/ledger", "main",
                      "https://gitlab.example.com/acme/platform/payments/ledger")
    payload = ROUTES["/projects/201/repository/files/catalog-info.yaml"]
    docs = gitlab.descriptor_entities(project, "catalog-info.yaml", read_descriptor_file(payload))
    assert [e["metadata"]["name"] for _, e in docs.documents] == ["ledger", "ledger-api"]
    assert docs.documents[0][1]["metadata"]["annotations"] == {
        "backstage.io/managed-by-location":
            "url:https://gitlab.example.com/acme/platform/payments/ledger/-/blob/main/catalog-info.yaml",
        "gitlab.com/project-slug": "acme/platform/payments/ledger",
    }


def test_groups_keep_their_tree_and_active_members_become_users():
    members = {10: ROUTES["/groups/10/members"], 11: ROUTES["/groups/11/members"], 12: ROUTES["/groups/12/members"]}
    out = {e["metadata"]["name"]: (origin, e) for origin, e in gitlab.org_entities(GROUPS, members)}
    origin, payments = out["acme-platform-payments"]
    assert origin == "gitlab:acme/platform/payments"
    assert payments["spec"]["parent"] == "group:default/acme-platform"
    assert payments["metadata"]["annotations"]["gitlab.com/team-path"] == "acme/platform/payments"
    assert out["acme-platform"][1]["spec"]["parent"] == "group:default/acme"
    assert "parent" not in out["acme"][1]["spec"]
    dana = out["dana"][1]
    assert dana["spec"]["memberOf"] == ["group:default/acme", "group:default/acme-platform"]
    assert dana["spec"]["profile"]["email"] == "dana@acme.example"
    assert dana["metadata"]["annotations"]["gitlab.com/user-login"] == "dana"
    assert "gone" not in out                       # blocked account


def test_options_are_checked():
    assert GitLabOptions.parse({"group": 42}).group == "42"
    with pytest.raises(ValueError, match="group"):
        GitLabOptions.parse({"group": ""})


# ------------------------------------------------------------------------------------------ runs into Neo4j

@pytest.fixture
def api():
    with RecordedApi(ROUTES, style="gitlab", token=TOKEN, prefix="/api/v4", per_page_cap=2) as server:
        yield server


def context(graph, api) -> SyncContext:
    from tests.integration_helpers import integrations_for

    return sync_context(graph=graph, source="gitlab-acme", options={"group": "acme", "api_url": api.url},
                       run_id=new_run_id(), secret=lambda name: {"gitlab-token": TOKEN}[name],
                       integrations=integrations_for(api.url, "gitlab"))


def refs(graph) -> set[str]:
    return {r["ref"] for r in graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")}


def rels(graph, ref):
    rows = graph.read("MATCH (a:Entity {ref: $ref})-[r]->(b) RETURN type(r) AS t, b.ref AS b ORDER BY t, b", ref=ref)
    return [(r["t"], r["b"]) for r in rows]


EXPECTED = {
    "component:default/ledger", "api:default/ledger-api", "component:default/web-shop",
    "group:default/acme", "group:default/acme-platform", "group:default/acme-platform-payments",
    "user:default/root", "user:default/dana", "user:default/eve", "user:default/frank",
}


def test_registered_plugin_syncs_a_group_tree_into_the_graph(graph, api):
    from plugins.registry import load_registry

    result = load_registry().provider("gitlab").sync(context(graph, api))
    assert refs(graph) == EXPECTED and result.added == len(EXPECTED) and result.rejected == []
    assert not api.requests_to("/projects/203/")          # archived: never read
    assert api.requests_to("/projects/202/repository/files/catalog-info.yaml?ref=develop")
    # X-Next-Page pagination: 5 projects at 2 per page
    assert len(api.requests_to("/groups/acme/projects")) == 3
    ledger = dict(graph.read("MATCH (n {ref: 'component:default/ledger'}) RETURN n")[0]["n"])
    assert ledger["file"] == "gitlab:acme/platform/payments/ledger/catalog-info.yaml"
    assert ledger["source"] == "gitlab-acme"
    assert rels(graph, "component:default/ledger") == [
        ("OWNED_BY", "group:default/acme-platform-payments"), ("PROVIDES_API", "api:default/ledger-api")]
    assert rels(graph, "component:default/web-shop") == [
        ("CONSUMES_API", "api:default/ledger-api"), ("OWNED_BY", "group:default/acme-platform")]
    assert rels(graph, "group:default/acme-platform-payments") == [("CHILD_OF", "group:default/acme-platform")]
    assert rels(graph, "user:default/frank") == [("MEMBER_OF", "group:default/acme-platform-payments")]
    dana = json.loads(graph.read("MATCH (n {ref: 'user:default/dana'}) RETURN n.descriptor AS d")[0]["d"])
    assert dana["spec"]["profile"]["email"] == "dana@acme.example"


def test_resync_unchanged_is_conditional_then_a_removed_project_disappears(graph, api):
    GitLabProvider().sync(context(graph, api))
    api.log.clear()
    result = GitLabProvider().sync(context(graph, api))
    assert (result.added, result.updated, result.removed) == (0, 0, 0)
    assert {status for _, status in api.log} == {304, 404}
    api.routes["/groups/acme/projects"] = [p for p in api.routes["/groups/acme/projects"] if p["id"] != 202]
    result = GitLabProvider().sync(context(graph, api))
    assert result.removed == 1 and refs(graph) == EXPECTED - {"component:default/web-shop"}


def test_bad_credentials_and_rate_limits_fail_cleanly_and_delete_nothing(graph, api):
    GitLabProvider().sync(context(graph, api))
    api.token = "revoked"
    with pytest.raises(BadCredentials, match="bad credentials: GitLab"):
        GitLabProvider().sync(context(graph, api))
    api.token = TOKEN
    api.queue("/groups/acme/descendant_groups", (429, {"RateLimit-Remaining": "0", "RateLimit-Reset": "1800003600"},
                                                 {"message": "Retry later"}))
    with pytest.raises(RateLimited):
        GitLabProvider().sync(context(graph, api), clock=lambda: 1_800_000_000.0, sleep=lambda s: None)
    assert refs(graph) == EXPECTED


def test_gitlab_429_with_retry_after_waits_and_resumes(graph, api):
    sleeps: list[float] = []
    api.queue("/projects/201/repository/files/catalog-info.yaml",
              (429, {"Retry-After": "12"}, {"message": "Retry later"}))
    api.queue("/groups/11/members", (500, {}, {"message": "500 Internal Server Error"}))
    GitLabProvider().sync(context(graph, api), sleep=sleeps.append, backoff=0.1)
    assert sorted(sleeps) == [0.1, 12.0] and refs(graph) == EXPECTED
