"""CI providers: GitHub Actions runs, GitLab pipelines, Jenkins builds -> (:Entity)-[:HAS_BUILD]->(:Build).

Transforms and ci_health are pure (unit tests); the providers run against a real local HTTP server replaying
recorded responses in each provider's documented shape, and load into the real Neo4j.
"""
from __future__ import annotations


import pytest

from graph import builds as graph_builds
from graph.builds import ci_health
from ingest.context import sync_context
from ingest.sync import ingest
from plugins.builtin.ci import transform
from plugins.builtin.ci.provider import KINDS, GitHubActionsProvider, GitLabCiProvider, JenkinsProvider
from plugins.builtin.ci.transform import group_by_project
from plugins.http import ApiClient, BadCredentials
from tests.fixtures.ci.server import RecordedServer, Reply, recorded

# ------------------------------------------------------------------------------------------ transforms


def test_github_run_transform_maps_status_duration_and_links():
    page = recorded("github_runs_page1.json")
    failed, ok = (transform.github_run("acme/payments", r) for r in page["workflow_runs"])
    assert failed == {
        "key": "github-actions:acme/payments:30433642", "provider": "github-actions", "id": "30433642",
        "name": "Build", "number": 562, "status": "failed", "branch": "main",
        "commit": "acb5820ced9479c074f688cc328bf03f341a511d", "started_at": 1795168805000,
        "duration_ms": 265000, "url": "https://github.com/acme/payments/actions/runs/30433642",
    }
    assert ok["status"] == "succeeded" and ok["duration_ms"] == 120000 and ok["branch"] == "feature/x"
    running = transform.github_run("acme/payments", recorded("github_runs_page2.json")["workflow_runs"][0])
    assert running["status"] == "running" and running["duration_ms"] is None


@pytest.mark.parametrize("status,conclusion,expected", [
    ("completed", "cancelled", "cancelled"), ("completed", "timed_out", "failed"), ("queued", None, "queued"),
    ("completed", "skipped", "skipped"), ("completed", "something-new", "unknown"),
])
def test_github_status_mapping(status, conclusion, expected):
    assert transform.github_status({"status": status, "conclusion": conclusion}) == expected


def test_gitlab_pipeline_transform():
    first, second = (transform.gitlab_pipeline("1234", p) for p in recorded("gitlab_pipelines_page1.json"))
    assert first["key"] == "gitlab:1234:47" and first["status"] == "succeeded" and first["branch"] == "main"
    assert first["duration_ms"] == 600000 and first["name"] == "Build pipeline" and first["number"] == 12
    assert second["status"] == "failed" and second["name"] == "pipeline #11"
    assert transform.gitlab_pipeline("1", {"id": 1, "status": "running", "created_at": "2026-01-01T00:00:00Z",
                                           "updated_at": "2026-01-01T00:05:00Z"})["duration_ms"] is None


def test_gitlab_project_annotation_prefers_id():
    assert transform.gitlab_project({"gitlab.com/project-id": "42", "gitlab.com/project-slug": "a/b"}) == "42"
    assert transform.gitlab_project({"gitlab.com/project-slug": "/group/sub/app/"}) == "group/sub/app"
    assert transform.gitlab_project({}) is None


def test_jenkins_build_transform_and_job_path():
    builds = [transform.jenkins_build("platform/inventory", b) for b in recorded("jenkins_builds.json")["builds"]]
    assert [b["status"] for b in builds] == ["running", "succeeded", "failed", "cancelled"]
    assert builds[0]["branch"] == "main" and builds[0]["duration_ms"] is None
    assert builds[1] == {
        "key": "jenkins:platform/inventory:104", "provider": "jenkins", "id": "104", "name": "#104", "number": 104,
        "status": "succeeded", "branch": "main", "commit": "8e2d0b1a39c4d5e6f708192a3b4c5d6e7f809102",
        "started_at": 1763985600000, "duration_ms": 183000,
        "url": "https://jenkins.example.com/job/platform/job/inventory/104/",
    }
    assert transform.jenkins_job_path("platform/inventory") == "/job/platform/job/inventory"
    assert transform.jenkins_job_path("a b/c") == "/job/a%20b/job/c"
    with pytest.raises(ValueError):
        transform.jenkins_job_path("/")


def test_ci_health_last_status_and_failure_rate():
    builds = [{"status": "running"}, {"status": "failed"}, {"status": "cancelled"}, {"status": "succeeded"},
              {"status": "succeeded"}, {"status": "failed"}]
    health = ci_health(builds)
    assert health["last_status"] == "running" and health["last_finished_status"] == "failed"
    assert health["finished"] == 4 and health["failures"] == 2 and health["failure_rate"] == 0.5
    empty = ci_health([])
    assert empty["last_status"] is None and empty["failure_rate"] is None and empty["count"] == 0
    assert ci_health([{"status": "cancelled"}])["failure_rate"] is None


