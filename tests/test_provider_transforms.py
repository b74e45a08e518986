"""Provider plugins' pure parts, without network or Neo4j: each `transform.py`, and the run records the one
recorder (ingest.runs) builds for entity and runtime-fact runs.

The provider runs themselves (get -> transform -> ctx) are tested against recorded APIs in test_github.py,
test_gitlab.py, test_ci.py, test_kubernetes.py and test_aws.py.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from graph.runs import _counts
from ingest.context import sync_context
from ingest.runs import run_record
from plugins.api import FactsResult, IngestResult, PluginError, SyncContext
from plugins.builtin.aws import transform as aws
from plugins.builtin.ci import transform as ci
from plugins.builtin.github import transform as github
from plugins.builtin.github import webhook as github_webhook
from plugins.builtin.gitlab import transform as gitlab
from plugins.builtin.kubernetes import transform as k8s

BUILTIN = Path(__file__).resolve().parent.parent / "plugins" / "builtin"
PROVIDERS = ("github", "gitlab", "git", "ci", "kubernetes", "aws")
# What a pure transform may import: the standard library's pure modules and the plugin API's types/helpers.
PURE_STDLIB = {"__future__", "base64", "dataclasses", "datetime", "hashlib", "hmac", "json", "re", "typing",
               "urllib.parse"}
DOOR_IO = {"ApiClient", "EtagCache", "FactsWriters", "secret", "SyncContext"}


@pytest.mark.parametrize("name", PROVIDERS)
def test_each_provider_has_get_transform_provider_and_its_transform_does_no_io(name):
    folder = BUILTIN / name
    assert {"get.py", "transform.py", "provider.py", "__init__.py"} <= {p.name for p in folder.iterdir()}
    tree = ast.parse((folder / "transform.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= PURE_STDLIB, ast.unparse(node)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "plugins.api":
                assert not {a.name for a in node.names} & DOOR_IO, ast.unparse(node)
            else:
                assert node.module in PURE_STDLIB, ast.unparse(node)


# ------------------------------------------------------------------------------------------ github

def test_github_push_event_names_the_repository_and_branch():
    payload = {"ref": "refs/heads/main", "repository": {"name": "payments", "default_branch": "main",
                                                        "owner": {"login": "acme"}}}
    push = github_webhook.push_event(payload)
    assert (push.org, push.repo, push.branch, push.to_default_branch) == ("acme", "payments", "main", True)
    tag = github_webhook.push_event({**payload, "ref": "refs/tags/v1"})
    assert tag.branch == "" and not tag.to_default_branch
    assert github_webhook.push_event({"zen": "Keep it logically awesome."}) is None
    assert github_webhook.push_event(["not", "a", "delivery"]) is None


def test_github_repository_event_only_for_actions_that_change_the_listing():
    repo = {"name": "ledger", "full_name": "acme/ledger", "owner": {"login": "acme"}}
    assert github_webhook.repository_event({"action": "archived", "repository": repo}) == ("acme", "ledger", "archived")
    assert github_webhook.repository_event({"action": "edited", "repository": repo}) is None
    assert github_webhook.repository_event({"action": "deleted", "repository": {"full_name": "acme/x"}}) is None


def test_github_source_matching_and_webhook_secret_name():
    assert github_webhook.watches({"org": "Acme"}, "acme") and not github_webhook.watches({"org": "acme"}, "other")
    assert github_webhook.webhook_secret_name({}) == "github-webhook-secret"
    assert github_webhook.webhook_secret_name({"webhook_secret_name": "hooks"}) == "hooks"


def test_github_team_without_parent_or_description():
    group = github.team_entity({"slug": "sre", "name": "SRE"}, "acme", "ops")
    assert group["metadata"] == {"name": "sre", "namespace": "ops", "annotations": {"github.com/team-slug": "acme/sre"}}
    assert "parent" not in group["spec"] and group["spec"]["profile"] == {"displayName": "SRE"}


# ------------------------------------------------------------------------------------------ gitlab

def test_gitlab_group_names_follow_backstage_and_inactive_members_are_left_out():
    assert gitlab.group_name("Acme/Platform/SRE") == "acme-platform-sre"
    groups = [{"id": 1, "full_path": "acme"}, {"id": 2, "full_path": "acme/sre", "parent_id": 1}]
    members = {2: [{"username": "ann", "state": "active"}, {"username": "bot", "state": "blocked"},
                   {"state": "active"}]}
    out = dict(gitlab.org_entities(groups, members))
    assert out["gitlab:acme/sre"]["spec"]["parent"] == "group:default/acme"
    assert set(out) == {"gitlab:acme", "gitlab:acme/sre", "gitlab:users/ann"}
    assert out["gitlab:users/ann"]["spec"]["memberOf"] == ["group:default/acme-sre"]


# ------------------------------------------------------------------------------------------ ci

def test_ci_annotations_name_projects_and_unreadable_items_are_reported_not_raised():
    assert ci.github_slug({"github.com/project-slug": " acme/x "}) == "acme/x"
    assert ci.jenkins_job({"jenkins.io/job-full-name": "/folder/job/"}) == "folder/job"
    assert ci.github_slug({}) is None and ci.jenkins_job({}) is None
    kind = ci.CiKind("jenkins", (ci.JENKINS_ANNOTATION,), ci.jenkins_job, lambda *a: [], ci.jenkins_build)
    records, problems = ci.transform_all(kind, "folder/job", [{"number": 3, "result": "SUCCESS"}, {"result": "x"}])
    assert [r["id"] for r in records] == ["3"] and records[0]["status"] == "succeeded"
    assert problems == ["unreadable jenkins build in folder/job: KeyError: 'number'"]


@pytest.mark.parametrize("value", [0, 1001, "20", True, None])
def test_ci_integer_options_are_bounded(value):
    with pytest.raises(ValueError, match="'keep' must be an integer from 1 to 1000"):
        ci.option_int({"keep": value}, "keep", 20)


# ------------------------------------------------------------------------------------------ kubernetes

def test_kubernetes_cluster_items_become_namespace_and_workload_records():
    raw = {"Namespace": [{"metadata": {"name": "shop"}, "status": {"phase": "Active"}}, {}],
           "Deployment": [{"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
                           "spec": {"replicas": 2}, "status": {"readyReplicas": 1}}],
           "Service": [{"metadata": {"name": "web", "namespace": "shop"}, "spec": {"ports": [{"port": 80}]}}]}
    namespaces, workloads = k8s.transform_cluster("prod", raw)
    assert [n["uid"] for n in namespaces] == ["prod/shop"]
    assert [(w["uid"], w["healthy"]) for w in workloads] == [("prod/shop/Deployment/web", False),
                                                            ("prod/shop/Service/web", None)]
    assert workloads[1]["ports"] == ["80/TCP"] and workloads[1]["service_type"] == "ClusterIP"


# ------------------------------------------------------------------------------------------ aws

def test_aws_accounts_default_to_top_level_regions_and_keys_come_only_by_secret_name():
    (account,) = aws.parse_accounts({"regions": ["eu-west-1"], "access_key_secret_name": "aws-key",
                                     "secret_key_secret_name": "aws-secret", "endpoint_url": "http://moto:5000"})
    assert (account.name, account.regions, account.endpoint_url) == ("default", ("eu-west-1",), "http://moto:5000")
    assert (account.access_key_secret_name, account.secret_key_secret_name) == ("aws-key", "aws-secret")
    assert aws.origin("prod", "eu-west-1", "sqs") == "aws:prod/eu-west-1/sqs"


# ------------------------------------------------------------------------------------------ run records

def test_a_facts_run_records_its_own_counts_and_reads_like_any_run():
    facts = FactsResult(source="ci", target="https://ci", run="r1", created=3, seen_again=5, removed=1, read=2,
                        rejected=[{"file": "acme/x", "reason": "404"}])
    record = run_record(facts, 0, "partial", None, trigger="schedule", name="ci")
    assert record["kind"] == "facts"
    assert (record["facts_created"], record["facts_seen_again"], record["facts_removed"], record["facts_read"]) \
        == (3, 5, 1, 2)
    assert not {"added", "updated", "unchanged", "removed", "files"} & set(record)   # no reused ingest fields
    assert _counts(record) == {"added": 3, "updated": 0, "unchanged": 5, "removed": 1, "files": 2,
                               "reused_files": 0, "rejected": 1, "conflicts": 0}


def test_an_ingest_run_record_keeps_its_fields():
    result = IngestResult(source="s", target="t", run="r2", added=1, updated=2, unchanged=3, removed=4, files=5)
    record = run_record(result, 0, "ok", None)
    assert "kind" not in record
    assert _counts(record) == {"added": 1, "updated": 2, "unchanged": 3, "removed": 4, "files": 5,
                               "reused_files": 0, "rejected": 0, "conflicts": 0}


def test_a_context_without_ingest_services_refuses_clearly():
    bare = SyncContext(graph=None, source="s", options={}, run_id="r")
    with pytest.raises(PluginError, match="no services"):
        bare.ingest([], target="t")
    built = sync_context(graph=None, source="s", run_id="r", kinds=None)
    assert built.services is not None and built.kind_rules() is not None
