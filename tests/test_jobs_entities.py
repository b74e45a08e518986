"""Provider entities into the real Neo4j through ingest.sync.ingest_entities (the path every provider uses),
and one run of a configured source through ingest.jobs.runner (lock, recorded states, secrets), no Celery."""
from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from graph import sources
from graph.repositories import codeowner_disagreements, repository_of
from ingest.jobs.config import parse_config
from ingest.jobs.locks import SourceLock
from ingest.jobs.runner import enqueue, run_once
from ingest.sync import IngestError, RemovalGuard, ingest_entities
from plugins.api import Provider, RetryableError
from plugins.registry import Registry, load_registry


def component(name: str, owner: str = "team", **spec) -> dict:
    return {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": name},
            "spec": {"type": "service", "lifecycle": "production", "owner": owner, **spec}}


def stored(graph) -> dict[str, dict]:
    rows = graph.read("MATCH (n:Entity) WHERE NOT n:Unresolved RETURN n.ref AS ref, properties(n) AS p")
    return {r["ref"]: r["p"] for r in rows}


def test_entities_are_validated_like_files_and_written(graph):
    result = ingest_entities(graph, "github-acme", [
        ("github:acme/pay/catalog-info.yaml", component("pay", dependsOn=["resource:db"])),
        ("github:acme/web/catalog-info.yaml", component("web")),
        ("github:acme/bad/catalog-info.yaml", {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                                               "metadata": {"name": "bad"}, "spec": {"type": "service"}}),
        ("github:acme/odd/catalog-info.yaml", ["not", "a", "mapping"]),
    ], target="https://github.com/acme", trigger="webhook")
    assert (result.added, result.updated, result.removed) == (2, 0, 0)
    reasons = {(r["file"], r["field"]): r["reason"] for r in result.rejected}
    assert reasons[("github:acme/bad/catalog-info.yaml", "spec.lifecycle")] == "spec.lifecycle is required"
    assert reasons[("github:acme/odd/catalog-info.yaml", None)].startswith("the entity is a list")
    entities = stored(graph)
    assert set(entities) == {"component:default/pay", "component:default/web"}
    assert entities["component:default/pay"]["source"] == "github-acme"
    assert entities["component:default/pay"]["file"] == "github:acme/pay/catalog-info.yaml"
    # the relation was written and its far end is a placeholder
    rows = graph.read("MATCH (:Entity {ref: 'component:default/pay'})-[:DEPENDS_ON]->(d:Unresolved) RETURN d.ref AS r")
    assert [r["r"] for r in rows] == ["resource:default/db"]
    run = sources.get_run(graph, result.run)
    assert run["status"] == "partial" and run["trigger"] == "webhook" and run["name"] == "github-acme"
    assert run["counts"]["added"] == 2 and run["counts"]["rejected"] == len(result.rejected) == 3
    assert run["progress"]["stage"] == "done"


def test_unchanged_entities_write_nothing_and_changes_are_updates(graph):
    items = [("o:a", component("a")), ("o:b", component("b"))]
    ingest_entities(graph, "src", items, target="t")
    again = ingest_entities(graph, "src", [("o:a", component("a")), ("o:b", component("b"))], target="t")
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 2, 0)
    changed = ingest_entities(graph, "src", [("o:a", component("a", owner="other")), ("o:b", component("b"))],
                              target="t")
    assert (changed.updated, changed.unchanged) == (1, 1)
    assert stored(graph)["component:default/a"]["owner"] == "group:default/other"


def test_what_a_source_no_longer_reports_is_removed_but_not_from_unavailable_or_rejected_origins(graph):
    ingest_entities(graph, "src", [("o:a", component("a")), ("o:b", component("b")), ("o:c", component("c"))],
                    target="t")
    result = ingest_entities(graph, "src", [
        ("o:a", component("a")),
        ("o:c", {**component("c"), "spec": {"type": "service"}}),   # rejected this time: keeps the stored one
    ], target="t", unavailable=["o:b"])                              # could not be fetched: stays
    assert result.removed == 0
    assert set(stored(graph)) == {"component:default/a", "component:default/b", "component:default/c"}
    gone = ingest_entities(graph, "src", [("o:a", component("a")), ("o:c", component("c"))], target="t")
    assert gone.removed == 1 and "component:default/b" not in stored(graph)


