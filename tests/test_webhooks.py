"""POST /api/v1/webhooks/github: signature checks, ping, and a push re-ingesting the pushed repository."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from servers.base import free_port
from plugins.builtin.github.provider import GitHubProvider
from ingest.runs import new_run_id
from ingest.context import sync_context
from plugins.builtin.github.webhook import verify_signature
from tests.fixtures.github.recorded_api import RecordedApi, load_routes

ROUTES = load_routes(Path(__file__).parent / "fixtures" / "github")
TOKEN = "ghp_webhook_test_token"
SECRET = "It's a Secret to Everybody"
PUSH = {
    "ref": "refs/heads/main", "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
    "repository": {"id": 101, "name": "payments", "full_name": "acme/payments", "default_branch": "main",
                   "owner": {"login": "acme", "name": "acme", "type": "Organization"}},
    "pusher": {"name": "bob", "email": "bob@acme.example"}, "sender": {"login": "bob", "type": "User"},
    "commits": [], "head_commit": None,
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def api():
    with RecordedApi(ROUTES, style="github", token=TOKEN) as server:
        yield server


@pytest.fixture
def configured(api, tmp_path, monkeypatch):
    """One github source for org acme; secrets in the environment; no job broker (synchronous runs)."""
    config = tmp_path / "sources.yaml"
    host = api.url.split("//", 1)[1]
    config.write_text(f"sources:\n  - name: github-acme\n    provider: github\n"
                      f"    options: {{org: acme, api_url: '{api.url}'}}\n"
                      f"integrations: {{github: [{{host: '{host}', apiBaseUrl: '{api.url}'}}]}}\n")
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    monkeypatch.setenv("TRELLIS_SECRET_GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("TRELLIS_SECRET_GITHUB_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TRELLIS_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    return api


@pytest.fixture
def client(neo4j_uri, graph, configured):
    from app import create_app
    from tests.conftest import neo4j_auth

    auth = neo4j_auth()
    cfg = {"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development", "SECRET_KEY": "k" * 32}
    if auth:
        cfg.update(NEO4J_USER=auth[0], NEO4J_PASSWORD=auth[1])
    app = create_app(cfg)
    yield app.test_client()
    app.extensions["trellis.graph"].close()


def post(client, payload, *, event="push", signature: str | None = "sign", raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
               "Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = sign(body) if signature == "sign" else signature
    return client.post("/api/v1/webhooks/github", data=body, headers=headers)


def descriptor(graph, ref):
    rows = graph.read("MATCH (n:Entity {ref: $ref}) RETURN n.description AS d", ref=ref)
    return rows[0]["d"] if rows else None


def test_signature_is_github_s_documented_hmac():
    # the example from GitHub's "Validating webhook deliveries" documentation
    assert verify_signature(
        "It's a Secret to Everybody", b"Hello, World!",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    assert not verify_signature("It's a Secret to Everybody", b"Hello, World!", "sha256=" + "0" * 64)
    assert not verify_signature("", b"x", sign(b"x", ""))


def test_missing_or_wrong_signature_is_refused_with_a_json_401(client, configured):
    missing = post(client, PUSH, signature=None)
    assert missing.status_code == 401 and missing.json["error"]["code"] == "signature_missing"
    wrong = post(client, PUSH, signature=sign(b"something else"))
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "bad_signature"
    other_secret = post(client, PUSH, signature=sign(json.dumps(PUSH).encode(), "not the secret"))
    assert other_secret.status_code == 401
    assert configured.log == []          # nothing was fetched for an unauthenticated delivery


def test_ping_is_answered(client):
    response = post(client, {"zen": "Keep it logically awesome.", "hook_id": 1}, event="ping")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["sources"] == ["github-acme"]


def test_push_elsewhere_than_the_default_branch_is_ignored(client, configured):
    response = post(client, {**PUSH, "ref": "refs/heads/feature/x"})
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert configured.log == []


def test_push_to_the_default_branch_reingests_that_repository(client, graph, configured):
    ctx = sync_context(graph=graph, source="github-acme", options={"org": "acme", "api_url": configured.url},
                      run_id=new_run_id(), secret=lambda name: TOKEN)
    GitHubProvider().sync(ctx)
    assert descriptor(graph, "component:default/payments-service") == "Takes the money"
    payload = configured.routes["/repos/acme/payments/contents/catalog-info.yaml"]
    text = base64.b64decode(payload["content"]).decode().replace("Takes the money", "Moves the money")
    payload["content"] = base64.b64encode(text.encode()).decode()
    configured.log.clear()

    response = post(client, PUSH)
    assert response.status_code == 200, response.json
    (run,) = response.json["runs"]
    assert run["mode"] == "synchronous" and run["result"]["updated"] == 1
    assert descriptor(graph, "component:default/payments-service") == "Moves the money"
    # only the pushed repository was asked about; everything else came from the ETag cache
    assert [path for path, _ in configured.log] == ["/repos/acme/payments/contents/catalog-info.yaml?ref=main"]
    recorded = graph.read("MATCH (r:IngestRun {id: $id}) RETURN r.trigger AS t, r.status AS s", id=run["run"])
    assert recorded[0]["t"] == "webhook" and recorded[0]["s"] == "partial"   # broken-yaml is still broken


def test_push_for_an_organisation_nobody_reads_is_ignored(client, configured):
    push = {**PUSH, "repository": {**PUSH["repository"], "owner": {"login": "other-org"}}}
    response = post(client, push)
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert "other-org" in response.json["reason"]


def test_push_is_queued_for_a_worker_when_the_broker_answers(client, graph, redis_url, monkeypatch):
    import redis

    monkeypatch.setenv("TRELLIS_REDIS_URL", redis_url)
    from ingest.jobs import celery_app

    monkeypatch.setattr(celery_app, "app", celery_app.make_app())   # the broker URL is read when it is made
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    response = post(client, PUSH)
    assert response.status_code == 202, response.json
    (run,) = response.json["runs"]
    assert run["mode"] == "queued" and run["status"] == "queued"
    recorded = graph.read("MATCH (r:IngestRun {id: $id}) RETURN r.trigger AS t, r.status AS s", id=run["run"])
    assert recorded[0]["t"] == "webhook" and recorded[0]["s"] == "queued"
    queued = [json.loads(m) for m in r.lrange("celery", 0, -1)]
    assert [m["headers"]["id"] for m in queued] == [run["run"]]
    assert queued[0]["headers"]["task"] == "trellis.run_source"
    # a second push while the first run is still queued is not queued twice
    again = post(client, PUSH)
    assert again.json["runs"][0]["status"] == "skipped" and r.llen("celery") == 1


def test_a_deleted_repository_event_removes_its_entities(client, graph, configured):
    ctx = sync_context(graph=graph, source="github-acme", options={"org": "acme", "api_url": configured.url},
                      run_id=new_run_id(), secret=lambda name: TOKEN)
    GitHubProvider().sync(ctx)
    repos = configured.routes["/orgs/acme/repos"]
    configured.routes["/orgs/acme/repos"] = [r for r in repos if r["name"] != "checkout"]
    configured.log.clear()
    event = {"action": "deleted", "sender": {"login": "bob"},
             "repository": {**PUSH["repository"], "name": "checkout", "full_name": "acme/checkout"}}
    response = post(client, event, event="repository")
    assert response.status_code == 200, response.json
    assert response.json["runs"][0]["result"]["removed"] == 1
    assert descriptor(graph, "component:default/checkout-service") is None
    assert all(path.startswith("/orgs/acme/repos") or "/contents/" in path and "checkout" in path
               for path, _ in configured.log)   # the list again, and no other repository's descriptor
    edited = post(client, {**event, "action": "edited"}, event="repository")
    assert edited.json["status"] == "ignored"
