"""Username impersonation at sign-in: an account at an identity provider that is *named* like a catalog user
must not sign in as that user.

Before the fix, the default resolvers matched OIDC `preferred_username` and GitHub logins against
`metadata.name` in any namespace (and `github.com/user-login` against any provider's username), so whoever
registered the right name at the IdP, or on github.com, got the victim's role. Each test plays the attacker
through the real flow (the real Keycloak of tests/idp; GitHub's API replayed by tests/test_signin_github's
server) and asserts on the gain: the admin-only API answering the attacker's session.
"""
from __future__ import annotations

import textwrap

import pytest

from tests.idp.provider import browser_session
from tests.test_signin_github import FakeGitHub, approve, github_auth, start
from tests.test_signin_oidc import begin, keycloak_login, oidc_auth
from tests.support.live_server import LiveServer
from tests.test_signin_support import events, make_app

pytest_plugins = ["tests.idp.fixtures"]

ADMIN_ONLY = "/api/v1/admin/roles"


def load_catalog(graph, tmp_path, text: str) -> None:
    from ingest.sync import ingest

    folder = tmp_path / "org"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(textwrap.dedent(text))
    result = ingest(graph, str(folder))
    assert result.ok and not result.rejected, result.as_json()


# The victim: a catalog user who is an admin, known to the IdP under another address and GitHub account.
VICTIMS = """
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata:
      name: bob
      annotations: {github.com/user-login: bob-the-admin}
    spec: {profile: {displayName: Bob the Admin, email: bob.admin@corp.example}, memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata:
      name: dana
      annotations: {github.com/user-login: dana-real}
    spec: {profile: {displayName: Dana the Admin, email: dana@corp.example}, memberOf: []}
    """
ROLES = {"user:default/bob": "admin", "user:default/dana": "admin"}


@pytest.fixture(scope="module")
def github():
    with FakeGitHub() as fake:
        # mallory registered the GitHub login "dana" (the catalog admin is dana-real on GitHub)
        fake.add_account("dana", 7001, name="Not Dana")
        yield fake


def test_an_idp_account_named_like_a_catalog_admin_does_not_get_their_role(graph, neo4j_uri, tmp_path,
                                                                            oidc_provider):
    """Keycloak's `bob` (bob@example.com) is not the catalog's bob (bob.admin@corp.example)."""
    load_catalog(graph, tmp_path, VICTIMS)
    app = make_app(neo4j_uri, oidc_auth(oidc_provider), TRELLIS_ROLES=ROLES)
    try:
        with LiveServer(app) as portal, browser_session() as mallory:
            idp_bob = oidc_provider.users["bob"]
            callback = keycloak_login(mallory, begin(mallory, portal), idp_bob.username, idp_bob.password)
            mallory.get(callback, allow_redirects=False, timeout=30)
            gain = mallory.get(portal.url + ADMIN_ONLY, timeout=30)
            assert gain.status_code != 200, "an IdP account named bob got the catalog admin bob's role"
            assert gain.status_code == 401
        event = events(graph)[-1]
        assert event.get("target") is None and event["outcome"] == "denied"
    finally:
        app.extensions["trellis.graph"].close()


def test_a_github_login_annotation_never_matches_an_oidc_username(graph, neo4j_uri, tmp_path, oidc_provider):
    """The catalog's erin is `bob` on GitHub; Keycloak's bob must not become erin."""
    load_catalog(graph, tmp_path, """
        apiVersion: backstage.io/v1alpha1
        kind: User
        metadata:
          name: erin
          annotations: {github.com/user-login: bob}
        spec: {profile: {email: erin@corp.example}, memberOf: []}
        """)
    app = make_app(neo4j_uri, oidc_auth(oidc_provider), TRELLIS_ROLES={"user:default/erin": "admin"})
    try:
        with LiveServer(app) as portal, browser_session() as mallory:
            idp_bob = oidc_provider.users["bob"]
            callback = keycloak_login(mallory, begin(mallory, portal), idp_bob.username, idp_bob.password)
            mallory.get(callback, allow_redirects=False, timeout=30)
            gain = mallory.get(portal.url + ADMIN_ONLY, timeout=30)
            assert gain.status_code == 401, "an OIDC username matched a GitHub login annotation"
    finally:
        app.extensions["trellis.graph"].close()


def test_a_github_login_equal_to_a_catalog_admins_name_does_not_get_their_role(graph, neo4j_uri, tmp_path,
                                                                                github):
    load_catalog(graph, tmp_path, VICTIMS)
    app = make_app(neo4j_uri, github_auth(github), TRELLIS_ROLES=ROLES)
    github.acting = "dana"
    try:
        mallory = app.test_client()
        mallory.get(approve(start(mallory)))
        gain = mallory.get(ADMIN_ONLY)
        assert gain.status_code != 200, "the GitHub account 'dana' got the catalog admin dana's role"
        assert gain.status_code == 401
        event = events(graph)[-1]
        assert event["actor"] == "github:7001" and event.get("target") is None
    finally:
        github.acting = "octocat"
        app.extensions["trellis.graph"].close()


def test_a_recycled_github_login_does_not_take_over_a_bound_user(graph, neo4j_uri, tmp_path, github):
    """dana-real signed in once (bound by GitHub id); the login later points at another account (renamed and
    re-registered): that account matches the login annotation but must not become dana."""
    load_catalog(graph, tmp_path, VICTIMS)
    github.add_account("dana-real", 5001, name="Dana the Admin")
    app = make_app(neo4j_uri, github_auth(github), TRELLIS_ROLES=ROLES)
    try:
        github.acting = "dana-real"
        dana = app.test_client()
        dana.get(approve(start(dana)))
        assert dana.get(ADMIN_ONLY).status_code == 200          # the real dana, by her login annotation
        # dana renames her GitHub account; mallory registers the freed login "dana-real" (another id)
        github.accounts["dana-real"]["user"]["login"] = "dana-renamed"
        github.add_account("dana-real", 7002, name="Mallory")
        github.acting = "dana-real"
        mallory = app.test_client()
        mallory.get(approve(start(mallory)))
        assert mallory.get(ADMIN_ONLY).status_code == 401, "a recycled GitHub login took over a bound user"
        event = events(graph)[-1]
        assert event["actor"] == "github:7002" and event["outcome"] == "denied"
    finally:
        github.acting = "octocat"
        app.extensions["trellis.graph"].close()
