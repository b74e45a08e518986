"""OIDC sign-in against the real Keycloak (tests/idp), driven like a browser with requests: the whole
authorization-code flow through the portal (state, nonce, PKCE; ID token verified by authlib), RP-initiated
logout, and the attacks - forged state, replayed callback, nonce mismatch, tampered session cookie - each
denied, audited, and leaving no session."""
from __future__ import annotations

import re
from html import unescape as html_unescape
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from tests.idp.provider import Provider, browser_session
from tests.support.live_server import LiveServer
from tests.test_signin_support import events, form, load_users, make_app, signed_in_as

pytest_plugins = ["tests.idp.fixtures"]


def oidc_auth(provider: Provider, **extra) -> dict:
    return {"local": True, "oidc": {
        "name": "Keycloak", "discovery_url": provider.discovery_url, "client_id": provider.client_id,
        "client_secret": provider.client_secret, "scopes": ["openid", "email", "profile"]}, **extra}


@pytest.fixture
def portal(graph, neo4j_uri, tmp_path, oidc_provider):
    load_users(graph, tmp_path)
    # matching the catalog's e-mail against one the IdP verified is a choice the config makes explicitly
    app = make_app(neo4j_uri, oidc_auth(oidc_provider, resolvers=["email"]))
    with LiveServer(app) as server:
        yield server
    app.extensions["trellis.graph"].close()


@pytest.fixture
def browser():
    with browser_session() as s:
        yield s


def begin(browser, portal: LiveServer, next_url: str = "/catalog") -> str:
    """Click "Sign in with Keycloak" on the portal: returns Keycloak's authorization URL."""
    page = browser.get(f"{portal.url}/auth/login?next={next_url}", timeout=30)
    assert "Sign in with Keycloak" in page.text
    resp = browser.get(f"{portal.url}/auth/oidc/start?next={next_url}", allow_redirects=False, timeout=30)
    assert resp.status_code == 302, resp.text[:500]
    return resp.headers["Location"]


def keycloak_login(browser, authorize_url: str, username: str, password: str) -> str:
    """Fill Keycloak's real login form: returns the portal callback URL Keycloak redirects to."""
    page = browser.get(authorize_url, timeout=30)
    assert page.status_code == 200, page.text[:500]
    action, fields = form(page.text, "login-actions/authenticate", page.url)
    fields.update(username=username, password=password)
    resp = browser.post(action, data=fields, allow_redirects=False, timeout=30)
    assert resp.status_code in (302, 303), resp.text[:800]
    return resp.headers["Location"]


def whoami(browser, portal: LiveServer) -> str | None:
    return signed_in_as(browser.get(f"{portal.url}/auth/login", timeout=30).text)


