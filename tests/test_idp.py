"""The test identity provider (tests/idp) is a working OpenID Provider - no Trellis app involved.

Drives the authorization-code flow the way a browser + relying party would: GET the
authorization endpoint, fill in the real HTML login form, read the code from the redirect
(``allow_redirects=False``: nothing listens on the redirect_uri), redeem it at the token
endpoint, verify the ID token against the JWKS, call userinfo, log out.

JWT checks use joserfc, the JOSE library authlib itself is built on (``authlib.jose`` is
deprecated since authlib 1.7 and warns on import).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.provider import Provider, browser_session

pytest_plugins = ["tests.idp.fixtures"]  # idempotent with the same line in tests/conftest.py

REDIRECT_URI = "http://127.0.0.1:8765/auth/callback"  # nothing listens here; we read Location


# --------------------------------------------------------------------------- helpers


class _LoginFormParser(HTMLParser):
    """Finds the form that contains a password field: its action and its input fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}, "types": set()}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            self._current["fields"][a["name"]] = a.get("value", "")
            self._current["types"].add(a.get("type", "text"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def login_form(html: str, page_url: str) -> tuple[str, dict[str, str]]:
    parser = _LoginFormParser()
    parser.feed(html)
    forms = [f for f in parser.forms if "password" in f["types"]]
    assert forms, f"no login form with a password field in:\n{html[:2000]}"
    form = forms[0]
    assert form["method"].lower() == "post"
    return urljoin(page_url, form["action"]), dict(form["fields"])


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class AuthRequest:
    state: str
    nonce: str
    verifier: str
    challenge: str


def new_auth_request() -> AuthRequest:
    verifier, challenge = pkce_pair()
    return AuthRequest(secrets.token_urlsafe(16), secrets.token_urlsafe(16), verifier, challenge)


def authorize(provider: Provider, meta: dict, browser: requests.Session, req: AuthRequest,
              username: str, password: str) -> requests.Response:
    """GET the authorization endpoint, submit the login form; return the (unfollowed) response."""
    page = browser.get(meta["authorization_endpoint"], params={
        "client_id": provider.client_id,
        "response_type": "code",
        "scope": "openid email profile",
        "redirect_uri": REDIRECT_URI,
        "state": req.state,
        "nonce": req.nonce,
        "code_challenge": req.challenge,
        "code_challenge_method": "S256",
    }, timeout=30)
    assert page.status_code == 200, page.text[:500]
    action, fields = login_form(page.text, page.url)
    fields.update(username=username, password=password)
    return browser.post(action, data=fields, allow_redirects=False, timeout=30)


def code_from(resp: requests.Response, req: AuthRequest) -> str:
    assert resp.status_code in (302, 303), f"expected a redirect, got {resp.status_code}: {resp.text[:500]}"
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [req.state]  # state round-tripped
    assert "error" not in query, query
    return query["code"][0]


def redeem(provider: Provider, meta: dict, code: str, verifier: str, *, auth: str = "basic") -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    kwargs: dict = {}
    if auth == "basic":  # client_secret_basic
        kwargs["auth"] = (provider.client_id, provider.client_secret)
    else:  # client_secret_post
        data.update(client_id=provider.client_id, client_secret=provider.client_secret)
    return requests.post(meta["token_endpoint"], data=data, timeout=30, **kwargs)


def verify_id_token(provider: Provider, meta: dict, id_token: str, nonce: str) -> dict:
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=30).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])  # raises on a bad signature
    assert token.header["alg"] == "RS256"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(token.claims)  # also checks exp/iat/nbf against the clock
    return token.claims


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def meta(oidc_provider: Provider) -> dict:
    return requests.get(oidc_provider.discovery_url, timeout=30).json()


@pytest.fixture
def browser() -> requests.Session:
    """A fresh cookie jar = a fresh user agent with no SSO session (browser cookie rules)."""
    with browser_session() as s:
        yield s


# --------------------------------------------------------------------------- tests