def test_entities_sharing_a_project_are_grouped():
    kind = KINDS["github-actions"]
    grouped = group_by_project(kind, [("component:default/a", {"github.com/project-slug": "acme/x"}),
                                      ("component:default/b", {"github.com/project-slug": "acme/x"}),
                                      ("component:default/c", {"github.com/project-slug": " "})])
    assert grouped == {"acme/x": ["component:default/a", "component:default/b"]}


# ------------------------------------------------------------------------------------------ integration

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  annotations:
    github.com/project-slug: acme/payments
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
  annotations:
    github.com/project-slug: acme/ledger
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations:
    gitlab.com/project-id: "1234"
spec: {type: service, lifecycle: production, owner: team-b}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: inventory
  annotations:
    jenkins.io/job-full-name: platform/inventory
spec: {type: service, lifecycle: production, owner: team-b}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: billing
  annotations:
    jenkins.io/job-full-name: platform/billing
spec: {type: service, lifecycle: production, owner: team-b}
"""


@pytest.fixture
def catalog(graph, tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(CATALOG)
    result = ingest(graph, str(tmp_path))
    assert result.added == 5, result.as_json()
    return tmp_path


def _ctx(graph, server, run_id, kind="github", **options):
    """A source on the fake server, configured as a `kind` integration (GitHub's also serves Jenkins)."""
    from tests.integration_helpers import integrations_for

    return sync_context(graph=graph, source="ci-test", options={"api_url": server.url, "url": server.url, **options},
                       run_id=run_id, secret=lambda name: f"token-for-{name}",
                       integrations=integrations_for(server.url, kind))


def _builds(graph, ref):
    return graph_builds.builds_for(graph, ref)


def _github_server(server: RecordedServer) -> None:
    server.json("/repos/acme/payments/actions/runs", recorded("github_runs_page1.json"),
                headers={"Link": '<{base}/repos/acme/payments/actions/runs?per_page=20&page=2>; rel="next", '
                                 '<{base}/repos/acme/payments/actions/runs?per_page=20&page=2>; rel="last"'})
    server.json("/repos/acme/payments/actions/runs", recorded("github_runs_page2.json"), query={"page": "2"})


def test_github_actions_loads_paged_runs_and_isolates_a_missing_repository(graph, catalog):
    with RecordedServer() as server:
        _github_server(server)
        # acme/ledger: not recorded -> 404: reported, the other repository still loads
        result = GitHubActionsProvider().sync(_ctx(graph, server, "run1"))
        assert server.requests[0]["headers"]["authorization"] == "Bearer token-for-github-token"
    runs = _builds(graph, "component:default/payments")
    assert [b["id"] for b in runs] == ["30433642", "30433600", "30433500"]   # both pages, newest first
    assert runs[0]["status"] == "failed" and runs[0]["commit"].startswith("acb5820")
    assert result.created == 3 and result.removed == 0
    assert [r["file"] for r in result.rejected] == ["acme/ledger"] and "404" in result.rejected[0]["reason"]
    rows = graph.read("MATCH (e:Component)-[r:HAS_BUILD]->(b:Build) RETURN e.ref AS ref, count(b) AS n, "
                      "collect(DISTINCT r.source) AS sources")
    assert [(r["ref"], r["n"], r["sources"]) for r in rows] == [("component:default/payments", 3, ["ci-test"])]
    health = ci_health(runs)
    assert health["last_status"] == "failed" and health["failure_rate"] == 0.5


def test_rate_limit_and_server_errors_are_retried(graph, catalog, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: slept.append(s))
    with RecordedServer() as server:
        server.add("/repos/acme/payments/actions/runs",
                   Reply(403, {"message": "API rate limit exceeded"},
                         {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0", "Retry-After": "2"}),
                   Reply(502, {"message": "Bad gateway"}),
                   Reply(200, recorded("github_runs_page2.json")))
        server.json("/repos/acme/ledger/actions/runs", {"total_count": 0, "workflow_runs": []})
        result = GitHubActionsProvider().sync(_ctx(graph, server, "run1"))
        assert server.hits("/repos/acme/payments/actions/runs") == 3
    assert result.rejected == [] and result.created == 1
    assert 2.0 in slept                       # waited as the rate-limit answer asked
    assert [b["id"] for b in _builds(graph, "component:default/payments")] == ["30433500"]


def test_bad_credentials_fail_the_run_and_delete_nothing(graph, catalog):
    with RecordedServer() as server:
        _github_server(server)
        server.json("/repos/acme/ledger/actions/runs", {"total_count": 0, "workflow_runs": []})
        GitHubActionsProvider().sync(_ctx(graph, server, "run1"))
    before = _builds(graph, "component:default/payments")
    assert len(before) == 3
    with RecordedServer() as server:
        server.json("/repos/acme/ledger/actions/runs", {"message": "Bad credentials"}, status=401)
        server.json("/repos/acme/payments/actions/runs", {"message": "Bad credentials"}, status=401)
        with pytest.raises(BadCredentials, match="bad credentials"):
            GitHubActionsProvider().sync(_ctx(graph, server, "run2"))
    assert _builds(graph, "component:default/payments") == before


def test_gitlab_pipelines_paged_by_next_page_header(graph, catalog):
    with RecordedServer() as server:
        server.json("/projects/1234/pipelines", recorded("gitlab_pipelines_page1.json"),
                    headers={"X-Next-Page": "2", "X-Page": "1", "X-Per-Page": "2"})
        server.json("/projects/1234/pipelines", recorded("gitlab_pipelines_page2.json"), query={"page": "2"},
                    headers={"X-Next-Page": "", "X-Page": "2"})
        result = GitLabCiProvider().sync(_ctx(graph, server, "run1", kind="gitlab"))
        assert server.requests[0]["headers"]["private-token"] == "token-for-gitlab-token"
        assert server.requests[0]["query"]["order_by"] == "id"
    assert result.rejected == []
    builds = _builds(graph, "component:default/checkout")
    assert [(b["id"], b["status"]) for b in builds] == [("47", "succeeded"), ("46", "failed"), ("45", "cancelled")]
    assert builds[0]["url"].endswith("/pipelines/47")


def test_jenkins_keeps_last_n_and_isolates_a_failing_job(graph, catalog, monkeypatch):
    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: None)
    with RecordedServer() as server:
        server.json("/job/platform/job/inventory/api/json", recorded("jenkins_builds.json"))
        server.json("/job/platform/job/billing/api/json", {"message": "boom"}, status=500)
        result = JenkinsProvider().sync(_ctx(graph, server, "run1", keep=3))
        tree = server.requests[0]["query"]["tree"]
        assert tree.startswith("builds[number,result,timestamp") and tree.endswith("{0,3}")
    assert [b["id"] for b in _builds(graph, "component:default/inventory")] == ["105", "104", "103"]
    assert [r["file"] for r in result.rejected] == ["platform/billing"]
    assert "500" in result.rejected[0]["reason"]


def test_cleanup_only_where_the_fetch_succeeded(graph, catalog, monkeypatch, tmp_path):
    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: None)
    with RecordedServer() as server:
        server.json("/job/platform/job/inventory/api/json", recorded("jenkins_builds.json"))
        server.json("/job/platform/job/billing/api/json", {"builds": [
            {"number": 7, "result": "FAILURE", "timestamp": 1763812800000, "duration": 1000, "building": False,
             "url": "https://jenkins.example.com/job/platform/job/billing/7/", "actions": []}]})
        JenkinsProvider().sync(_ctx(graph, server, "run1"))
    assert len(_builds(graph, "component:default/billing")) == 1
    # Next run: billing's job answers 404 (kept: maybe renamed), inventory lost its annotation (its builds go).
    (catalog / "catalog-info.yaml").write_text(CATALOG.replace("jenkins.io/job-full-name: platform/inventory",
                                                               "example.com/other: x"))
    ingest(graph, str(catalog))
    with RecordedServer() as server:
        server.json("/job/platform/job/billing/api/json", {"message": "gone"}, status=404)
        second = JenkinsProvider().sync(_ctx(graph, server, "run2"))
    assert [r["file"] for r in second.rejected] == ["platform/billing"]
    assert second.removed == 4
    assert _builds(graph, "component:default/inventory") == []
    assert [b["id"] for b in _builds(graph, "component:default/billing")] == ["7"]
    assert graph.read("MATCH (b:Build) RETURN count(b) AS n")[0]["n"] == 1   # orphans gone


def test_every_project_down_is_a_retryable_failure(graph, catalog, monkeypatch):
    from plugins.api import RetryableError

    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: None)
    with RecordedServer() as server:
        server.json("/job/platform/job/inventory/api/json", {}, status=503)
        server.json("/job/platform/job/billing/api/json", {}, status=503)
        with pytest.raises(RetryableError):
            JenkinsProvider().sync(_ctx(graph, server, "run1"))


