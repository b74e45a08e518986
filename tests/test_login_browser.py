"""The whole sign-in in a real browser (Debian chromium via Playwright): the portal's sign-in page, redirect to
Keycloak, Keycloak's own login form, the callback, the signed-in portal showing the user, and sign-out (which
ends Keycloak's session too). Also local sign-in errors and the refusal page. Screenshots go to
test-artifacts/screenshots/ (signin-*.png)."""
from __future__ import annotations

import pytest

from app.auth import accounts
from tests.support.browser import needs_chromium, shot
from tests.support.live_server import LiveServer
from tests.test_signin_support import events, load_users, make_app

pytest_plugins = ["tests.idp.fixtures"]

pytestmark = needs_chromium


def auth_config(provider, **extra) -> dict:
    return {"local": True,
            "oidc": {"name": "Keycloak", "discovery_url": provider.discovery_url, "client_id": provider.client_id,
                     "client_secret": provider.client_secret},
            "github": {"client_id": "shown-only", "client_secret": "shown-only"}, **extra}


@pytest.fixture
def portal(graph, neo4j_uri, tmp_path, oidc_provider):
    load_users(graph, tmp_path)
    accounts.add_user(graph, "alice", "correct horse battery staple")
    # verified e-mails (OIDC) and names (local accounts) are matched because this config says so
    app = make_app(neo4j_uri, auth_config(oidc_provider, resolvers=[
        "email", {"resolver": "username", "providers": ["local"]}]))
    with LiveServer(app) as server:
        yield server
    app.extensions["trellis.graph"].close()


@pytest.fixture
def page(chromium, portal):
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, base_url=portal.url)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"



def test_oidc_sign_in_and_out_in_a_browser(page, portal, oidc_provider, graph):
    alice = oidc_provider.users["alice"]
    page.goto("/catalog")                                   # not signed in: sent to the sign-in page
    page.wait_for_url("**/auth/login?next=/catalog")
    shot(page, "signin-page")
    assert page.get_by_role("link", name="Sign in with GitHub").is_visible()
    page.get_by_role("link", name="Sign in with Keycloak").click()

    page.wait_for_url(oidc_provider.issuer + "/protocol/openid-connect/auth*")   # Keycloak's own form
    shot(page, "signin-keycloak-form")
    page.fill("#username", alice.username)
    page.fill("#password", alice.password)
    page.click("#kc-login")

    page.wait_for_url(f"{portal.url}/catalog")              # callback -> session -> back where we started
    header = page.locator(".user-menu")
    assert alice.name in header.inner_text()
    shot(page, "signin-signed-in")
    assert events(graph)[-1]["target"] == "user:default/alice"

    header.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{portal.url}/auth/login?signed_out=1*")   # via Keycloak's end-session endpoint
    assert page.get_by_text("You are signed out.").is_visible()
    assert alice.name not in page.locator(".user-menu").inner_text()
    page.goto("/catalog")
    page.wait_for_url("**/auth/login?next=/catalog")        # the session is really gone
    page.get_by_role("link", name="Sign in with Keycloak").click()
    page.wait_for_url(oidc_provider.issuer + "/**")
    assert page.locator("#password").is_visible()            # and so is Keycloak's SSO session


def test_local_sign_in_error_then_success(page, portal):
    page.goto("/auth/login")
    page.fill("#username", "alice")
    page.fill("#password", "not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    assert page.input_value("#username") == "alice" and page.input_value("#password") == ""
    shot(page, "signin-error")
    page.fill("#password", "correct horse battery staple")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{portal.url}/catalog")   # "/" shows the catalog
    page.goto("/auth/login")
    assert page.locator(".signin__who").inner_text() == "Alice Anderson"   # the catalog user's displayName
    shot(page, "signin-already-signed-in")


def test_refusal_page(chromium, graph, neo4j_uri, oidc_provider):
    app = make_app(neo4j_uri, auth_config(oidc_provider, require_catalog_user=True))   # empty catalog
    try:
        with LiveServer(app) as portal:
            context = chromium.new_context(viewport={"width": 1280, "height": 760}, base_url=portal.url)
            page = context.new_page()
            bob = oidc_provider.users["bob"]
            page.goto("/auth/login")
            page.get_by_role("link", name="Sign in with Keycloak").click()
            page.fill("#username", bob.username)
            page.fill("#password", bob.password)
            page.click("#kc-login")
            page.wait_for_url(f"{portal.url}/auth/oidc/callback*")
            assert page.get_by_role("heading", name="No catalog user for this sign-in").is_visible()
            shot(page, "signin-refused")
            context.close()
    finally:
        app.extensions["trellis.graph"].close()
