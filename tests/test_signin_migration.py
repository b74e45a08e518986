"""The upgrade from username matching to bindings (`trellis users migrate-bindings`): people who signed in
before, admins included, keep their access; nobody new gets in by name.

The history is written as the previous release wrote it (a `signin`/`ok` audit event whose actor is the
account's provider id and whose target is the user it resolved to by `username`), then the real flows run
with today's defaults before and after the migration.
"""
from __future__ import annotations

import textwrap

import pytest
import yaml
from click.testing import CliRunner

from app.auth import accounts
from app.cli import main
from graph import bindings
from graph.audit import record_event
from tests.test_signin_github import FakeGitHub, approve, github_auth, start
from tests.test_signin_support import form, make_app

PASSWORD = "correct horse battery staple"
ADMIN_ONLY = "/api/v1/admin/roles"
CATALOG = """
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: dana}
    spec: {profile: {displayName: Dana the Admin}, memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: ops}
    spec: {profile: {displayName: Ops Admin}, memberOf: []}
    """
ROLES = {"user:default/dana": "admin", "user:default/ops": "admin"}


def old_signin(graph, actor: str, user_ref: str, username: str) -> None:
    """A sign-in as the previous release audited it (matched by the `username` resolver)."""
    provider = actor.split(":", 1)[0]
    record_event(graph, action="signin", outcome="ok", actor=actor, target=user_ref, details={
        "provider": provider, "username": username, "user_ref": user_ref, "resolver": "username",
        "resolvers": [f"username: matched {user_ref}"]})


@pytest.fixture
def github():
    with FakeGitHub() as fake:
        fake.add_account("dana", 5001, name="Dana the Admin")
        yield fake


@pytest.fixture
def setup(graph, neo4j_uri, tmp_path, github, monkeypatch):
    from ingest.sync import ingest

    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "catalog-info.yaml").write_text(textwrap.dedent(CATALOG))
    assert ingest(graph, str(tmp_path / "org")).ok
    accounts.add_user(graph, "ops", PASSWORD)                        # never linked: it matched by name
    old_signin(graph, "github:5001", "user:default/dana", "dana")
    old_signin(graph, "local:ops", "user:default/ops", "ops")
    old_signin(graph, "github:5002", "user:default/dana", "dana-laptop")   # two users: left to an operator
    old_signin(graph, "github:5002", "user:default/ops", "dana-laptop")
    auth = github_auth(github)
    config = tmp_path / "trellis.yaml"
    config.write_text(yaml.safe_dump({"auth": auth}))
    monkeypatch.setenv("TRELLIS_CONFIG", str(config))
    monkeypatch.setenv("NEO4J_URI", neo4j_uri)
    app = make_app(neo4j_uri, auth, TRELLIS_ROLES=ROLES)
    yield app
    app.extensions["trellis.graph"].close()


def github_admin(app, github, login: str) -> int:
    github.acting = login
    try:
        browser = app.test_client()
        browser.get(approve(start(browser)))
        return browser.get(ADMIN_ONLY).status_code
    finally:
        github.acting = "octocat"


def local_admin(app) -> int:
    browser = app.test_client()
    _, fields = form(browser.get("/auth/login").get_data(as_text=True), "/auth/login")
    fields.update(username="ops", password=PASSWORD)
    assert browser.post("/auth/login", data=fields).status_code == 303
    return browser.get(ADMIN_ONLY).status_code


def cli(*args: str):
    result = CliRunner().invoke(main, ["users", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_admins_who_signed_in_by_name_keep_their_access_after_the_migration(setup, graph, github):
    app = setup
    # the upgrade alone: no name matching any more, so the admins are out
    assert github_admin(app, github, "dana") == 401
    assert local_admin(app) == 403

    plan = cli("migrate-bindings", "--dry-run")
    assert "would bind   github:5001 -> user:default/dana" in plan
    assert "would link   local:ops -> user:default/ops" in plan
    assert "skip         github:5002 -> - (signed in as user:default/dana and user:default/ops" in plan
    assert bindings.list_bindings(graph) == []                         # a dry run changes nothing

    done = cli("migrate-bindings")
    assert "2 account(s) migrated, 1 skipped" in done
    (bound,) = bindings.list_bindings(graph)
    assert (bound["provider"], bound["issuer"], bound["subject"], bound["user_ref"]) == (
        "github", github.base + "/api/v3/", "5001", "user:default/dana")
    assert github_admin(app, github, "dana") == 200
    assert local_admin(app) == 200

    # bound by id: an account that takes the login "dana" later is not dana
    github.accounts["dana"]["user"]["login"] = "dana-renamed"
    github.add_account("dana", 7001, name="Mallory")
    assert github_admin(app, github, "dana") == 401
    # running it again changes nothing
    assert "0 account(s) migrated" in cli("migrate-bindings")


def test_operators_bind_and_unbind_accounts_by_hand(setup, graph, github):
    app = setup
    assert "Bound github account 5002" in cli("bind", "user:default/ops", "--provider", "github", "--subject", "5002")
    github.add_account("ops-gh", 5002)
    assert github_admin(app, github, "ops-gh") == 200
    listed = cli("bindings", "--user-ref", "user:default/ops")
    assert "user:default/ops  github:5002" in listed
    result = CliRunner().invoke(main, ["users", "bind", "user:default/dana", "--provider", "github",
                                       "--subject", "5002"])
    assert result.exit_code != 0 and "is bound to user:default/ops" in result.output
    cli("unbind", "--provider", "github", "--subject", "5002")
    assert github_admin(app, github, "ops-gh") == 401
