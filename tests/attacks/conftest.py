"""What every attack of the suite needs: the real portal with a role granted to a group, mallory signed in
through the local sign-in form (an account bound to `user:default/mallory`), and a source lock for runs of
configured sources. Each attack then drives its input end to end and asserts on the gain it would give."""
from __future__ import annotations

import pytest

from tests.test_signin_support import form, make_app

MALLORY = "user:default/mallory"
PASSWORD = "mallory-has-a-long-password"


@pytest.fixture
def portal(graph, neo4j_uri):
    """`portal(roles)`: the portal with these configured role grants (local sign-in, viewers by default)."""
    apps = []

    def make(roles: dict[str, str]):
        app = make_app(neo4j_uri, {"local": True}, TRELLIS_ROLES=roles, TRELLIS_DEFAULT_ROLE="viewer")
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["trellis.graph"].close()


def mallory_client(app, graph):
    """A client signed in as mallory through the real sign-in form."""
    from app.auth import accounts

    accounts.add_user(graph, "mallory", PASSWORD, user_ref=MALLORY)
    client = app.test_client()
    _, fields = form(client.get("/auth/login").get_data(as_text=True), "/auth/login")
    fields.update(username="mallory", password=PASSWORD)
    response = client.post("/auth/login", data=fields)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return client


def holds_admin(client) -> bool:
    """Whether the signed-in person gets the admin-only API (the role grant list)."""
    status = client.get("/api/v1/admin/roles").status_code
    assert status in (200, 403), status
    return status == 200


@pytest.fixture
def redis_lock(redis_url):
    import redis

    from ingest.jobs.locks import SourceLock

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return SourceLock(client, ttl=60)