def test_builtin_ci_plugin_registers_through_the_entry_point():
    from plugins.registry import load_registry

    registry = load_registry()
    names = {p.name for p in registry.providers()}
    assert {"github-actions", "gitlab-ci", "jenkins"} <= names, registry.failures


def test_runs_are_recorded_with_counts_and_problems(graph, catalog):
    from graph import sources

    with RecordedServer() as server:
        _github_server(server)
        GitHubActionsProvider().sync(_ctx(graph, server, "run-ok"))
        server.routes.clear()
        server.json("/repos/acme/payments/actions/runs", {"message": "Bad credentials"}, status=401)
        with pytest.raises(BadCredentials):
            GitHubActionsProvider().sync(_ctx(graph, server, "run-bad"))
    ok = sources.get_run(graph, "run-ok")
    assert ok["status"] == "partial" and ok["counts"]["added"] == 3      # acme/ledger 404 -> partial
    assert ok["rejected"][0]["file"] == "acme/ledger"
    bad = sources.get_run(graph, "run-bad")
    assert bad["status"] == "failed" and "bad credentials" in bad["error"]
    assert "token-for" not in bad["error"]


def test_unchanged_resync_writes_nothing_and_uses_conditional_requests(graph, catalog):
    etag = '"runs-v1"'
    with RecordedServer() as server:
        _github_server(server)
        for route in server.routes:
            for reply in route.replies:
                reply.headers["ETag"] = etag
        server.json("/repos/acme/ledger/actions/runs", {"total_count": 0, "workflow_runs": []})
        GitHubActionsProvider().sync(_ctx(graph, server, "run1"))
        before = graph.read("MATCH (b:Build) RETURN b.key AS k, b.status AS s ORDER BY k")
        # Second run: the server answers 304 when the client sends the ETag it got.
        server.routes.clear()
        server.json("/repos/acme/payments/actions/runs", None, status=304)
        server.json("/repos/acme/ledger/actions/runs", {"total_count": 0, "workflow_runs": []})
        second = GitHubActionsProvider().sync(_ctx(graph, server, "run2"))
        conditional = [r for r in server.requests[-3:] if r["path"] == "/repos/acme/payments/actions/runs"]
    assert conditional and all(r["headers"].get("if-none-match") == etag for r in conditional)
    assert (second.created, second.seen_again, second.removed) == (0, 3, 0)
    assert graph.read("MATCH (b:Build) RETURN b.key AS k, b.status AS s ORDER BY k") == before
    runs = graph.read("MATCH ()-[r:HAS_BUILD]->() RETURN collect(DISTINCT r.run) AS runs")[0]["runs"]
    assert runs == ["run1"]                                    # nothing rewritten


