"""Anonymous requests cannot grow the audit log without bound, and retention is enforced by the worker.

Before the fix every bad bearer token, tampered session cookie and CSRF failure wrote its own `:AuditEvent`
(anyone on the network could add millions), and `graph.audit.prune` (the README's "newest 200,000 kept")
was never called by anything.
"""
from __future__ import annotations

import secrets
import time

import pytest

from tests.test_signin_support import make_app

N = 120


@pytest.fixture
def app(graph, neo4j_uri):
    application = make_app(neo4j_uri, {"local": True})
    yield application
    application.extensions["trellis.graph"].close()


def audit_nodes(graph, action: str) -> list[dict]:
    from graph.audit import list_events

    return list_events(graph, action=action, limit=10_000)


def test_bad_bearer_tokens_write_one_counted_event_per_address_and_window(app, graph):
    client = app.test_client()
    for _ in range(N):
        token = "trl_" + secrets.token_urlsafe(32)
        assert client.get("/api/v1/entities", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    events = audit_nodes(graph, "token_use")
    assert len(events) <= 2, f"{N} bad tokens wrote {len(events)} audit events"   # 2: a window boundary
    assert sum(e.get("count") or 1 for e in events) == N                         # nothing is lost
    assert {e["ip"] for e in events} == {"127.0.0.1"} and events[0]["details"]["reason"] == "unknown"


def test_tampered_cookies_and_csrf_failures_are_aggregated_too(app, graph):
    client = app.test_client()
    client.set_cookie("trellis_session", "forged." + secrets.token_urlsafe(20))
    for _ in range(N):
        assert client.get("/catalog").status_code in (302, 303)
    assert len(audit_nodes(graph, "session_rejected")) <= 2
    fresh = app.test_client()
    for _ in range(N):
        assert fresh.post("/auth/logout").status_code == 403          # no CSRF token
    csrf = audit_nodes(graph, "csrf")
    # The first POST has no session yet and the other N - 1 carry no token: two reasons, so two aggregates,
    # each of which a minute boundary inside the loop may split in two.
    by_reason: dict[str, int] = {}
    for event in csrf:
        by_reason[event["details"]["reason"]] = by_reason.get(event["details"]["reason"], 0) + 1
    assert len(by_reason) <= 2 and all(nodes <= 2 for nodes in by_reason.values()), by_reason
    assert sum(e.get("count") or 1 for e in csrf) == N


def test_addresses_are_counted_apart(app, graph):
    for address in ("198.51.100.7", "198.51.100.8"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        for _ in range(5):
            client.get("/api/v1/entities", headers={"Authorization": "Bearer nope"})
    by_ip = {e["ip"]: e.get("count") for e in audit_nodes(graph, "token_use")}
    assert by_ip == {"198.51.100.7": 5, "198.51.100.8": 5}


def test_the_worker_prunes_the_log_to_its_cap_on_a_schedule(graph, neo4j_uri, monkeypatch):
    from graph.audit import record_event
    from ingest.jobs import tasks
    from ingest.jobs.celery_app import app as celery
    from ingest.jobs.config import JobsConfig
    from ingest.jobs.schedule import beat_schedule

    entries = [e for e in beat_schedule(JobsConfig()).values() if e["task"] == "trellis.audit_prune"]
    assert entries, "no scheduled task prunes the audit log"
    for i in range(60):
        record_event(graph, action="grant_role", outcome="ok", actor="local:ops", target=f"user:default/u{i}")
        time.sleep(0.002)        # distinct times: the oldest go first
    monkeypatch.setenv("TRELLIS_AUDIT_KEEP", "25")
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    monkeypatch.setattr(tasks, "_graph", graph)
    result = celery.tasks["trellis.audit_prune"].apply()
    assert result.successful(), result.traceback
    assert result.result == {"deleted": 35, "kept": 25}
    left = audit_nodes(graph, "grant_role")
    assert len(left) == 25 and {e["target"] for e in left} == {f"user:default/u{i}" for i in range(35, 60)}
