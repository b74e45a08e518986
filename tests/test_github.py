"""GitHub provider: pure transforms, and full runs against recorded API responses into the real Neo4j."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ingest.context import sync_context
from ingest.descriptors.contents import read_descriptor_file
from ingest.sync import new_run_id
from plugins.api import OptionsError, SyncContext
from plugins.builtin.github import transform as github
from plugins.builtin.github.provider import GitHubProvider
from plugins.builtin.github.transform import GitHubOptions, Repo
from plugins.http import BadCredentials, Unavailable
from tests.fixtures.github.recorded_api import RecordedApi, load_routes

FIXTURES = Path(__file__).parent / "fixtures" / "github"
TOKEN = "ghp_recorded_fixture_token"
ROUTES = load_routes(FIXTURES)


# ------------------------------------------------------------------------------------------ transforms

def test_archived_and_disabled_repositories_are_skipped():
    repos = [{"name": "a", "default_branch": "trunk", "html_url": "https://github.com/o/a"},
             {"name": "b", "archived": True}, {"name": "c", "disabled": True}, {"name": "d"}]
    assert github.repos_to_read(repos) == [Repo("a", "trunk", "https://github.com/o/a"), Repo("d", "main", "")]


def test_contents_answer_becomes_annotated_entities():
    payload = ROUTES["/repos/acme/payments/contents/catalog-info.yaml"]
    docs = github.descriptor_entities("acme", Repo("payments", "main", "https://github.com/acme/payments"),
                                      "catalog-info.yaml", read_descriptor_file(payload))
    assert docs.problems == []
    (i1, service), (i2, api) = docs.documents
    assert (i1, i2) == (1, 2)
    assert service["metadata"]["name"] == "payments-service"
    assert service["metadata"]["annotations"] == {
        "backstage.io/managed-by-location": "url:https://github.com/acme/payments/blob/main/catalog-info.yaml",
        "github.com/project-slug": "acme/payments",
    }


def test_descriptor_annotations_the_file_sets_itself_win():
    text = ("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\n  annotations:\n"
            "    github.com/project-slug: other/repo\nspec: {type: service, lifecycle: x, owner: y}\n")
    payload = {"type": "file", "encoding": "base64", "content": base64.b64encode(text.encode()).decode()}
    docs = github.descriptor_entities("acme", Repo("x", "main", ""), "catalog-info.yaml", read_descriptor_file(payload))
    assert docs.documents[0][1]["metadata"]["annotations"]["github.com/project-slug"] == "other/repo"


@pytest.mark.parametrize("payload, reason", [
    ({"type": "file", "encoding": "none", "content": "", "size": 2_000_000}, "not returned inline"),
    ([{"type": "file", "name": "a"}], "directory listing"),
    ({"type": "file", "encoding": "base64", "content": base64.b64encode(b"\xff\xfe").decode()}, "not valid UTF-8"),
    (ROUTES["/repos/acme/broken-yaml/contents/catalog-info.yaml"], "malformed YAML at line"),
])
def test_unreadable_descriptor_files_give_a_reason(payload, reason):
    docs = github.descriptor_entities("acme", Repo("r", "main", ""), "catalog-info.yaml", read_descriptor_file(payload))
    assert docs.documents == [] and reason in docs.problems[0][1]


def test_teams_become_groups_with_parents_and_members_become_users():
    teams = ROUTES["/orgs/acme/teams"]
    members = {"platform": ["alice"], "payments-team": ["bob", "alice"], "checkout-team": ["carol"]}
    users = {"alice": ROUTES["/users/alice"], "bob": ROUTES["/users/bob"]}
    out = dict((e["metadata"]["name"], (origin, e)) for origin, e in github.org_entities("acme", teams, members, users))
    origin, payments = out["payments-team"]
    assert origin == "github:acme/teams/payments-team"
    assert payments["kind"] == "Group" and payments["spec"]["parent"] == "group:default/platform"
    assert payments["spec"]["profile"] == {"displayName": "Payments Team"}
    assert "parent" not in out["platform"][1]["spec"]
    alice = out["alice"][1]
    assert alice["kind"] == "User"
    assert alice["spec"]["memberOf"] == ["group:default/payments-team", "group:default/platform"]
    assert alice["spec"]["profile"]["email"] == "alice@acme.example"
    assert alice["metadata"]["annotations"]["github.com/user-login"] == "alice"
    assert "email" not in out["bob"][1]["spec"]["profile"]            # no public email
    assert out["carol"][1]["spec"]["profile"] == {"displayName": "carol"}   # no profile fetched


def test_options_are_checked():
    assert GitHubOptions.parse({"org": "acme"}).catalog_path == "catalog-info.yaml"
    with pytest.raises(OptionsError, match="org"):
        GitHubOptions.parse({})
    with pytest.raises(OptionsError, match="catalog_path"):
        GitHubOptions.parse({"org": "acme", "catalog_path": "../etc/passwd"})


# ------------------------------------------------------------------------------------------ runs into Neo4j

@pytest.fixture
def api():
    with RecordedApi(ROUTES, style="github", token=TOKEN, per_page_cap=2) as server:
        yield server


def context(graph, api, **options) -> SyncContext:
    from tests.integration_helpers import integrations_for

    return sync_context(graph=graph, source="github-acme", options={"org": "acme", "api_url": api.url, **options},
                       run_id=new_run_id(), secret=lambda name: {"github-token": TOKEN}[name],
                       integrations=integrations_for(api.url, "github"))


def run(graph, api, **overrides):
    sleeps: list[float] = []
    result = GitHubProvider().sync(context(graph, api), sleep=sleeps.append, **overrides)
    return result, sleeps


def refs(graph, kind=None) -> set[str]:
    rows = graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref")
    return {r["ref"] for r in rows if kind is None or r["ref"].startswith(kind + ":")}


def rels(graph, ref):
    rows = graph.read("MATCH (a:Entity {ref: $ref})-[r]->(b) RETURN type(r) AS t, b.ref AS b ORDER BY t, b", ref=ref)
    return [(r["t"], r["b"]) for r in rows]


EXPECTED = {
    "component:default/payments-service", "api:default/payments-api", "component:default/checkout-service",
    "group:default/platform", "group:default/payments-team", "group:default/checkout-team",
    "user:default/alice", "user:default/bob", "user:default/carol",
}


def test_registered_plugin_syncs_an_organisation_into_the_graph(graph, api):
    from plugins.registry import load_registry

    provider = load_registry().provider("github")
    result = provider.sync(context(graph, api))
    assert refs(graph) == EXPECTED
    assert result.added == len(EXPECTED) and result.removed == 0
    # the malformed descriptor is reported, the archived repository never asked for, the repo without one skipped
    assert [(r["file"], r["reason"][:14]) for r in result.rejected] == \
        [("github:acme/broken-yaml/catalog-info.yaml", "malformed YAML")]
    assert not api.requests_to("legacy-billing")
    assert api.requests_to("/repos/acme/docs-site/contents/")[0][1] == 404
    assert api.requests_to("/repos/acme/checkout/contents/catalog-info.yaml?ref=trunk")

    rows = graph.read("MATCH (n:Entity {ref: 'component:default/checkout-service'}) RETURN n")
    checkout = dict(rows[0]["n"])
    assert checkout["file"] == "github:acme/checkout/catalog-info.yaml" and checkout["source"] == "github-acme"
    assert json.loads(checkout["descriptor"])["metadata"]["annotations"]["backstage.io/managed-by-location"] == \
        "url:https://github.com/acme/checkout/blob/trunk/catalog-info.yaml"
    assert rels(graph, "component:default/checkout-service") == [
        ("CONSUMES_API", "api:default/payments-api"), ("DEPENDS_ON", "component:default/payments-service"),
        ("OWNED_BY", "group:default/checkout-team")]
    assert rels(graph, "component:default/payments-service") == [
        ("OWNED_BY", "group:default/payments-team"), ("PROVIDES_API", "api:default/payments-api")]
    assert rels(graph, "group:default/payments-team") == [("CHILD_OF", "group:default/platform")]
    assert rels(graph, "user:default/alice") == [
        ("MEMBER_OF", "group:default/payments-team"), ("MEMBER_OF", "group:default/platform")]
    alice = json.loads(graph.read("MATCH (n {ref: 'user:default/alice'}) RETURN n.descriptor AS d")[0]["d"])
    assert alice["spec"]["profile"]["email"] == "alice@acme.example"
    assert alice["metadata"]["annotations"]["github.com/user-login"] == "alice"
    run_row = graph.read("MATCH (r:IngestRun {id: $id}) RETURN r", id=result.run)[0]["r"]
    assert run_row["added"] == len(EXPECTED) and run_row["status"] == "partial"
    assert run_row["rejected_count"] == 1 and "broken-yaml" in run_row["rejected"]


def test_resync_without_changes_is_all_304s_and_writes_nothing(graph, api):
    run(graph, api)
    first = len(api.log)
    api.log.clear()
    result, _ = run(graph, api)
    assert (result.added, result.updated, result.removed, result.unchanged) == (0, 0, 0, len(EXPECTED))
    statuses = [status for _, status in api.log]
    assert len(statuses) == first and statuses.count(200) == 0
    assert statuses.count(404) == 1              # docs-site: a 404 cannot be conditional


def test_changed_descriptor_is_updated_and_a_vanished_repository_removed(graph, api):
    run(graph, api)
    api.routes["/orgs/acme/repos"] = [r for r in api.routes["/orgs/acme/repos"] if r["name"] != "checkout"]
    payload = api.routes["/repos/acme/payments/contents/catalog-info.yaml"]
    text = base64.b64decode(payload["content"]).decode().replace("Takes the money", "Moves the money")
    payload["content"] = base64.b64encode(text.encode()).decode()
    result, _ = run(graph, api)
    assert (result.updated, result.removed) == (1, 1)
    assert refs(graph) == EXPECTED - {"component:default/checkout-service"}
    desc = graph.read("MATCH (n {ref: 'component:default/payments-service'}) RETURN n.description AS d")[0]["d"]
    assert desc == "Moves the money"


def test_a_file_that_turns_unreadable_removes_nothing_it_held(graph, api):
    run(graph, api)
    payload = api.routes["/repos/acme/checkout/contents/catalog-info.yaml"]
    payload["content"] = base64.b64encode(b"kind: [unclosed").decode()
    result, _ = run(graph, api)
    assert result.removed == 0 and "component:default/checkout-service" in refs(graph)
    assert any(r["file"] == "github:acme/checkout/catalog-info.yaml" for r in result.rejected)


def test_bad_credentials_fail_the_run_and_delete_nothing(graph, api):
    run(graph, api)
    api.token = "rotated"
    ctx = context(graph, api)
    with pytest.raises(BadCredentials, match="bad credentials") as err:
        GitHubProvider().sync(ctx)
    assert TOKEN not in str(err.value)
    assert refs(graph) == EXPECTED


def test_persistent_5xx_fails_the_run_and_deletes_nothing(graph, api):
    run(graph, api)
    api.queue("/repos/acme/payments/contents/catalog-info.yaml", *[(502, {}, {"message": "Bad Gateway"})] * 5)
    with pytest.raises(Unavailable):
        run(graph, api, max_retries=2)
    assert refs(graph) == EXPECTED


def test_transient_5xx_and_rate_limit_mid_run_back_off_and_complete(graph, api):
    api.queue("/orgs/acme/teams", (503, {}, {"message": "Service Unavailable"}))
    api.queue("/repos/acme/checkout/contents/catalog-info.yaml",
              (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1800000030"},
               {"message": "API rate limit exceeded"}))
    result, sleeps = run(graph, api, clock=lambda: 1_800_000_000.0, backoff=0.25)
    assert refs(graph) == EXPECTED and result.added == len(EXPECTED)
    assert sorted(sleeps) == [0.25, 31.0]


def test_a_repository_the_token_may_not_read_is_isolated(graph, api):
    run(graph, api)
    api.queue("/repos/acme/checkout/contents/catalog-info.yaml",
              (403, {}, {"message": "Resource protected by organization SAML enforcement."}))
    payload = api.routes["/repos/acme/payments/contents/catalog-info.yaml"]
    payload["content"] = base64.b64encode(
        base64.b64decode(payload["content"]).replace(b"Takes the money", b"Moves the money")).decode()
    result, _ = run(graph, api)
    assert result.updated == 1 and result.removed == 0         # the others still sync
    assert "component:default/checkout-service" in refs(graph)   # the unreadable one keeps its entities
    (problem,) = [r for r in result.rejected if r["file"] == "github:acme/checkout/catalog-info.yaml"]
    assert "403" in problem["reason"] and "SAML" in problem["reason"]


# ------------------------------------------------------------------------------------------ Location targets

def contents(text: str) -> dict:
    return {"type": "file", "encoding": "base64", "content": base64.b64encode(text.encode()).decode()}


LOCATION = """\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: platform-apis}
spec:
  targets: [./apis/billing.yaml, ./apis/gone.yaml, "https://example.com/x.yaml", "./more/*.yaml", ../../etc/passwd]
