"""Local-account sign-in through the real portal on a real Neo4j: the page, good and bad passwords, disabled
and unknown accounts (one message for all), the throttle (429 + Retry-After, shared through Neo4j), sign-out,
safe `next`, and the audit trail of each."""
from __future__ import annotations

import pytest

from app.auth import accounts
from tests.test_signin_support import events, form, load_users, make_app, signed_in_as

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(graph, neo4j_uri, tmp_path):
    load_users(graph, tmp_path)
    accounts.add_user(graph, "alice", PASSWORD)
    accounts.add_user(graph, "ops", PASSWORD, user_ref="user:default/carol")
    accounts.add_user(graph, "mallory", PASSWORD)
    accounts.disable_user(graph, "mallory")
    # alice's account is not linked to a catalog user: she resolves by name, which local accounts (named by
    # operators, not by an IdP) may do when the config says so
    application = make_app(neo4j_uri, {"local": True, "throttle": {"username": 3, "ip": 6, "window_seconds": 120},
                                       "resolvers": [{"resolver": "username", "providers": ["local"]}]})
    yield application
    application.extensions["trellis.graph"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def sign_in(client, username: str, password: str, next_url: str | None = None):
    page = client.get("/auth/login" + (f"?next={next_url}" if next_url else ""))
    assert page.status_code == 200
    _, fields = form(page.get_data(as_text=True), "/auth/login")
    fields.update(username=username, password=password)
    return client.post("/auth/login", data=fields)


def whoami(client) -> str | None:
    return signed_in_as(client.get("/auth/login").get_data(as_text=True))


def test_login_page_lists_only_the_local_form(client):
    html = client.get("/auth/login").get_data(as_text=True)
    assert 'name="password"' in html and 'type="password"' in html
    assert "Sign in with GitHub" not in html and "/auth/oidc/start" not in html
    assert whoami(client) is None


def test_good_password_signs_in_resolves_the_catalog_user_and_is_audited(client, graph):
    resp = sign_in(client, "Alice", PASSWORD, next_url="/catalog")
    assert resp.status_code == 303 and resp.headers["Location"] == "/catalog"
    assert whoami(client) == "Alice Anderson"    # the catalog user's displayName
    html = client.get("/auth/login").get_data(as_text=True)
    assert "user:default/alice" in html          # resolved by user name
    (event,) = events(graph)
    assert (event["outcome"], event["actor"], event["target"]) == ("ok", "local:alice", "user:default/alice")
    assert event["details"]["provider"] == "local" and event["details"]["resolver"] == "username(local)"


def test_an_accounts_own_user_ref_wins_over_the_resolvers(client, graph):
    assert sign_in(client, "ops", PASSWORD).status_code == 303
    assert whoami(client) == "Carol Catalog"
    assert "user:default/carol" in client.get("/auth/login").get_data(as_text=True)
    assert events(graph)[-1]["details"]["resolver"] == "account"


@pytest.mark.parametrize("username, password, reason", [
    ("alice", "wrong password!!", "wrong_password"),
    ("mallory", PASSWORD, "account_disabled"),
    ("nobody", PASSWORD, "unknown_user"),
])
def test_failures_all_say_the_same_and_are_audited_with_the_real_reason(client, graph, username, password, reason):
    resp = sign_in(client, username, password)
    assert resp.status_code == 401
    html = resp.get_data(as_text=True)
    assert "Wrong username or password." in html
    assert "disabled" not in html.lower() and "no such" not in html.lower()
    assert f'value="{username}"' in html        # the username is kept, the password is not
    assert password not in html
    assert whoami(client) is None
    (event,) = events(graph)
    assert event["outcome"] == "failed" and event["details"] == {"provider": "local", "reason": reason}
    assert password not in str(event)


def test_throttled_after_the_limit_with_retry_after_even_for_the_right_password(client, graph):
    for _ in range(3):
        assert sign_in(client, "alice", "not the password").status_code == 401
    resp = sign_in(client, "alice", PASSWORD)
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 120
    assert "Too many failed sign-in attempts for this username" in resp.get_data(as_text=True)
    assert whoami(client) is None
    last = events(graph)[-1]
    assert last["outcome"] == "denied" and last["details"]["reason"] == "throttled"
    assert last["details"]["scope"] == "username"
    # Another username from the same address is still allowed (below the per-address limit) ...
    assert sign_in(client, "ops", PASSWORD).status_code == 303


def test_the_throttle_is_shared_by_every_app_process(app, graph, neo4j_uri):
    """Counts live in Neo4j: a second app instance (another gunicorn worker) sees the first one's failures."""
    first = app.test_client()
    for _ in range(3):
        sign_in(first, "alice", "not the password")
    other = make_app(neo4j_uri, {"local": True, "throttle": {"username": 3, "ip": 6, "window_seconds": 120}})
    try:
        assert sign_in(other.test_client(), "alice", PASSWORD).status_code == 429
    finally:
        other.extensions["trellis.graph"].close()


def test_parallel_guesses_cannot_outrun_the_limit(app, graph):
    """Ten wrong passwords at once through a real threaded server: only the limit (3) reach the password
    check, the rest are refused before it (check and count are one transaction)."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.support.live_server import LiveServer

    with LiveServer(app) as server:
        def guess(i: int) -> int:
            with requests.Session() as s:
                page = s.get(f"{server.url}/auth/login", timeout=60)
                _, fields = form(page.text, "/auth/login")
                fields.update(username="alice", password=f"guess number {i}")
                return s.post(f"{server.url}/auth/login", data=fields, allow_redirects=False, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(guess, range(10)))
    assert sorted(codes) == [401] * 3 + [429] * 7, codes
    outcomes = [e["outcome"] for e in events(graph)]
    assert outcomes.count("failed") == 3
    # the refusals anyone can cause are counted, not written one by one (per address and minute)
    assert sum(e.get("count") or 1 for e in events(graph) if e["outcome"] == "denied") == 7


def test_per_address_limit_covers_many_usernames(client, graph):
    for i in range(6):
        assert sign_in(client, f"guess{i}", "x" * 12).status_code == 401
    resp = sign_in(client, "alice", PASSWORD)
    assert resp.status_code == 429
    assert "your network address" in resp.get_data(as_text=True)


def test_success_clears_the_username_counter(client):
    for _ in range(2):
        sign_in(client, "alice", "not the password")
    assert sign_in(client, "alice", PASSWORD).status_code == 303
    client.post("/auth/logout", data=form(client.get("/auth/login").get_data(as_text=True), "/auth/logout")[1])
    for _ in range(2):   # two more failures would have locked it (3) had the success not cleared the counter
        sign_in(client, "alice", "not the password")
    assert sign_in(client, "alice", PASSWORD).status_code == 303


def test_sign_out_ends_the_session_and_is_audited(client, graph):
    sign_in(client, "alice", PASSWORD)
    _, fields = form(client.get("/auth/login").get_data(as_text=True), "/auth/logout")
    resp = client.post("/auth/logout", data=fields)
    assert resp.status_code == 303 and "signed_out=1" in resp.headers["Location"]
    assert whoami(client) is None
    assert "You are signed out." in client.get("/auth/login?signed_out=1").get_data(as_text=True)
    (event,) = events(graph, "signout")
    assert event["actor"] == "local:alice" and event["outcome"] == "ok"


def test_logout_is_not_a_get(client):
    sign_in(client, "alice", PASSWORD)
    assert client.get("/auth/logout").status_code == 405
    assert whoami(client) == "Alice Anderson"


@pytest.mark.parametrize("evil", [
    "//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/%0d%0aSet-Cookie:x",
    "/auth/logout", "\\\\evil.example",
])
def test_next_never_leaves_the_site(client, evil):
    from urllib.parse import quote

    resp = sign_in(client, "alice", PASSWORD, next_url=quote(evil, safe=""))
    assert resp.status_code == 303
    location = resp.headers["Location"]
    assert location == "/" or (location.startswith("/") and not location.startswith("//")
                               and "evil" not in location and not location.startswith("/auth/")), location


def test_require_catalog_user_refuses_an_account_without_one(graph, neo4j_uri, tmp_path):
    load_users(graph, tmp_path)
    accounts.add_user(graph, "zed", PASSWORD)
    app = make_app(neo4j_uri, {"local": True, "require_catalog_user": True})
    try:
        client = app.test_client()
        resp = sign_in(client, "zed", PASSWORD)
        assert resp.status_code == 403
        html = resp.get_data(as_text=True)
        assert "No catalog user for this sign-in" in html and "User entity" in html
        assert whoami(client) is None
        event = events(graph)[-1]
        assert event["outcome"] == "denied" and event["details"]["reason"] == "no_catalog_user"
    finally:
        app.extensions["trellis.graph"].close()
