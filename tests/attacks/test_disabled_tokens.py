"""A disabled account keeps no API access: the personal tokens minted in its sessions, and any personal token
of the catalog user it is linked to, stop working as soon as the account is disabled.

Before the fix, `trellis users disable` ended the account's sessions but its tokens went on reading (and
writing) the catalog until they expired, up to a year later.
"""
from __future__ import annotations

import pytest

from app.auth import accounts
from app.auth.tokens import issue_token
from tests.test_signin_support import form, load_users, make_app

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(graph, neo4j_uri, tmp_path):
    load_users(graph, tmp_path)
    accounts.add_user(graph, "carol", PASSWORD, user_ref="user:default/carol")
    application = make_app(neo4j_uri, {"local": True})
    yield application
    application.extensions["trellis.graph"].close()


def mint_token_in_a_session(app) -> str:
    """carol signs in with her password and creates a personal token on /settings/tokens."""
    browser = app.test_client()
    _, fields = form(browser.get("/auth/login").get_data(as_text=True), "/auth/login")
    fields.update(username="carol", password=PASSWORD)
    assert browser.post("/auth/login", data=fields).status_code == 303
    _, fields = form(browser.get("/settings/tokens").get_data(as_text=True), "/settings/tokens")
    page = browser.post("/settings/tokens", data={"csrf_token": fields["csrf_token"], "name": "laptop",
                                                  "scopes": ["catalog:read", "catalog:write"], "ttl_days": "365"})
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return page.get_data(as_text=True).split('class="token-value">')[1].split("<")[0]


def reads_catalog(app, token: str) -> int:
    return app.test_client().get("/api/v1/entities", headers={"Authorization": f"Bearer {token}"}).status_code


def test_tokens_of_a_disabled_account_stop_working(app, graph):
    minted = mint_token_in_a_session(app)
    by_operator, _ = issue_token(graph, name="ci", owner="user:default/carol", kind="personal",
                                 scopes=["catalog:read"], ttl_days=30)
    assert reads_catalog(app, minted) == 200 and reads_catalog(app, by_operator) == 200

    accounts.disable_user(graph, "carol")          # what `trellis users disable carol` does

    for token in (minted, by_operator):
        resp = app.test_client().get("/api/v1/entities", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code != 200, "a disabled account's token still reads the catalog"
        assert resp.status_code == 401 and "account disabled" in resp.get_json()["error"]["message"]

    accounts.enable_user(graph, "carol")           # re-enabled: the (unrevoked) tokens work again
    assert reads_catalog(app, minted) == 200
