"""Access control end to end: roles x pages/endpoints, ownership through nested groups, restricted entities,
honest impact counts, and the attacks the issue lists. Real Neo4j, the real app, no sign-in shortcuts in the
code under test: sessions are made the way a completed sign-in leaves them (the sign-in flows themselves are
tested in tests/test_signin*.py), API tokens are real tokens.
"""
from __future__ import annotations

import csv
import io
import textwrap
import time

import pytest

from app import create_app
from app.auth.tokens import DAY_MS, issue_token
from app.config import ConfigError
from graph import audit as audit_log
from graph.tokens import revoke_token
from ingest.sync import ingest
from tests.support.live_server import LiveServer
from tests.support.signin import add_accounts
from tests.support.signin import session_client as signed_in

SECRET = "s" * 40

CATALOG = textwrap.dedent("""\
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: org}
    spec: {type: organization, children: [payments, search-team]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: payments}
    spec: {type: department, children: [payments-core]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: payments-core}
    spec: {type: team, children: [], members: [alice]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: search-team}
    spec: {type: team, children: [], members: [bob]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: alice}
    spec: {profile: {email: alice@example.com}, memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: bob}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: carol}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: User
    metadata: {name: dana}
    spec: {memberOf: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Resource
    metadata: {name: pay-db}
    spec: {type: database, owner: payments-core}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: pay-api}
    spec: {type: service, lifecycle: production, owner: payments-core, dependsOn: [resource:pay-db]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: pay-ledger
      annotations: {trellis.io/restricted: "true"}
    spec: {type: service, lifecycle: production, owner: payments, dependsOn: [resource:pay-db]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: ledger-report}
    spec: {type: website, lifecycle: production, owner: search-team, dependsOn: [component:pay-ledger]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: search-svc}
    spec: {type: service, lifecycle: production, owner: search-team, dependsOn: [resource:pay-db]}
    """)

# bob (search-team) is an editor through his group; dana an admin by name; alice an editor through a grant on
# an ancestor of her group (made on the admin page, see the fixture); carol has the default role (viewer).
ROLES = {"group:default/search-team": "editor", "user:default/dana": "admin"}


@pytest.fixture(scope="module")
def secured(graph_module, neo4j_uri, tmp_path_factory):
    from graph.roles import grant_role

    root = tmp_path_factory.mktemp("access")
    (root / "catalog-info.yaml").write_text(CATALOG)
    result = ingest(graph_module, str(root))
    assert result.ok and result.added == 13, result.as_json()
    grant_role(graph_module, "group:default/payments", "editor", "test")
    app = create_app({"NEO4J_URI": neo4j_uri, "TESTING": True, "TRELLIS_ENV": "development",
                      "SECRET_KEY": SECRET, "TRELLIS_ROLES": ROLES,
                      "TRELLIS_LOCATION_ROOTS": [str(tmp_path_factory.getbasetemp())]})
    yield app, root
    app.extensions["trellis.graph"].close()


@pytest.fixture
def app(secured):
    return secured[0]


@pytest.fixture(scope="module", autouse=True)
def accounts(secured, graph_module):
    """Local accounts behind the sessions (a disabled or missing account loses its session)."""
    add_accounts(graph_module, ("alice", "bob", "carol", "dana"))


def events(graph, **filters) -> list[dict]:
    return audit_log.list_events(graph, limit=50, **filters)


# ------------------------------------------------------------------------------------------ role matrix

READ_PAGES = ["/catalog", "/catalog/default/component/pay-api", "/catalog/default/component/pay-api?tab=impact",
              "/reports/ownership", "/paths?from=component:pay-api&to=resource:pay-db", "/settings/tokens"]
READ_API = ["/api/v1/entities", "/api/v1/entities/by-name/component/default/pay-api",
            "/api/v1/entities/by-name/resource/default/pay-db/impact", "/api/v1/entity-facets?facet=kind",
            "/api/v1/graph/neighbourhood?ref=component:default/pay-api", "/api/v1/reports/ownership?format=csv",
            "/api/v1/locations", "/api/v1/ingest/runs"]
