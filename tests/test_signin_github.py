"""GitHub OAuth sign-in against recorded GitHub responses (tests/fixtures/github_oauth) served by a real local
HTTP server that checks requests the way GitHub documents them: client credentials in the token request body,
single-use codes bound to the redirect URI and the PKCE challenge, bearer token on /user and /user/emails."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.support.http_server import LocalHTTPServer
from tests.test_signin_support import events, load_users, make_app, signed_in_as

FIXTURES = Path(__file__).parent / "fixtures" / "github_oauth"
CLIENT_ID = "Iv1.8a61f9b3a7aba766"
CLIENT_SECRET = "github-test-client-secret"


class FakeGitHub(LocalHTTPServer):
    """github.com's OAuth endpoints and the REST API (GHES layout: /api/v3/) on 127.0.0.1:<free port>.

    Several GitHub accounts: `add_account` makes one (octocat, from the fixtures, is there from the start);
    `acting` is whoever clicks "Authorize" next. Each account's token answers /user, /user/emails and the
    membership endpoints (`orgs` and `teams` of that account, e.g. {"acme": "active"}, {"acme/platform": "active"}).
    """

    def __init__(self) -> None:
        self.codes: dict[str, dict] = {}
        octocat_token = json.loads((FIXTURES / "access_token.json").read_text())["access_token"]
        self.accounts: dict[str, dict] = {"octocat": {
            "user": json.loads((FIXTURES / "user.json").read_text()),
            "emails": json.loads((FIXTURES / "emails.json").read_text()),
            "token": octocat_token, "orgs": {}, "teams": {}}}
        self.tokens: dict[str, str] = {octocat_token: "octocat"}
        self.acting = "octocat"
        self.token_requests: list[dict] = []
        self.api_requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # quiet
                pass

            def _json(self, status: int, name_or_body, headers: dict | None = None) -> None:
                body = (FIXTURES / name_or_body).read_bytes() if isinstance(name_or_body, str) \
                    else json.dumps(name_or_body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/login/oauth/authorize":
                    return fake.authorize(self, query)
                if url.path.startswith("/api/v3/"):
                    fake.api_requests.append((url.path, self.headers.get("Authorization", "")))
                    auth = self.headers.get("Authorization", "")
                    scheme, _, token = auth.partition(" ")
                    if scheme.lower() not in ("bearer", "token") or token not in fake.tokens:
                        return self._json(401, "requires_authentication.json")
                    status, body = fake.api(fake.accounts[fake.tokens[token]], url.path[len("/api/v3"):])
                    return self._json(status, body)
                self._json(404, {"message": "Not Found"})

            def do_POST(self):
                if urlsplit(self.path).path != "/login/oauth/access_token":
                    return self._json(404, {"message": "Not Found"})
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.token_requests.append({"form": form, "accept": self.headers.get("Accept", ""),
                                            "authorization": self.headers.get("Authorization")})
                self._json(200, fake.redeem(form))

        self._serve(Handler)
        self.base = self.base_url

    def add_account(self, login: str, user_id: int, *, name: str | None = None, emails: list[dict] | None = None,
                    orgs: dict | None = None, teams: dict | None = None) -> None:
        """Another GitHub account (a /user answer in the fixture's shape with this login and id)."""
        user = json.loads((FIXTURES / "user.json").read_text())
        user.update(login=login, id=user_id, name=name, email=None, node_id=f"U_{user_id}",
                    url=f"https://api.github.com/users/{login}", html_url=f"https://github.com/{login}")
        token = "gho_" + secrets.token_hex(18)
        self.accounts[login] = {"user": user, "emails": emails or [], "token": token,
                                "orgs": orgs or {}, "teams": teams or {}}
        self.tokens[token] = login

    def api(self, account: dict, path: str):
        """The REST answer for one account: (status, fixture name or body)."""
        login = account["user"]["login"]
        if path == "/user":
            return 200, account["user"]
        if path == "/user/emails":
            return 200, account["emails"]
        parts = path.strip("/").split("/")
        if parts[:3] == ["user", "memberships", "orgs"] and len(parts) == 4:
            state = account["orgs"].get(parts[3].lower())
            if state is None:
                return 404, "not_found.json"
            body = json.loads((FIXTURES / "org_membership.json").read_text())
            body["state"] = state
            body["organization"]["login"] = parts[3]
            body["user"].update(login=login, id=account["user"]["id"])
            return 200, body
        if parts[0] == "orgs" and len(parts) == 6 and parts[2] == "teams" and parts[4] == "memberships":
            state = account["teams"].get(f"{parts[1]}/{parts[3]}".lower())
            if state is None or parts[5].lower() != login.lower():
                return 404, "not_found.json"
            body = json.loads((FIXTURES / "team_membership.json").read_text())
            body["state"] = state
            return 200, body
        return 404, "not_found.json"

    def authorize(self, handler, query: dict) -> None:
        """The user clicked "Authorize": redirect back with a fresh code and the unchanged state."""
        if query.get("client_id") != CLIENT_ID or not query.get("redirect_uri"):
            return handler._json(400, {"message": "unknown client_id or missing redirect_uri"})
        code = secrets.token_hex(10)
        self.codes[code] = {"redirect_uri": query["redirect_uri"], "challenge": query.get("code_challenge"),
                            "method": query.get("code_challenge_method"), "scope": query.get("scope"),
                            "login": self.acting}
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        handler.send_response(302)
        handler.send_header("Location", query["redirect_uri"] + "?" + urlencode(params))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def redeem(self, form: dict):
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return "incorrect_client_credentials.json"
        issued = self.codes.pop(form.get("code", ""), None)          # single use
        if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
            return "bad_verification_code.json"
        if issued["challenge"]:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if issued["method"] != "S256" or digest != issued["challenge"]:
                return "bad_verification_code.json"
        if issued["login"] == "octocat":
            return "access_token.json"
        return {"access_token": self.accounts[issued["login"]]["token"], "scope": issued["scope"] or "",
                "token_type": "bearer"}



@pytest.fixture(scope="module")
def github():
    with FakeGitHub() as fake:
        yield fake


def github_auth(github: FakeGitHub, **extra) -> dict:
    return {"local": True, "github": {
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "authorize_url": f"{github.base}/login/oauth/authorize",
        "token_url": f"{github.base}/login/oauth/access_token", "api_url": f"{github.base}/api/v3/"}, **extra}


@pytest.fixture
def app(graph, neo4j_uri, tmp_path, github):
    load_users(graph, tmp_path)
    application = make_app(neo4j_uri, github_auth(github))
    yield application
    application.extensions["trellis.graph"].close()


def start(client, next_url: str = "/catalog") -> str:
    """Click "Sign in with GitHub": returns GitHub's authorize URL the portal redirected to."""
    page = client.get(f"/auth/login?next={next_url}").get_data(as_text=True)
    assert "Sign in with GitHub" in page
    resp = client.get(f"/auth/github/start?next={next_url}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"]


def approve(authorize_url: str) -> str:
    """The user approves at GitHub: returns the callback path + query GitHub redirects the browser to."""
    resp = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/auth/github/callback"
    return f"{location.path}?{location.query}"


def whoami(client) -> str | None:
    return signed_in_as(client.get("/auth/login").get_data(as_text=True))


def test_full_flow_signs_in_resolved_by_the_github_login_annotation(app, graph, github):
    client = app.test_client()
    authorize_url = start(client)
    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{github.base}/login/oauth/authorize?")
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == ["read:user user:email"]
    assert query["redirect_uri"] == ["http://localhost/auth/github/callback"]
    assert query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 20

    before = len(github.token_requests)
    resp = client.get(approve(authorize_url))
    assert resp.status_code == 303 and resp.headers["Location"] == "/catalog"
    assert whoami(client) == "monalisa octocat"
    assert "user:default/carol" in client.get("/auth/login").get_data(as_text=True)

    (token_request,) = github.token_requests[before:]
    assert token_request["form"]["client_secret"] == CLIENT_SECRET     # in the body, as GitHub documents
    assert "code_verifier" in token_request["form"] and "application/json" in token_request["accept"]
    assert [path for path, _ in github.api_requests[-2:]] == ["/api/v3/user", "/api/v3/user/emails"]

    event = events(graph)[-1]
    assert (event["outcome"], event["actor"], event["target"]) == ("ok", "github:1", "user:default/carol")
    assert event["details"]["resolver"] == "annotation:github.com/user-login"
    assert event["details"]["username"] == "octocat"


def test_only_verified_emails_are_used_to_resolve(graph, neo4j_uri, tmp_path, github):
    """emails.json lists octocat-old@example.org unverified: a catalog user with that email must not match."""
    load_users(graph, tmp_path)
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: impostor}\n"
        "spec: {profile: {email: octocat-old@example.org}, memberOf: []}\n")
    from ingest.sync import ingest

    ingest(graph, str(tmp_path / "more"))
    app = make_app(neo4j_uri, github_auth(github, resolvers=["email"]))
    try:
        client = app.test_client()
        refused = client.get(approve(start(client)))
        assert refused.status_code == 403 and "impostor" not in refused.get_data(as_text=True)
        assert signed_in_as(client.get("/auth/login").get_data(as_text=True)) is None   # no access
        event = events(graph)[-1]
        assert event.get("target") is None and event["details"]["resolvers"] == ["email: no catalog user"]
    finally:
        app.extensions["trellis.graph"].close()