"""
BILLING = """\
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: billing-api}
spec: {type: openapi, lifecycle: production, owner: payments-team, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: back-again}
spec: {target: ../catalog-info.yaml}
"""


def test_location_paths_stay_inside_the_repository():
    from ingest.descriptors.repository import location_paths

    paths, problems = location_paths(yaml_doc(LOCATION), "catalog-info.yaml")
    assert paths == ["apis/billing.yaml", "apis/gone.yaml"]
    assert [p.split("'")[1] for p in problems] == ["https://example.com/x.yaml", "./more/*.yaml", "../../etc/passwd"]
    assert location_paths({"spec": {"target": "/docs/x.yaml"}}, "a/b/catalog-info.yaml")[0] == ["docs/x.yaml"]


def yaml_doc(text: str) -> dict:
    from ingest.descriptors.contents import split_documents

    return split_documents(text).documents[0][1]


def test_locations_in_a_repository_are_followed_once_and_a_vanished_target_is_removed(graph, api):
    repo = dict(api.routes["/orgs/acme/repos"][0], name="platform-apis", full_name="acme/platform-apis",
                html_url="https://github.com/acme/platform-apis")
    api.routes["/orgs/acme/repos"].append(repo)
    api.routes["/repos/acme/platform-apis/contents/catalog-info.yaml"] = contents(LOCATION)
    api.routes["/repos/acme/platform-apis/contents/apis/billing.yaml"] = contents(BILLING)
    result, _ = run(graph, api)
    assert {"api:default/billing-api", "location:default/platform-apis", "location:default/back-again"} <= refs(graph)
    billing = dict(graph.read("MATCH (n {ref: 'api:default/billing-api'}) RETURN n")[0]["n"])
    assert billing["file"] == "github:acme/platform-apis/apis/billing.yaml"
    assert len(api.requests_to("/repos/acme/platform-apis/contents/catalog-info.yaml")) == 1   # the cycle
    reasons = [r["reason"] for r in result.rejected if r["file"].startswith("github:acme/platform-apis/")]
    assert any("apis/gone.yaml does not exist" in r for r in reasons)
    assert any("is a URL" in r for r in reasons) and any("is a glob" in r for r in reasons)
    assert any("outside the repository" in r for r in reasons)
    # the target file is deleted: its entities go, the rest of the repository stays
    del api.routes["/repos/acme/platform-apis/contents/apis/billing.yaml"]
    result, _ = run(graph, api)
    assert "api:default/billing-api" not in refs(graph) and "location:default/platform-apis" in refs(graph)
    assert result.removed == 2