def with_param(url: str, **params) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_full_flow_signs_in_and_out(browser, portal, oidc_provider, graph):
    alice = oidc_provider.users["alice"]
    authorize_url = begin(browser, portal)
    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(oidc_provider.issuer + "/protocol/openid-connect/auth?")
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0] and query["state"][0]
    assert query["redirect_uri"] == [f"{portal.url}/auth/oidc/callback"]

    callback = keycloak_login(browser, authorize_url, alice.username, alice.password)
    assert callback.startswith(f"{portal.url}/auth/oidc/callback?")
    resp = browser.get(callback, allow_redirects=False, timeout=30)
    assert resp.status_code == 303 and resp.headers["Location"] == "/catalog"
    html = browser.get(f"{portal.url}/auth/login", timeout=30).text
    assert signed_in_as(html) == alice.name and "user:default/alice" in html   # resolved by email

    event = events(graph)[-1]
    assert event["outcome"] == "ok" and event["actor"].startswith("oidc:") and event["target"] == "user:default/alice"
    assert event["details"]["resolver"] == "email" and event["details"]["username"] == "alice"
    # remembered by issuer + sub: the next sign-in goes by the binding, whatever the account is called then
    from app.auth.migration import oidc_issuer
    from graph.bindings import list_bindings

    (bound,) = list_bindings(graph)
    assert (bound["provider"], bound["issuer"], bound["user_ref"]) == ("oidc", oidc_provider.issuer,
                                                                       "user:default/alice")
    assert "oidc:" + bound["subject"] == event["actor"] and oidc_issuer(oidc_provider.discovery_url) == bound["issuer"]

    # Sign out: the portal session ends and Keycloak's SSO session too (RP-initiated logout).
    _, fields = form(html, "/auth/logout")
    resp = browser.post(f"{portal.url}/auth/logout", data=fields, allow_redirects=False, timeout=30)
    assert resp.status_code == 200 and "Signing you out of Keycloak too" in resp.text
    end_session = html_unescape(re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', resp.text).group(1))
    assert end_session.startswith(oidc_provider.issuer + "/protocol/openid-connect/logout?")
    assert "id_token_hint=" in end_session
    landed = browser.get(end_session, timeout=30)
    assert landed.url.startswith(f"{portal.url}/auth/login") and "You are signed out." in landed.text
    assert whoami(browser, portal) is None
    assert events(graph, "signout")[-1]["actor"] == event["actor"]
    again = browser.get(begin(browser, portal), timeout=30)
    assert 'type="password"' in again.text            # Keycloak asks for the password again


def test_forged_state_is_denied(browser, portal, oidc_provider, graph):
    alice = oidc_provider.users["alice"]
    callback = keycloak_login(browser, begin(browser, portal), alice.username, alice.password)
    resp = browser.get(with_param(callback, state="attacker-chosen-state"), allow_redirects=False, timeout=30)
    assert resp.status_code == 400 and "does not belong to a sign-in started in this browser" in resp.text
    assert whoami(browser, portal) is None
    event = events(graph)[-1]
    assert (event["outcome"], event["details"]["reason"]) == ("denied", "state_mismatch")


def test_replayed_callback_is_denied_and_ends_the_session(browser, portal, oidc_provider, graph):
    alice = oidc_provider.users["alice"]
    callback = keycloak_login(browser, begin(browser, portal), alice.username, alice.password)
    assert browser.get(callback, allow_redirects=False, timeout=30).status_code == 303
    assert whoami(browser, portal) == alice.name
    # An attacker who captured the callback URL, in their own browser:
    with browser_session() as attacker:
        resp = attacker.get(callback, allow_redirects=False, timeout=30)
        assert resp.status_code == 400
        assert whoami(attacker, portal) is None
    # The same URL again in the victim's browser: denied, and the session does not survive it.
    resp = browser.get(callback, allow_redirects=False, timeout=30)
    assert resp.status_code == 400
    assert whoami(browser, portal) is None
    # counted, not written one by one: both replays are one event (same address, same minute) with count 2
    failures = [e for e in events(graph) if e["outcome"] != "ok"]
    assert {e["details"].get("reason") for e in failures} == {"state_mismatch"}
    assert sum(e.get("count") or 1 for e in failures) == 2


def test_nonce_mismatch_is_denied(browser, portal, oidc_provider, graph):
    """An ID token minted for another nonce (the authorization request was tampered with) is rejected."""
    alice = oidc_provider.users["alice"]
    authorize_url = with_param(begin(browser, portal), nonce="nonce-the-portal-never-issued")
    callback = keycloak_login(browser, authorize_url, alice.username, alice.password)
    resp = browser.get(callback, allow_redirects=False, timeout=30)
    assert resp.status_code == 400 and "ID token did not pass verification" in resp.text
    assert whoami(browser, portal) is None
    event = events(graph)[-1]
    assert (event["outcome"], event["details"]["reason"]) == ("denied", "id_token_invalid")
    assert "nonce" in event["details"]["detail"]


def _tamper(browser) -> None:
    jar = browser.cookies
    (cookie,) = [c for c in jar if c.name == "trellis_session"]
    value = cookie.value
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    jar.set(cookie.name, flipped, domain=cookie.domain, path=cookie.path)


def test_tampered_session_cookie_during_the_flow_is_denied(browser, portal, oidc_provider, graph):
    alice = oidc_provider.users["alice"]
    callback = keycloak_login(browser, begin(browser, portal), alice.username, alice.password)
    _tamper(browser)
    resp = browser.get(callback, allow_redirects=False, timeout=30)
    assert resp.status_code == 400 and "session cookie could not be verified" in resp.text
    assert whoami(browser, portal) is None
    event = events(graph)[-1]
    assert (event["outcome"], event["details"]["reason"]) == ("denied", "session_invalid")


def test_tampered_session_cookie_after_sign_in_is_not_a_session(browser, portal, oidc_provider):
    alice = oidc_provider.users["alice"]
    browser.get(keycloak_login(browser, begin(browser, portal), alice.username, alice.password), timeout=30)
    assert whoami(browser, portal) == alice.name
    _tamper(browser)
    assert whoami(browser, portal) is None


def test_require_catalog_user_refuses_a_valid_idp_user_without_one(graph, neo4j_uri, oidc_provider, browser):
    # the catalog has no bob (neither bob@example.com nor a user named bob)
    app = make_app(neo4j_uri, oidc_auth(oidc_provider, require_catalog_user=True))
    try:
        with LiveServer(app) as portal:
            bob = oidc_provider.users["bob"]
            callback = keycloak_login(browser, begin(browser, portal), bob.username, bob.password)
            resp = browser.get(callback, allow_redirects=False, timeout=30)
            assert resp.status_code == 403 and "No catalog user for this sign-in" in resp.text
            assert "bob via Keycloak" in resp.text
            assert whoami(browser, portal) is None
        event = events(graph)[-1]
        assert (event["outcome"], event["details"]["reason"]) == ("denied", "no_catalog_user")
    finally:
        app.extensions["trellis.graph"].close()


def test_provider_unreachable_at_start_is_a_clear_page(graph, neo4j_uri, browser):
    from servers.base import free_port

    dead = f"http://127.0.0.1:{free_port()}/realms/x/.well-known/openid-configuration"
    app = make_app(neo4j_uri, {"oidc": {"name": "Keycloak", "discovery_url": dead, "client_id": "c",
                                        "client_secret": "s"}})
    try:
        with LiveServer(app) as portal:
            resp = browser.get(f"{portal.url}/auth/oidc/start", allow_redirects=False, timeout=30)
            assert resp.status_code == 502 and "could not be reached" in resp.text
        assert events(graph)[-1]["details"]["reason"] == "provider_unreachable"
    finally:
        app.extensions["trellis.graph"].close()


def test_an_account_outside_the_allowed_domains_is_refused_before_any_lookup(graph, neo4j_uri, tmp_path,
                                                                             oidc_provider, browser):
    """alice@example.com is verified and in the catalog, but the portal admits corp.example accounts only."""
    load_users(graph, tmp_path)
    auth = oidc_auth(oidc_provider, resolvers=["email"])
    auth["oidc"]["allowed_domains"] = ["corp.example"]
    app = make_app(neo4j_uri, auth)
    try:
        with LiveServer(app) as portal:
            assert "open to corp.example accounts only" in browser.get(f"{portal.url}/auth/login", timeout=30).text
            alice = oidc_provider.users["alice"]
            callback = keycloak_login(browser, begin(browser, portal), alice.username, alice.password)
            resp = browser.get(callback, allow_redirects=False, timeout=30)
            assert resp.status_code == 403 and "admits accounts of corp.example only" in resp.text
            assert whoami(browser, portal) is None
        event = events(graph)[-1]
        assert event["outcome"] == "denied" and event["details"]["reason"] == "not_allowed"
    finally:
        app.extensions["trellis.graph"].close()