def test_forged_state_is_denied_audited_and_never_redeemed(app, graph, github):
    client = app.test_client()
    callback = approve(start(client))
    forged = callback.replace("state=", "state=forged")
    before = len(github.token_requests)
    resp = client.get(forged)
    assert resp.status_code == 400
    assert "does not belong to a sign-in started in this browser" in resp.get_data(as_text=True)
    assert len(github.token_requests) == before          # the code was never even sent to GitHub
    assert whoami(client) is None
    event = events(graph)[-1]
    assert event["outcome"] == "denied" and event["details"]["reason"] == "state_mismatch"


def test_replayed_callback_is_denied(app, graph):
    client = app.test_client()
    callback = approve(start(client))
    assert client.get(callback).status_code == 303
    # replayed in the same browser (state already used) and in an attacker's browser (state never issued)
    for browser in (client, app.test_client()):
        resp = browser.get(callback)
        assert resp.status_code == 400
    assert whoami(app.test_client()) is None
    # both are counted in one event (same address, same minute): forged callbacks cannot flood the log
    replays = [e for e in events(graph) if e["details"].get("reason") == "state_mismatch"]
    assert sum(e.get("count") or 1 for e in replays) == 2


def test_a_code_github_rejects_is_a_failed_sign_in(app, graph, github):
    client = app.test_client()
    callback = approve(start(client))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    github.codes.pop(code)                               # expired at GitHub
    resp = client.get(callback)
    assert resp.status_code == 400
    assert "refused to complete the sign-in (bad_verification_code)" in resp.get_data(as_text=True)
    assert whoami(client) is None
    event = events(graph)[-1]
    assert event["outcome"] == "failed" and event["details"]["reason"] == "token_error:bad_verification_code"