def test_discovery_document(oidc_provider: Provider, meta: dict) -> None:
    assert meta["issuer"] == oidc_provider.issuer
    assert oidc_provider.discovery_url == oidc_provider.issuer + "/.well-known/openid-configuration"
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"):
        assert meta[key].startswith("http://127.0.0.1:"), (key, meta[key])
    assert "code" in meta["response_types_supported"]
    assert "S256" in meta["code_challenge_methods_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    jwks = requests.get(meta["jwks_uri"], timeout=30).json()
    assert any(k["kty"] == "RSA" and k.get("alg") == "RS256" for k in jwks["keys"])


def test_authorization_code_flow(oidc_provider: Provider, meta: dict, browser: requests.Session) -> None:
    alice = oidc_provider.users["alice"]
    req = new_auth_request()
    code = code_from(authorize(oidc_provider, meta, browser, req, alice.username, alice.password), req)

    resp = redeem(oidc_provider, meta, code, req.verifier, auth="basic")
    assert resp.status_code == 200, resp.text
    tokens = resp.json()
    assert tokens["token_type"].lower() == "bearer"
    assert 0 < tokens["expires_in"] <= 3600  # tokens expire

    claims = verify_id_token(oidc_provider, meta, tokens["id_token"], req.nonce)
    now = time.time()
    assert claims["iat"] - 60 <= now < claims["exp"] <= now + 3600
    assert claims["azp"] == oidc_provider.client_id
    assert claims["email"] == alice.email == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["preferred_username"] == "alice"
    assert claims["given_name"] == alice.given_name and claims["family_name"] == alice.family_name
    assert set(claims["groups"]) == set(alice.groups) == {"platform-team", "developers"}

    info = requests.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=30)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["email"] == "alice@example.com"
    assert info.json()["name"] == alice.name

    # RP-initiated logout ends the SSO session: the next authorize shows the login form again.
    logout = browser.get(meta["end_session_endpoint"], params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": REDIRECT_URI, "state": "bye",
    }, allow_redirects=False, timeout=30)
    assert logout.status_code in (302, 303), logout.text[:500]
    assert logout.headers["Location"].startswith(REDIRECT_URI)
    assert parse_qs(urlsplit(logout.headers["Location"]).query)["state"] == ["bye"]
    again = browser.get(meta["authorization_endpoint"], params={
        "client_id": oidc_provider.client_id, "response_type": "code", "scope": "openid",
        "redirect_uri": REDIRECT_URI, "state": "s2",
    }, allow_redirects=False, timeout=30)
    assert again.status_code == 200 and 'type="password"' in again.text


def test_client_secret_post_and_second_user(oidc_provider: Provider, meta: dict, browser: requests.Session) -> None:
    bob = oidc_provider.users["bob"]
    req = new_auth_request()
    code = code_from(authorize(oidc_provider, meta, browser, req, bob.username, bob.password), req)
    resp = redeem(oidc_provider, meta, code, req.verifier, auth="post")
    assert resp.status_code == 200, resp.text
    claims = verify_id_token(oidc_provider, meta, resp.json()["id_token"], req.nonce)
    assert claims["email"] == "bob@example.com"
    assert claims["groups"] == ["developers"]


def test_wrong_password_yields_no_code(oidc_provider: Provider, meta: dict, browser: requests.Session) -> None:
    req = new_auth_request()
    resp = authorize(oidc_provider, meta, browser, req, "alice", "not-alices-password")
    assert resp.status_code == 200  # the login form again, with an error; no redirect, no code
    assert "Location" not in resp.headers
    assert "Invalid username or password" in resp.text

    # The re-rendered form is a real retry form: the right password on it does yield a code.
    action, fields = login_form(resp.text, resp.url)
    fields.update(username="alice", password=oidc_provider.users["alice"].password)
    code_from(browser.post(action, data=fields, allow_redirects=False, timeout=30), req)


def test_code_is_single_use(oidc_provider: Provider, meta: dict, browser: requests.Session) -> None:
    alice = oidc_provider.users["alice"]
    req = new_auth_request()
    code = code_from(authorize(oidc_provider, meta, browser, req, alice.username, alice.password), req)
    assert redeem(oidc_provider, meta, code, req.verifier).status_code == 200
    reused = redeem(oidc_provider, meta, code, req.verifier)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_pkce_verifier_and_client_secret_are_enforced(oidc_provider: Provider, meta: dict, browser: requests.Session) -> None:
    alice = oidc_provider.users["alice"]
    req = new_auth_request()
    code = code_from(authorize(oidc_provider, meta, browser, req, alice.username, alice.password), req)
    wrong_verifier, _ = pkce_pair()
    bad = redeem(oidc_provider, meta, code, wrong_verifier)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"

    req2 = new_auth_request()  # still signed in (SSO): authorize redirects straight back with a code
    page = browser.get(meta["authorization_endpoint"], params={
        "client_id": oidc_provider.client_id, "response_type": "code", "scope": "openid",
        "redirect_uri": REDIRECT_URI, "state": req2.state, "nonce": req2.nonce,
        "code_challenge": req2.challenge, "code_challenge_method": "S256",
    }, allow_redirects=False, timeout=30)
    code2 = code_from(page, req2)
    wrong_secret = requests.post(meta["token_endpoint"], data={
        "grant_type": "authorization_code", "code": code2, "redirect_uri": REDIRECT_URI, "code_verifier": req2.verifier,
    }, auth=(oidc_provider.client_id, "wrong-secret"), timeout=30)
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "unauthorized_client"


def test_unregistered_redirect_uri_is_refused(oidc_provider: Provider, meta: dict, browser: requests.Session) -> None:
    resp = browser.get(meta["authorization_endpoint"], params={
        "client_id": oidc_provider.client_id, "response_type": "code", "scope": "openid",
        "redirect_uri": "https://evil.example/cb", "state": "x",
    }, allow_redirects=False, timeout=30)
    assert resp.status_code == 400
    assert "Location" not in resp.headers