def test_another_sources_entity_is_a_conflict_not_a_takeover(graph):
    ingest_entities(graph, "first", [("o:a", component("a"))], target="t")
    result = ingest_entities(graph, "second", [("p:a", component("a", owner="thief"))], target="t2")
    assert result.added == 0
    assert "already owned by location first" in result.conflicts[0]["reason"]
    assert stored(graph)["component:default/a"]["owner"] == "group:default/team"


def test_guard_refuses_mass_removal_and_the_failed_run_deletes_nothing(graph):
    many = [(f"o:{i}", component(f"c{i}")) for i in range(20)]
    ingest_entities(graph, "src", many, target="t")
    with pytest.raises(IngestError, match="refusing to remove 15 of 20 entities"):
        ingest_entities(graph, "src", many[:5], target="t")
    assert len(stored(graph)) == 20
    failed = sources.list_runs(graph, source="src", status="failed")
    assert len(failed) == 1 and "refusing to remove" in failed[0]["error"]
    forced = ingest_entities(graph, "src", many[:5], target="t", guard=RemovalGuard(force=True))
    assert forced.removed == 15 and len(stored(graph)) == 5


def test_progress_is_reported_by_stage(graph):
    seen = []
    ingest_entities(graph, "src", [("o:a", component("a"))], target="t",
                    progress=lambda stage, done, total: seen.append(stage))
    assert seen[:3] == ["waiting", "validating", "transforming"]
    assert "writing entities" in seen and "removing" in seen


def test_dry_run_writes_nothing(graph):
    result = ingest_entities(graph, "src", [("o:a", component("a"))], target="t", dry_run=True)
    assert result.added == 1 and stored(graph) == {}
    assert sources.list_runs(graph) == []


# ------------------------------------------------------------------------------------ runner (no Celery)


class Leaky(Provider):
    """A provider whose error message carries its credential (as a URL with a token would)."""

    name = "leaky"

    def sync(self, ctx):
        token = ctx.secret("leaky-token")
        raise RetryableError(f"GET https://api.example.com/?access_token={token} answered 503", retry_after=30)


class Static(Provider):
    name = "static"

    def sync(self, ctx):
        ctx.progress("fetching", 1, 1)
        return ctx.ingest([(f"static:{n}", component(n)) for n in ctx.options["names"]], target="static")