def test_user_who_cancels_at_github(app, graph):
    client = app.test_client()
    start(client)
    resp = client.get("/auth/github/callback?error=access_denied&error_description=The+user+has+denied+your"
                      "+application+access.&state=x")
    assert resp.status_code == 403
    assert "The user has denied your application access." in resp.get_data(as_text=True)
    assert events(graph)[-1]["details"]["reason"] == "provider_error:access_denied"


def test_wrong_client_secret_is_a_clear_failure(graph, neo4j_uri, tmp_path, github):
    auth = github_auth(github)
    auth["github"]["client_secret"] = "not-the-secret"
    app = make_app(neo4j_uri, auth)
    try:
        client = app.test_client()
        resp = client.get(approve(start(client)))
        assert resp.status_code == 400 and "incorrect_client_credentials" in resp.get_data(as_text=True)
        assert events(graph)[-1]["details"]["reason"] == "token_error:incorrect_client_credentials"
    finally:
        app.extensions["trellis.graph"].close()


def test_require_catalog_user_refuses_an_unknown_github_login(graph, neo4j_uri, github):
    app = make_app(neo4j_uri, github_auth(github))   # empty catalog; the default: unknown signers get no access
    try:
        client = app.test_client()
        page = client.get("/auth/login").get_data(as_text=True)
        assert "an account that is not bound to a User in the catalog gets no access" in page
        resp = client.get(approve(start(client)))
        assert resp.status_code == 403
        html = resp.get_data(as_text=True)
        assert "No catalog user for this sign-in" in html and "octocat via GitHub" in html
        assert "Your GitHub account id is 1; an administrator can bind it" in html
        assert whoami(client) is None
        event = events(graph)[-1]
        assert event["outcome"] == "denied" and event["details"]["reason"] == "no_catalog_user"
        assert event["actor"] == "github:1"
    finally:
        app.extensions["trellis.graph"].close()