INGEST_PAGES = ["/register"]
ADMIN_PAGES = ["/admin", "/admin/audit"]
ADMIN_API = ["/api/v1/audit", "/api/v1/admin/roles"]

EXPECTED = {   # who -> (read, ingest, admin) allowed
    None: (False, False, False), "carol": (True, False, False), "bob": (True, True, False),
    "dana": (True, True, True),
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_every_role_against_every_kind_of_page_and_endpoint(app, who):
    client = signed_in(app, who)
    read, can_ingest, admin = EXPECTED[who]
    for url, allowed in ([(u, read) for u in READ_PAGES + READ_API] + [(u, can_ingest) for u in INGEST_PAGES]
                         + [(u, admin) for u in ADMIN_PAGES + ADMIN_API]):
        response = client.get(url)
        if allowed:
            assert response.status_code == 200, (who, url, response.status_code, response.get_data(as_text=True)[:300])
        elif who is None and not url.startswith("/api/"):
            assert response.status_code == 302 and "/auth/login?next=" in response.headers["Location"], (who, url)
        elif who is None:
            assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized", url
        else:
            assert response.status_code == 403, (who, url, response.status_code)
            if url.startswith("/api/"):
                assert response.get_json()["error"]["code"] == "forbidden"
    # public: health and the API description need no sign-in
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_header_shows_who_and_role_and_hides_what_they_cannot_use(app):
    carol = signed_in(app, "carol").get("/catalog").get_data(as_text=True)
    assert "carol" in carol and ">viewer<" in carol and 'href="/register"' not in carol and 'href="/admin"' not in carol
    dana = signed_in(app, "dana").get("/catalog").get_data(as_text=True)
    assert ">admin<" in dana and 'href="/admin"' in dana and 'href="/register"' in dana


# ------------------------------------------------------------------------------------------ ownership

def test_owners_change_what_they_own_through_nested_groups(app, secured, graph_module):
    # alice is in payments-core; pay-ledger is owned by payments, its parent: her claim reaches it
    alice = signed_in(app, "alice")
    refreshed = alice.post("/api/v1/entities/by-name/component/default/pay-ledger/refresh")
    assert refreshed.status_code == 200, refreshed.get_json()
    assert events(graph_module, action="refresh", actor="local:alice")[0]["target"] == "component:default/pay-ledger"


def test_editing_another_teams_entity_is_denied_audited_and_changes_nothing(app, graph_module):
    bob = signed_in(app, "bob")   # an editor, but in search-team
    before = bob.get("/api/v1/entities/by-name/component/default/pay-api").get_json()
    denied = bob.delete("/api/v1/entities/by-name/component/default/pay-api")
    assert denied.status_code == 403
    assert "only its owners and admins" in denied.get_json()["error"]["message"]
    assert bob.post("/api/v1/entities/by-name/component/default/pay-api/refresh").status_code == 403
    after = bob.get("/api/v1/entities/by-name/component/default/pay-api").get_json()
    assert after["metadata"]["etag"] == before["metadata"]["etag"]
    denial = events(graph_module, actor="local:bob", action="denied")[0]
    assert denial["target"] == "component:default/pay-api" and denial["details"]["action"] == "write"


def test_owner_unregisters_and_the_location_brings_it_back(app, secured, graph_module):
    bob = signed_in(app, "bob")
    assert bob.delete("/api/v1/entities/by-name/component/default/search-svc").status_code == 204
    assert bob.get("/api/v1/entities/by-name/component/default/search-svc").status_code == 404
    assert events(graph_module, action="delete_entity")[0]["target"] == "component:default/search-svc"
    ingest(graph_module, str(secured[1]))
    assert bob.get("/api/v1/entities/by-name/component/default/search-svc").status_code == 200


def test_a_viewer_cannot_write_even_what_their_group_owns(app, graph_module):
    from graph.roles import grant_role, revoke_role
    from app.auth.access import forget_subjects

    # carol joins nothing; give bob's group viewer instead of editor for a moment: bob owns search-svc
    grant_role(graph_module, "user:default/carol", "viewer", "test")
    carol = signed_in(app, "carol")
    assert carol.delete("/api/v1/entities/by-name/component/default/search-svc").status_code == 403
    revoke_role(graph_module, "user:default/carol")
    forget_subjects()


# ------------------------------------------------------------------------------------------ restricted

def test_restricted_entities_are_hidden_from_non_owners_everywhere(app, graph_module):
    bob, alice, dana = signed_in(app, "bob"), signed_in(app, "alice"), signed_in(app, "dana")
    url = "/api/v1/entities/by-name/component/default/pay-ledger"
    assert alice.get(url).status_code == 200 and dana.get(url).status_code == 200
    hidden = bob.get(url)
    assert hidden.status_code == 404 and hidden.get_json()["error"]["code"] == "not_found"
    assert events(graph_module, actor="local:bob", action="denied")[0]["target"] == "component:default/pay-ledger"
    assert bob.get("/catalog/default/component/pay-ledger").status_code == 404

    # lists and totals: pages stay full and counts honest (the predicate is inside the query)
    bobs = bob.get("/api/v1/entities?filter=kind=component&limit=500").get_json()
    alices = alice.get("/api/v1/entities?filter=kind=component&limit=500").get_json()
    assert "pay-ledger" not in {e["metadata"]["name"] for e in bobs["items"]}
    assert bobs["totalItems"] == len(bobs["items"]) == alices["totalItems"] - 1
    facets = bob.get("/api/v1/entity-facets?facet=kind").get_json()["facets"]["kind"]
    assert {"value": "Component", "count": bobs["totalItems"]} in facets
    by_refs = bob.post("/api/v1/entities/by-refs", json={"entityRefs": ["component:default/pay-ledger"]})
    assert by_refs.get_json()["items"] == [None]
    assert "pay-ledger" not in bob.get("/catalog?kind=component").get_data(as_text=True)

    # relations of visible entities do not reveal it
    report = bob.get("/api/v1/entities/by-name/component/default/ledger-report").get_json()
    assert all("pay-ledger" not in r["targetRef"] for r in report["relations"])

    # graph: walked through, not shown, counted
    around = bob.get("/api/v1/graph/neighbourhood?ref=resource:default/pay-db&depth=2").get_json()
    assert "component:default/pay-ledger" not in {n["ref"] for n in around["nodes"]} and around["hidden"] == 1
    paths = bob.get("/api/v1/graph/paths?from=component:default/ledger-report&to=resource:default/pay-db").get_json()
    assert paths["paths"] == [] and paths["hidden_paths"] >= 1

    # exports: the ownership CSV lists what bob may see and says how much is missing
    rows = list(csv.reader(io.StringIO(bob.get("/api/v1/reports/ownership?format=csv").get_data(as_text=True))))
    assert not any("pay-ledger" in cell for row in rows for cell in row)
    assert rows[-1][0] == "hidden" and rows[-1][-1].startswith("1 entities you cannot see")
    full = alice.get("/api/v1/reports/ownership?format=csv").get_data(as_text=True)
    assert "component:default/pay-ledger" in full


def test_search_hides_restricted_entities_inside_the_query(app):
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    mine = bob.get("/api/v1/search?q=pay-ledger").get_json()
    theirs = alice.get("/api/v1/search?q=pay-ledger").get_json()
    assert theirs["items"][0]["ref"] == "component:default/pay-ledger"
    assert "component:default/pay-ledger" not in {i["ref"] for i in mine["items"]}
    assert mine["total"] == theirs["total"] - 1     # counts are honest, not filtered afterwards
    suggested = bob.get("/api/v1/search/suggest?q=pay-led").get_json()["items"]
    assert all("pay-ledger" not in str(s) for s in suggested)
    assert "/catalog/default/component/pay-ledger" not in bob.get("/search?q=pay-ledger").get_data(as_text=True)
    assert "/catalog/default/component/pay-ledger" in alice.get("/search?q=pay-ledger").get_data(as_text=True)


def test_impact_counts_what_it_cannot_show(app):
    bob, alice = signed_in(app, "bob"), signed_in(app, "alice")
    mine = bob.get("/api/v1/entities/by-name/resource/default/pay-db/impact").get_json()
    theirs = alice.get("/api/v1/entities/by-name/resource/default/pay-db/impact").get_json()
    assert theirs["hidden"] == 0 and "component:default/pay-ledger" in {i["ref"] for i in theirs["impacted"]}
    assert mine["hidden"] == 1 and mine["count"] == theirs["count"] - 1
    # ledger-report breaks through pay-ledger: bob sees it, with the hop he may not see masked
    report = next(i for i in mine["impacted"] if i["ref"] == "component:default/ledger-report")
    assert report["distance"] == 2 and report["path"][1] == "(an entity you cannot see)"
    page = bob.get("/catalog/default/resource/pay-db?tab=impact").get_data(as_text=True)
    assert "1 impacted entity you cannot see" in page
    exported = bob.get("/catalog/default/resource/pay-db/impact.csv").get_data(as_text=True)
    assert "pay-ledger" not in exported and "1 more impacted entities you cannot see" in exported


# ------------------------------------------------------------------------------------------ attacks

def test_csrf_without_token_is_refused_audited_and_changes_nothing(app, graph_module, secured):
    folder = secured[1].parent / "csrf-target"
    folder.mkdir(exist_ok=True)
    (folder / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: csrf-made}\nspec: {type: service, lifecycle: experimental, owner: x}\n")
    dana = signed_in(app, "dana", csrf=None)
    with dana.session_transaction() as session:
        session["csrf"] = "the-real-one"
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        response = dana.post("/api/v1/locations", json={"target": str(folder)}, headers=headers)
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "csrf_failed"
    form = dana.post("/admin/roles", data={"principal": "user:default/carol", "role": "admin"})
    assert form.status_code == 403
    assert signed_in(app, "dana").get("/api/v1/entities/by-name/component/default/csrf-made").status_code == 404
    assert "user:default/carol" not in {g["principal"] for g in signed_in(app, "dana").get("/api/v1/admin/roles").get_json()["items"]}
    assert events(graph_module, action="csrf", outcome="denied")


def test_tampered_session_cookie_is_anonymous_and_audited(app, graph_module):
    client = signed_in(app, "dana")
    assert client.get("/api/v1/audit").status_code == 200
    cookie = client.get_cookie("trellis_session")
    value = cookie.value
    tampered = value[:-3] + ("AAA" if value[-3:] != "AAA" else "BBB")
    client.set_cookie("trellis_session", tampered)
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/admin").status_code == 302
    assert events(graph_module, action="session_rejected")[0]["outcome"] == "denied"


def test_api_tokens_expired_revoked_wrong_scope_and_malformed(app, graph_module, secured):
    folder = secured[1].parent / "token-target"
    folder.mkdir(exist_ok=True)
    (folder / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: token-made}\nspec: {type: service, lifecycle: experimental, owner: x}\n")
    reader, _ = issue_token(graph_module, name="reader", owner="user:default/bob", kind="personal",
                            scopes=["catalog:read"])
    writer, record = issue_token(graph_module, name="writer", owner="user:default/bob", kind="personal",
                                 scopes=["catalog:write"])
    old, _ = issue_token(graph_module, name="old", owner="user:default/bob", kind="personal",
                         scopes=["catalog:write"], ttl_days=1, now=int(time.time() * 1000) - 2 * DAY_MS)
    revoked, revoked_record = issue_token(graph_module, name="gone", owner="user:default/bob", kind="personal",
                                          scopes=["catalog:write"])
    revoke_token(graph_module, revoked_record["token_id"])
    client = app.test_client()

    def call(token, method="get", url="/api/v1/entities", **kw):
        return getattr(client, method)(url, headers={"Authorization": f"Bearer {token}"}, **kw)

    assert call(reader).status_code == 200
    # a token never needs CSRF (no ambient authority); its scope and its owner's role still apply
    wrong_scope = call(reader, "post", "/api/v1/locations", json={"target": str(folder)})
    assert wrong_scope.status_code == 403 and "catalog:write" in wrong_scope.get_json()["error"]["message"]
    for token, reason in ((old, "expired"), (revoked, "revoked"), ("trl_" + "x" * 43, "unknown"),
                          ("not-a-token", "malformed")):
        response = call(token, "post", "/api/v1/locations", json={"target": str(folder)})
        assert response.status_code == 401 and reason in response.get_json()["error"]["message"], token
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert call(reader, url="/api/v1/entities/by-name/component/default/token-made").status_code == 404
    denied = [e["details"].get("reason") for e in events(graph_module, action="token_use", outcome="denied")]
    assert {"expired", "revoked", "unknown", "malformed"} <= set(denied)
    # the good writer token works (bob is an editor), and its use is audited
    assert call(writer, "post", "/api/v1/locations", json={"target": str(folder)}).status_code == 201
    used = events(graph_module, action="token_use", outcome="ok")
    assert any(e["details"].get("token") == record["token_id"] for e in used)
    # a token cannot do more than its owner: carol (viewer) with a write token still cannot ingest
    carols, _ = issue_token(graph_module, name="c", owner="user:default/carol", kind="personal",
                            scopes=["catalog:write"])
    assert call(carols, "post", "/api/v1/locations", json={"target": str(folder)}).status_code == 403


def test_a_location_defining_a_privileged_group_is_rejected(app, graph_module, secured):
    folder = secured[1].parent / "sneaky"
    folder.mkdir(exist_ok=True)
    (folder / "catalog-info.yaml").write_text(textwrap.dedent("""\
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: admins}
        spec: {type: team, children: [], members: [bob]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: innocent}
        spec: {type: service, lifecycle: experimental, owner: search-team}
        """))
    bob = signed_in(app, "bob")
    response = bob.post("/api/v1/locations", json={"target": str(folder)})
    assert response.status_code == 201
    rejected = response.get_json()["rejected"]
    assert [(r["ref"], r["field"]) for r in rejected] == [("group:default/admins", "kind")]
    assert "catalog rules" in rejected[0]["reason"]
    assert signed_in(app, "dana").get("/api/v1/entities/by-name/group/default/admins").status_code == 404
    assert bob.get("/api/v1/entities/by-name/component/default/innocent").status_code == 200
    assert bob.get("/api/v1/audit").status_code == 403   # still not an admin


def test_role_grants_on_the_admin_page_take_effect_and_are_audited(app, graph_module):
    dana, carol = signed_in(app, "dana"), signed_in(app, "carol")
    assert carol.get("/register").status_code == 403
    page = dana.post("/admin/roles", data={"principal": "user:default/carol", "role": "editor"})
    assert page.status_code == 303
    assert carol.get("/register").status_code == 200
    assert events(graph_module, action="grant_role")[0]["target"] == "user:default/carol"
    assert dana.delete("/api/v1/admin/roles?principal=user:default/carol").status_code == 204
    assert carol.get("/register").status_code == 403
    bad = dana.post("/api/v1/admin/roles", json={"principal": "root", "role": "admin"})
    assert bad.status_code == 400


def test_disabled_account_loses_its_session(app, graph_module):
    from app.auth import accounts
    from app.auth import session as auth_session

    carol = signed_in(app, "carol")
    assert carol.get("/api/v1/entities").status_code == 200
    accounts.disable_user(graph_module, "carol")
    auth_session._accounts.clear()
    try:
        assert carol.get("/api/v1/entities").status_code == 401
    finally:
        accounts.enable_user(graph_module, "carol")
        auth_session._accounts.clear()


def test_personal_tokens_are_shown_once_and_revocable(app, graph_module):
    bob = signed_in(app, "bob")
    page = bob.post("/settings/tokens", data={"name": "laptop", "scopes": ["catalog:read"], "ttl_days": "30"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Copy your new token now" in html
    token = html.split('class="token-value">')[1].split("<")[0]
    assert token.startswith("trl_")
    listing = bob.get("/settings/tokens").get_data(as_text=True)
    assert "laptop" in listing and token not in listing
    client = app.test_client()
    assert client.get("/api/v1/entities", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    token_id = token[4:16]
    assert bob.post(f"/settings/tokens/{token_id}/revoke").status_code == 303
    assert client.get("/api/v1/entities", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # only admins may mint admin-scoped tokens
    assert bob.post("/settings/tokens", data={"name": "x", "scopes": ["admin"]}).status_code == 403


# ------------------------------------------------------------------------------------------ configuration

def test_guest_mode_is_refused_in_production(neo4j_uri):
    with pytest.raises(ConfigError, match="only allowed with TRELLIS_ENV=development"):
        create_app({"NEO4J_URI": neo4j_uri, "TRELLIS_ENV": "production", "TRELLIS_GUEST_ROLE": "viewer",
                    "SECRET_KEY": SECRET})
    with pytest.raises(ConfigError, match="TRELLIS_SECRET_KEY"):
        create_app({"NEO4J_URI": neo4j_uri, "TRELLIS_ENV": "production"})
    with pytest.raises(ConfigError, match="not a role"):
        create_app({"NEO4J_URI": neo4j_uri, "TRELLIS_ENV": "development", "TRELLIS_ROLES": {"user:x": "god"}})


def test_production_cookies_and_security_headers(neo4j_uri):
    app = create_app({"NEO4J_URI": neo4j_uri, "TRELLIS_ENV": "production", "SECRET_KEY": SECRET})
    try:
        client = app.test_client()
        response = client.get("/auth/login")
        cookie = response.headers.get("Set-Cookie", "")
        assert cookie.startswith("__Host-trellis=") and "Secure" in cookie and "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert client.get("/catalog").status_code == 302
    finally:
        app.extensions["trellis.graph"].close()


def test_cli_with_a_token_sees_what_the_portal_shows_its_owner(app, graph_module):
    import json

    from click.testing import CliRunner

    from app.cli import main

    with LiveServer(app) as server:
        token, _ = issue_token(graph_module, name="cli", owner="user:default/bob", kind="personal",
                               scopes=["catalog:read", "reports:read"])
        env = {"TRELLIS_URL": server.url, "TRELLIS_TOKEN": token}
        runner = CliRunner()
        result = runner.invoke(main, ["impact", "resource:default/pay-db", "--json"], env=env)
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        assert answer["hidden"] == 1 and "component:default/pay-ledger" not in {i["ref"] for i in answer["impacted"]}
        text = runner.invoke(main, ["impact", "resource:default/pay-db"], env=env).output
        assert "1 you cannot see" in text
        csv_out = runner.invoke(main, ["report", "ownership", "--format", "csv"], env=env).output
        assert "pay-ledger" not in csv_out and csv_out.strip().splitlines()[-1].startswith("hidden")
        report_text = runner.invoke(main, ["report", "ownership"], env=env).output
        assert "pay-ledger" not in report_text and "you cannot see" in report_text
        bad = runner.invoke(main, ["impact", "resource:default/pay-db"], env={**env, "TRELLIS_TOKEN": "trl_" + "y" * 43})
        assert bad.exit_code == 1 and "401 from the portal: API token rejected: unknown" in bad.output


def test_catalog_rules_per_location(app):
    from app.locations import catalog_rules

    rules = [{"allow": ["Component", "API"]}, {"allow": ["Group", "User"], "target": "/srv/org/*"}]
    ruled = create_app({"TRELLIS_ENV": "development", "SECRET_KEY": "s" * 32, "TRELLIS_CATALOG_RULES": rules,
                        "NEO4J_URI": app.config["NEO4J_URI"]})
    with ruled.test_request_context():
        assert catalog_rules("/srv/org/people") == ["Group", "User"]
        assert catalog_rules("/srv/teams/pay") == ["API", "Component"]
        assert catalog_rules() == ["API", "Component"]
    ruled.extensions["trellis.graph"].close()
    with pytest.raises(ConfigError, match="catalog_rules"):
        create_app({"TRELLIS_ENV": "development", "TRELLIS_CATALOG_RULES": [{"allow": ["Group"], "where": "x"}]})