def test_a_configured_jenkins_source_runs_through_the_job_runner(graph, catalog, redis_url, monkeypatch):
    """The sources file names the provider; the registry loaded from entry points finds it; the run is recorded."""
    import redis

    from graph import sources
    from ingest.jobs.config import parse_config
    from ingest.jobs.locks import SourceLock
    from ingest.jobs.runner import run_once

    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: None)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with RecordedServer() as server:
        server.json("/job/platform/job/inventory/api/json", recorded("jenkins_builds.json"))
        server.json("/job/platform/job/billing/api/json", {"message": "gone"}, status=404)
        from tests.integration_helpers import integration_section

        config = parse_config({"sources": [{"name": "jenkins-main", "provider": "jenkins",
                                            "options": {"url": server.url, "keep": 10}}],
                               "integrations": integration_section(server.url, "allow")})
        outcome = run_once(graph, "jenkins-main", trigger="schedule", force=False, run_id="jenk00000001",
                           lock=SourceLock(client, ttl=60), config=config)
    assert outcome.status == "partial" and outcome.result["created"] == 4
    run = sources.get_run(graph, "jenk00000001")
    assert (run["status"], run["trigger"], run["name"]) == ("partial", "schedule", "jenkins-main")
    assert run["counts"]["added"] == 4 and run["rejected"][0]["file"] == "platform/billing"
    assert len(_builds(graph, "component:default/inventory")) == 4


def test_builds_of_an_entity_removed_from_the_catalog_go_at_the_next_sync(graph, catalog, monkeypatch):
    monkeypatch.setattr(ApiClient, "_wait", lambda self, s: None)
    with RecordedServer() as server:
        server.json("/job/platform/job/inventory/api/json", recorded("jenkins_builds.json"))
        server.json("/job/platform/job/billing/api/json", {"builds": []})
        JenkinsProvider().sync(_ctx(graph, server, "run1"))
        assert graph.read("MATCH (b:Build) RETURN count(b) AS n")[0]["n"] == 4
        docs = CATALOG.split("---\n")
        (catalog / "catalog-info.yaml").write_text("---\n".join(d for d in docs if "name: inventory" not in d))
        assert ingest(graph, str(catalog)).removed == 1
        JenkinsProvider().sync(_ctx(graph, server, "run2"))
    assert graph.read("MATCH (b:Build) RETURN count(b) AS n")[0]["n"] == 0