@pytest.fixture
def redis_lock(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return SourceLock(client, ttl=60)


def plugins(*providers) -> Registry:
    registry = Registry()
    for p in providers:
        registry.add_provider(p)
    return registry


def test_a_run_of_a_configured_source_is_recorded_with_its_trigger(graph, redis_lock):
    config = parse_config({"sources": [{"name": "st", "provider": "static", "options": {"names": ["x", "y"]}}]})
    outcome = run_once(graph, "st", trigger="schedule", force=False, run_id="run000000001", lock=redis_lock,
                       config=config, plugins=plugins(Static()))
    assert outcome.status == "ok" and outcome.result["added"] == 2
    run = sources.get_run(graph, "run000000001")
    assert (run["status"], run["trigger"], run["name"], run["source"]) == ("ok", "schedule", "st", "st")
    assert redis_lock.holder("st") is None   # released


def test_a_second_trigger_while_one_is_queued_is_skipped_not_queued_twice(graph, redis_lock):
    config = parse_config({"sources": [{"name": "st", "provider": "static", "options": {"names": ["x"]}}]})
    sent = []
    first = enqueue(graph, "st", config=config, lock=redis_lock, send=sent.append)
    second = enqueue(graph, "st", config=config, lock=redis_lock, send=sent.append)
    assert first.status == "queued" and sent == [first.run]
    assert second.status == "skipped" and second.running == first.run
    assert sources.get_run(graph, first.run)["status"] == "queued"
    assert sources.get_run(graph, second.run)["status"] == "skipped"
    # a schedule tick meanwhile is skipped too; the queued run itself gets through its own lock
    tick = run_once(graph, "st", trigger="schedule", force=False, run_id="tick00000001", lock=redis_lock,
                    config=config, plugins=plugins(Static()))
    assert tick.status == "skipped"
    done = run_once(graph, "st", trigger="manual", force=False, run_id=first.run, lock=redis_lock,
                    config=config, plugins=plugins(Static()))
    assert done.status == "ok"
    assert enqueue(graph, "st", config=config, lock=redis_lock, send=sent.append).status == "queued"


def test_secrets_never_reach_the_graph_or_the_logs(graph, redis_lock, monkeypatch, caplog):
    from ingest.jobs.runner import fail

    token = "ghp_supersecretvalue0123456789"
    monkeypatch.setenv("TRELLIS_SECRET_LEAKY_TOKEN", token)
    config = parse_config({"sources": [{"name": "lk", "provider": "leaky"}]})
    with pytest.raises(RetryableError) as err:
        run_once(graph, "lk", trigger="manual", force=False, run_id="leak00000001", lock=redis_lock,
                 config=config, plugins=plugins(Leaky()))
    assert err.value.retry_after == 30
    fail(graph, "leak00000001", "lk", err.value, trigger="manual")
    run = sources.get_run(graph, "leak00000001")
    assert run["status"] == "failed" and "access_token=*** answered 503" in run["error"]
    dump = graph.read("MATCH (n) RETURN collect(properties(n)) AS all")[0]["all"]
    assert token not in json.dumps(dump, default=str)
    assert redis_lock.holder("lk") is None   # a failed run frees its source


def test_git_source_records_repository_facts_and_codeowners_disagreements(graph, redis_lock, tmp_path):
    repo = tmp_path / "repo"
    (repo / "services" / "pay").mkdir(parents=True)
    (repo / "services" / "pay" / "catalog-info.yaml").write_text(textwrap.dedent("""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: pay}
        spec: {type: service, lifecycle: production, owner: payments-team}
    """))
    (repo / "catalog-info.yaml").write_text(textwrap.dedent("""
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: root}
        spec: {type: service, lifecycle: production, owner: platform}
    """))
    (repo / ".github").mkdir()
    (repo / ".github" / "CODEOWNERS").write_text("* @acme/platform\n/services/pay/ @acme/billing\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x"]
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    config = parse_config({"sources": [{"name": "mono", "provider": "git", "options": {"target": "repo"}}]},
                          path=str(tmp_path / "trellis.yaml"))
    outcome = run_once(graph, "mono", trigger="manual", force=False, run_id="git000000001", lock=redis_lock,
                       config=config, plugins=load_registry())
    assert outcome.status == "ok" and outcome.result["added"] == 2
    run = sources.get_run(graph, "git000000001")
    assert run["name"] == "mono" and run["source"] == f"file:{repo.resolve()}"   # the location owns them
    facts = repository_of(graph, "component:default/pay")
    assert facts["default_branch"] == "trunk" and facts["last_commit_at"] > 0
    assert facts["path"] == "services/pay/catalog-info.yaml"
    assert facts["codeowners"] == ["group:default/billing"] and facts["codeowners_disagree"]
    assert facts["owner"] == "group:default/payments-team"   # reported, never overridden
    assert [d["ref"] for d in codeowner_disagreements(graph)] == ["component:default/pay"]
    assert repository_of(graph, "component:default/root")["codeowners_disagree"] is False


def test_unchanged_items_are_not_validated_again_but_anything_else_is(graph, monkeypatch):
    import ingest.sync as sync

    items = lambda owner="team": [("o:a", component("a")), ("o:b", component("b", owner=owner))]  # noqa: E731
    ingest_entities(graph, "src", items(), target="t")
    validated = []
    real = sync.validate_descriptor
    monkeypatch.setattr(sync, "validate_descriptor", lambda e, **kw: (validated.append(e), real(e, **kw))[1])
    again = ingest_entities(graph, "src", items(), target="t")
    assert (again.unchanged, again.reused_files, again.added, again.updated) == (2, 2, 0, 0)
    assert validated == []
    changed = ingest_entities(graph, "src", items(owner="other"), target="t")
    assert (changed.updated, changed.unchanged, len(validated)) == (1, 1, 1)
    # the graph lost an entity behind our back: its item is read again and the entity comes back
    graph.write("MATCH (n:Entity {ref: 'component:default/a'}) DETACH DELETE n")
    restored = ingest_entities(graph, "src", items(owner="other"), target="t")
    assert restored.added == 1 and "component:default/a" in stored(graph)
    # an item that is now invalid is validated (and rejected), keeping its stored version
    broken = [("o:a", component("a")), ("o:b", {**component("b", owner="other"), "spec": {"type": "service"}})]
    result = ingest_entities(graph, "src", broken, target="t")
    assert result.removed == 0 and result.rejected and "component:default/b" in stored(graph)


# ------------------------------------------------------------------------------------ the Celery task


class Flaky(Provider):
    """Answers 503 twice (a rate-limited or failing API), then works."""

    name = "flaky"
    calls = 0

    def sync(self, ctx):
        Flaky.calls += 1
        if Flaky.calls <= 2:
            raise RetryableError("api.example.com answered 503", retry_after=None if Flaky.calls == 1 else 42)
        return ctx.ingest([("flaky:a", component("flaky-a"))], target="flaky")


def test_backoff_doubles_with_jitter_up_to_a_cap_and_honours_retry_after():
    from ingest.jobs.tasks import BACKOFF_MAX, backoff

    assert 8 <= backoff(0) <= 12
    assert 64 <= backoff(3) <= 96
    assert backoff(20) <= BACKOFF_MAX * 1.2
    assert backoff(0, retry_after=100) == 100


def test_the_task_retries_transient_failures_and_the_run_ends_ok(graph, redis_url, neo4j_uri, tmp_path,
                                                                 monkeypatch):
    import redis

    from ingest.jobs import tasks
    from plugins import registry as plugin_registry

    redis.Redis.from_url(redis_url).flushdb()
    config = tmp_path / "trellis.yaml"
    config.write_text("sources:\n  - {name: flaky, provider: flaky}\n")
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    monkeypatch.setenv("TRELLIS_REDIS_URL", redis_url)
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    monkeypatch.setattr(plugin_registry, "_cached", plugins(Flaky()))
    monkeypatch.setattr(tasks, "_graph", graph)
    monkeypatch.setattr(tasks, "_redis", None)
    delays = []
    real_backoff = tasks.backoff
    monkeypatch.setattr(tasks, "backoff", lambda n, after=None: delays.append((n, real_backoff(n, after))) or 0)
    Flaky.calls = 0
    result = tasks.run_source.apply(args=("flaky", "schedule", False), task_id="flaky0000001")
    assert result.successful(), result.traceback
    assert Flaky.calls == 3
    assert [n for n, _ in delays] == [0, 1] and delays[1][1] == 42   # the provider's retry_after wins
    run = sources.get_run(graph, "flaky0000001")
    assert (run["status"], run["trigger"], run["counts"]["added"]) == ("ok", "schedule", 1)


def test_git_source_discovers_descriptors_by_glob(graph, redis_lock, tmp_path):
    for path, name in (("services/pay/catalog-info.yaml", "pay"), ("services/web/catalog-info.yaml", "web"),
                       ("tools/catalog-info.yaml", "tool"), ("services/api/api.catalog.yaml", "api"),
                       ("node_modules/x/catalog-info.yaml", "vendored")):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(textwrap.dedent(f"""
            apiVersion: backstage.io/v1alpha1
            kind: Component
            metadata: {{name: {name}}}
            spec: {{type: service, lifecycle: production, owner: team}}
        """))
    config = parse_config({"sources": [{"name": "globbed", "provider": "git", "options": {
        "target": ".", "glob": ["services/*/catalog-info.yaml", "**/*.catalog.yaml"]}}]},
        path=str(tmp_path / "trellis.yaml"))
    outcome = run_once(graph, "globbed", trigger="manual", force=False, run_id="glob00000001", lock=redis_lock,
                       config=config, plugins=load_registry())
    assert outcome.status == "ok", outcome
    assert set(stored(graph)) == {"component:default/pay", "component:default/web", "component:default/api"}
    escaping = parse_config({"sources": [{"name": "out", "provider": "git", "options": {
        "target": ".", "glob": "../*/catalog-info.yaml"}}]}, path=str(tmp_path / "trellis.yaml"))
    with pytest.raises(IngestError, match="must be relative to the location, without '..'"):
        run_once(graph, "out", trigger="manual", force=False, run_id="glob00000002", lock=redis_lock,
                 config=escaping, plugins=load_registry())
    assert len(stored(graph)) == 3