def test_github_down_gives_a_clear_page(graph, neo4j_uri, tmp_path):
    from servers.base import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    app = make_app(neo4j_uri, {"github": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                          "authorize_url": f"{dead}/login/oauth/authorize",
                                          "token_url": f"{dead}/login/oauth/access_token",
                                          "api_url": f"{dead}/api/v3/"}})
    try:
        client = app.test_client()
        authorize_url = start(client)
        state = parse_qs(urlsplit(authorize_url).query)["state"][0]
        resp = client.get(f"/auth/github/callback?code=abc&state={state}")
        assert resp.status_code == 502 and "could not be reached" in resp.get_data(as_text=True)
        assert events(graph)[-1]["details"]["reason"] == "provider_unreachable"
    finally:
        app.extensions["trellis.graph"].close()


def test_only_members_of_an_allowed_organisation_or_team_get_in(graph, neo4j_uri, tmp_path, github):
    """GitHub proves who someone is, not that they belong here: with an allow-list, membership is asked of
    GitHub with the person's own token (read:org), and everybody else is refused before any lookup."""
    load_users(graph, tmp_path)
    github.add_account("alice-gh", 8001, name="Alice", orgs={"acme": "active"})
    github.add_account("pending-gh", 8002, name="Pending", orgs={"acme": "pending"})
    github.add_account("team-gh", 8003, name="Teamer", teams={"acme/platform": "active"})
    github.add_account("outsider", 8004, name="Outsider")
    auth = github_auth(github)
    auth["github"].update(allowed_organizations=["acme"], allowed_teams=["acme/platform"])
    auth["require_catalog_user"] = False       # allowed: the allow-list stands in front of the default role
    app = make_app(neo4j_uri, auth)
    try:
        page = app.test_client().get("/auth/login").get_data(as_text=True)
        assert "GitHub sign-in is open to members of acme, acme/platform only" in page
        outcomes = {}
        for login in ("alice-gh", "pending-gh", "team-gh", "outsider"):
            github.acting = login
            client = app.test_client()
            authorize = start(client)
            assert "read%3Aorg" in authorize or "read:org" in authorize
            outcomes[login] = (client.get(approve(authorize)).status_code, whoami(client))
        assert outcomes == {"alice-gh": (303, "Alice"), "pending-gh": (403, None), "team-gh": (303, "Teamer"),
                            "outsider": (403, None)}
        refusal = events(graph)[-1]
        assert refusal["outcome"] == "denied" and refusal["details"]["reason"] == "not_allowed"
        assert refusal["actor"] == "github:8004" and "acme" in refusal["details"]["detail"]
    finally:
        github.acting = "octocat"
        app.extensions["trellis.graph"].close()
