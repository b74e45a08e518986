"""Sign-in flows: local accounts, a generic OIDC provider and GitHub OAuth, and sign-out.

Why here and not in views elsewhere: every way in ends the same way (admit by the provider's allow-list,
resolve the identity to a catalog User by binding or a resolver of that provider, remember the binding,
refuse unknown signers, `start_session`, audit), so the flows share one finish. authlib does the protocol work:
state (bound to the session, cleared on first use, so a callback cannot be replayed), nonce (checked in the
ID token), PKCE (S256), ID token signature/issuer/audience/expiry. Call `init_signin(app)` once per app: it
validates `app.config["TRELLIS_AUTH"]` (clear errors at start, not at the first sign-in) and registers the
`auth` blueprint under /auth. Every route here is `access.public` (they are how people get in).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (Blueprint, Flask, Response, current_app, g, redirect, render_template, request, session,
                   url_for)
from joserfc.errors import JoseError

from app.auth import access, accounts, resolvers, throttle
from app.auth.access import public
from app.auth.admission import AdmissionUnavailable, GithubAdmission, OidcAdmission
from app.auth.audit import audit, audit_failure
from app.auth.principal import Principal, current_principal, end_session, start_session
from app.graph_access import get_graph
from graph import bindings
from graph import accounts as account_store
from graph import identity as identity_store

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

EXTENSION = "trellis.signin"
NEXT_KEY = "trellis_signin_next"
ID_TOKEN_KEY = "trellis_oidc_id_token"
# The session lives in a cookie (4 KB at most in browsers): a bigger ID token (many group claims) is not kept,
# and sign-out at the provider then goes without id_token_hint (client_id only; the provider may ask to confirm).
ID_TOKEN_MAX = 2000
GITHUB_DEFAULTS = {
    "authorize_url": "https://github.com/login/oauth/authorize",
    "token_url": "https://github.com/login/oauth/access_token",
    "api_url": "https://api.github.com/",
}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SigninConfigError(ValueError):
    """`auth:` configuration the app cannot start with (the message names the key)."""


# ------------------------------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class OidcSettings:
    name: str
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    admission: OidcAdmission = OidcAdmission()


@dataclass(frozen=True)
class GithubSettings:
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_url: str
    scopes: tuple[str, ...]
    admission: GithubAdmission = GithubAdmission()


@dataclass(frozen=True)
class SigninSettings:
    local: bool
    oidc: OidcSettings | None
    github: GithubSettings | None
    resolvers: tuple[resolvers.Resolver, ...]
    require_catalog_user: bool | None     # None: OIDC/GitHub sign-ins need one, local accounts do not
    limits: throttle.Limits

    def requires_catalog_user(self, provider: str) -> bool:
        """Whether a sign-in through `provider` that matches no catalog user is refused ("no access")."""
        if self.require_catalog_user is None:
            return provider != "local"
        return self.require_catalog_user


def _secret(section: dict, name: str, env: dict) -> str:
    """A client secret from $TRELLIS_SECRET_<NAME>_CLIENT_SECRET, its `_FILE` variant, or the config value."""
    var = f"TRELLIS_SECRET_{name.upper()}_CLIENT_SECRET"
    if env.get(var):
        return env[var]
    if env.get(var + "_FILE"):
        try:
            value = Path(env[var + "_FILE"]).read_text().strip()
        except OSError as exc:
            raise SigninConfigError(f"{var}_FILE: cannot read {env[var + '_FILE']}: {exc.strerror}") from exc
        if not value:
            raise SigninConfigError(f"{var}_FILE: {env[var + '_FILE']} is empty")
        return value
    value = section.get("client_secret")
    if not isinstance(value, str) or not value:
        raise SigninConfigError(f"auth.{name}.client_secret is missing (or set {var} / {var}_FILE)")
    return value


def _url(section: dict, key: str, where: str, default: str | None = None) -> str:
    """An absolute http(s) URL; plain http only towards this machine (tests, a local IdP)."""
    value = section.get(key, default)
    if not isinstance(value, str) or not value:
        raise SigninConfigError(f"auth.{where}.{key} is missing")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SigninConfigError(f"auth.{where}.{key} must be an absolute http(s) URL, got {value!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise SigninConfigError(f"auth.{where}.{key} must use https (plain http only for 127.0.0.1/localhost)")
    return value


def _text(section: dict, key: str, where: str, default: str | None = None) -> str:
    value = section.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise SigninConfigError(f"auth.{where}.{key} is missing")
    return value.strip()


def _scopes(section: dict, where: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = section.get("scopes", default)
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) and s for s in value):
        raise SigninConfigError(f"auth.{where}.scopes must be a list of scope names")
    return tuple(value)


def _section(raw: dict, key: str) -> dict | None:
    value = raw.get(key)
    if value is None or value is False:
        return None
    if not isinstance(value, dict):
        raise SigninConfigError(f"auth.{key} must be a mapping")
    return value


def load_settings(raw: object, env: dict | None = None) -> SigninSettings:
    """Validate the `auth:` section (pure: the env is passed in); SigninConfigError names what is wrong."""
    env = dict(os.environ) if env is None else env
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SigninConfigError("auth must be a mapping")
    local = raw.get("local", True)
    if not isinstance(local, bool):
        raise SigninConfigError("auth.local must be true or false")

    oidc = None
    section = _section(raw, "oidc")
    if section is not None:
        scopes = _scopes(section, "oidc", ("openid", "email", "profile"))
        if "openid" not in scopes:
            raise SigninConfigError("auth.oidc.scopes must include 'openid' (the ID token is what is verified)")
        try:
            admission = OidcAdmission.from_config(section)
        except ValueError as exc:
            raise SigninConfigError(str(exc)) from exc
        oidc = OidcSettings(
            name=_text(section, "name", "oidc", "single sign-on"),
            discovery_url=_url(section, "discovery_url", "oidc"),
            client_id=_text(section, "client_id", "oidc"),
            client_secret=_secret(section, "oidc", env),
            scopes=scopes,
            admission=admission,
        )

    github = None
    section = _section(raw, "github")
    if section is not None:
        try:
            gh_admission = GithubAdmission.from_config(section)
        except ValueError as exc:
            raise SigninConfigError(str(exc)) from exc
        default_scopes = ("read:user", "user:email") + (("read:org",) if gh_admission.configured else ())
        gh_scopes = _scopes(section, "github", default_scopes)
        if gh_admission.configured and "read:org" not in gh_scopes:
            raise SigninConfigError("auth.github.scopes must include 'read:org' to check allowed_organizations "
                                    "and allowed_teams")
        github = GithubSettings(
            client_id=_text(section, "client_id", "github"),
            client_secret=_secret(section, "github", env),
            authorize_url=_url(section, "authorize_url", "github", GITHUB_DEFAULTS["authorize_url"]),
            token_url=_url(section, "token_url", "github", GITHUB_DEFAULTS["token_url"]),
            api_url=_url(section, "api_url", "github", GITHUB_DEFAULTS["api_url"]).rstrip("/") + "/",
            scopes=gh_scopes,
            admission=gh_admission,
        )

    if not (local or oidc or github):
        raise SigninConfigError("auth: no sign-in method is enabled (set local: true, or configure oidc or github)")
    require = raw.get("require_catalog_user")
    if require is not None and not isinstance(require, bool):
        raise SigninConfigError("auth.require_catalog_user must be true or false")
    if require is False and github and not github.admission.configured:
        raise SigninConfigError(
            "auth.require_catalog_user: false would let any GitHub account in the world sign in; set "
            "auth.github.allowed_organizations or allowed_teams, or leave require_catalog_user unset")
    try:
        chain = resolvers.parse_resolvers(raw.get("resolvers"))
        limits = throttle.Limits.from_config(raw.get("throttle"))
    except ValueError as exc:
        raise SigninConfigError(str(exc)) from exc
    return SigninSettings(local, oidc, github, chain, require, limits)


def init_signin(app: Flask) -> None:
    """Validate the sign-in configuration, register the OAuth clients and the `auth` blueprint (idempotent)."""
    settings = load_settings(app.config.get("TRELLIS_AUTH"))
    oauth = OAuth()
    oauth.init_app(app)
    if settings.oidc:
        oauth.register(
            name="oidc", client_id=settings.oidc.client_id, client_secret=settings.oidc.client_secret,
            server_metadata_url=settings.oidc.discovery_url,
            client_kwargs={"scope": " ".join(settings.oidc.scopes), "code_challenge_method": "S256",
                           "default_timeout": 15},
        )
    if settings.github:
        gh = settings.github
        oauth.register(
            name="github", client_id=gh.client_id, client_secret=gh.client_secret,
            authorize_url=gh.authorize_url, access_token_url=gh.token_url, api_base_url=gh.api_url,
            client_kwargs={"scope": " ".join(gh.scopes), "code_challenge_method": "S256",
                           "token_endpoint_auth_method": "client_secret_post", "default_timeout": 15},
        )
    app.extensions[EXTENSION] = (settings, oauth)
    if "auth" not in app.blueprints:
        app.register_blueprint(bp)


def _settings() -> SigninSettings:
    return current_app.extensions[EXTENSION][0]


def _client(name: str):
    return current_app.extensions[EXTENSION][1].create_client(name)


# ------------------------------------------------------------------------------------------ helpers


def safe_next(value: object, default: str = "/") -> str:
    """A local path to return to after sign-in; anything that could leave the site becomes `default`."""
    if not isinstance(value, str) or not value or len(value) > 2000:
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    if value.startswith("/auth/"):
        return default   # never bounce back into a sign-in flow
    return value


def _sign_out_here() -> None:
    """End the session and forget this request's principal, so the page rendered next shows nobody."""
    end_session()
    g.trellis_principal = None   # the request gate decided it before the view ran
    access.reset()


def _attempted(provider: str, subject: str | None) -> str:
    return f"{provider}:{subject}" if subject else "anonymous"


def _signed_in():
    """The signed-in principal; a development guest has not signed in (the page offers the sign-in methods)."""
    principal = current_principal()
    return None if principal is None or principal.provider == "guest" else principal


def _login_page(status: int = 200, *, error: str | None = None, username: str = "", next_url: str = "/",
                headers: dict | None = None) -> Response:
    settings = _settings()
    html = render_template(
        "login.html", settings=settings, error=error, username=username, next_url=next_url,
        principal=_signed_in(), signed_out=request.args.get("signed_out") == "1",
    )
    return Response(html, status=status, headers=headers or {})


def _refused(status: int, title: str, message: str, *, provider: str) -> Response:
    html = render_template("signin_refused.html", status=status, title=title, message=message,
                           provider=provider, settings=_settings())
    return Response(html, status=status)


def _finish(ident: resolvers.Identity, *, next_url: str, linked_ref: str | None = None,
            id_token: str | None = None) -> Response:
    """The shared end of every flow: resolve to a catalog user, remember the binding, refuse unknown signers
    (OIDC/GitHub by default: "no access"), start the session, audit."""
    settings = _settings()
    graph = get_graph()
    actor = _attempted(ident.provider, ident.subject)
    if linked_ref and identity_store.user_exists(graph, linked_ref):
        resolution = resolvers.Resolution(linked_ref, "account", (f"account: linked to {linked_ref}",))
    else:
        resolution = resolvers.resolve(graph, ident, settings.resolvers)
        if linked_ref:
            resolution = resolvers.Resolution(resolution.user_ref, resolution.resolver,
                                              (f"account: {linked_ref} is not in the catalog",) + resolution.attempts)
    bound = False
    if resolution.user_ref is not None and resolution.bind:
        try:
            bound = bindings.bind(graph, provider=ident.provider, issuer=ident.issuer, subject=ident.subject,
                                  user_ref=resolution.user_ref, via=resolution.resolver or "",
                                  username=ident.username, created_by="signin")
        except bindings.BindingConflict as exc:    # a parallel first sign-in bound it elsewhere
            resolution = resolvers.Resolution(None, None, resolution.attempts + (f"binding: {exc}",))
    elif resolution.resolver == "binding":
        bindings.touch_binding(graph, ident.provider, ident.issuer, ident.subject)
    if resolution.user_ref is None and settings.requires_catalog_user(ident.provider):
        _sign_out_here()
        audit("signin", "denied", actor=actor, details={
            "provider": ident.provider, "issuer": ident.issuer or None, "reason": "no_catalog_user",
            "username": ident.username, "resolvers": list(resolution.attempts)})
        account = (f" Your {_provider_label(ident.provider)} account id is {ident.subject}; an administrator "
                   "can bind it to your User entity." if ident.provider in resolvers.EXTERNAL else "")
        return _refused(
            403, "No catalog user for this sign-in",
            f"You proved who you are ({ident.username} via {_provider_label(ident.provider)}), but this portal "
            f"gives no access to accounts it does not know: only people who have a User entry in the catalog "
            f"bound to their account get in, and none matches you ({resolution.reason}).{account} Ask the "
            "portal's administrators to add or fix your User entity.",
            provider=ident.provider)
    display = ident.display_name
    if display is None and resolution.user_ref:
        display = identity_store.display_name(graph, resolution.user_ref)
    principal = Principal(
        provider=ident.provider, subject=ident.subject, username=ident.username, user_ref=resolution.user_ref,
        display_name=display, email=ident.emails[0] if ident.emails else None,
    )
    start_session(principal)
    if id_token and len(id_token) <= ID_TOKEN_MAX:
        session[ID_TOKEN_KEY] = id_token   # for RP-initiated logout (id_token_hint)
    audit("signin", "ok", actor=principal.id, target=principal.user_ref, details={
        "provider": ident.provider, "issuer": ident.issuer or None, "username": ident.username,
        "user_ref": principal.user_ref, "resolver": resolution.resolver, "bound": bound,
        "resolvers": list(resolution.attempts)})
    return redirect(next_url, code=303)


def _not_admitted(ident: resolvers.Identity, why: str) -> Response:
    """The provider's allow-list refuses this person (checked before any catalog lookup)."""
    _sign_out_here()
    audit("signin", "denied", actor=_attempted(ident.provider, ident.subject), details={
        "provider": ident.provider, "reason": "not_allowed", "username": ident.username, "detail": why})
    return _refused(403, "Not allowed to sign in",
                    f"You proved who you are ({ident.username} via {_provider_label(ident.provider)}), but {why}.",
                    provider=ident.provider)


def _provider_label(provider: str) -> str:
    settings = _settings()
    if provider == "oidc" and settings.oidc:
        return settings.oidc.name
    return {"github": "GitHub", "local": "a local account"}.get(provider, provider)


def _callback_denied(provider: str, reason: str, message: str, *, status: int = 400,
                     outcome: str = "denied", detail: str | None = None) -> Response:
    """A callback that did not sign anyone in: no session survives it, and it is counted in the audit log
    (per address and minute: anyone can send callbacks) and by the callback throttle."""
    _sign_out_here()
    details = {"provider": provider}
    if detail:
        details["detail"] = detail[:300]
    audit_failure("signin", outcome, reason=reason, details=details)
    return _refused(status, "Sign-in did not complete", message, provider=provider)


def _session_was_tampered() -> bool:
    """A session cookie came in but Flask could not verify it (it then starts an empty session)."""
    cookie = request.cookies.get(current_app.config.get("SESSION_COOKIE_NAME", "session"))
    return bool(cookie) and not any(True for _ in session.keys())


def _start(provider: str):
    """Remember where to go afterwards and redirect to the provider (state, nonce, PKCE kept in the session)."""
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    redirect_uri = url_for(f"auth.{provider}_callback", _external=True)
    try:
        return _client(provider).authorize_redirect(redirect_uri)
    except (requests.RequestException, AuthlibBaseError, ValueError) as exc:
        log.warning("%s sign-in could not start: %s", provider, exc)
        audit("signin", "failed", details={"provider": provider, "reason": "provider_unreachable",
                                           "detail": str(exc)[:300]})
        return _refused(502, "The identity provider is not reachable",
                        f"{_provider_label(provider)} could not be reached to start the sign-in. Try again in "
                        "a moment; if it persists, tell the portal's administrators.", provider=provider)


def _redeem(provider: str) -> tuple[dict | None, Response | None]:
    """Exchange the callback's code for tokens; every protocol failure becomes a denial page.

    Each callback is counted against its address before anything else (throttle.begin_callback) and given
    back when the code is redeemed, so an address sending forged or replayed callbacks is stopped at the
    `ip` limit instead of costing a token request and an audit write each.
    """
    graph = get_graph()
    attempt = throttle.begin_callback(graph, _settings().limits, request.remote_addr)
    if isinstance(attempt, throttle.Throttled):
        _sign_out_here()
        audit_failure("signin", "denied", reason="throttled",
                      details={"provider": provider, "scope": attempt.scope, "retry_after": attempt.retry_after})
        response = _refused(429, "Too many sign-in attempts", attempt.message, provider=provider)
        response.headers["Retry-After"] = str(attempt.retry_after)
        return None, response
    token, denied = _exchange(provider)
    if token is not None:
        throttle.callback_succeeded(graph, attempt)
    return token, denied


def _exchange(provider: str) -> tuple[dict | None, Response | None]:
    if request.args.get("error"):
        error = request.args.get("error", "")[:100]
        return None, _callback_denied(
            provider, f"provider_error:{error}",
            f"{_provider_label(provider)} did not sign you in ({error}"
            f"{': ' + request.args.get('error_description', '')[:200] if request.args.get('error_description') else ''}).",
            status=403, outcome="failed")
    if _session_was_tampered():
        return None, _callback_denied(
            provider, "session_invalid",
            "Your session cookie could not be verified, so this sign-in cannot be matched to the one you started. "
            "Start again from the sign-in page.")
    try:
        return _client(provider).authorize_access_token(), None
    except MismatchingStateError:
        return None, _callback_denied(
            provider, "state_mismatch",
            "This sign-in response does not belong to a sign-in started in this browser, or it was already "
            "used. Start again from the sign-in page.")
    except JoseError as exc:   # nonce, issuer, audience, expiry, signature of the ID token
        return None, _callback_denied(
            provider, "id_token_invalid",
            "The identity provider's ID token did not pass verification, so you were not signed in.",
            detail=f"{type(exc).__name__}: {exc}")
    except OAuthError as exc:
        return None, _callback_denied(
            provider, f"token_error:{exc.error}",
            f"{_provider_label(provider)} refused to complete the sign-in ({exc.error}). Start again from the "
            "sign-in page.", outcome="failed", detail=str(exc.description or ""))
    except (requests.RequestException, AuthlibBaseError, ValueError) as exc:
        return None, _callback_denied(
            provider, "provider_unreachable",
            f"{_provider_label(provider)} could not be reached to finish the sign-in. Try again in a moment.",
            status=502, outcome="failed", detail=f"{type(exc).__name__}: {exc}")


# ------------------------------------------------------------------------------------------ routes


@bp.get("/login")
@public
def login_page():
    """The sign-in page: every configured method."""
    return _login_page(next_url=safe_next(request.args.get("next")))


@bp.post("/login")
@public
def login_local():
    """Local account sign-in (throttled per username and per address)."""
    settings = _settings()
    if not settings.local:
        return _login_page(404, error="Local accounts are not enabled on this portal.")
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    next_url = safe_next(request.form.get("next"))
    graph = get_graph()
    actor = _attempted("local", username.lower() or None)

    attempt = throttle.begin(graph, settings.limits, username, request.remote_addr)
    if isinstance(attempt, throttle.Throttled):
        blocked = attempt      # counted per address and minute: a locked-out guesser keeps knocking
        audit_failure("signin", "denied", actor="anonymous", reason="throttled", details={
            "provider": "local", "scope": blocked.scope, "retry_after": blocked.retry_after})
        return _login_page(429, error=blocked.message, username=username, next_url=next_url,
                           headers={"Retry-After": str(blocked.retry_after)})

    account = accounts.authenticate(graph, username, password) if username and password else None
    if account is None:     # the attempt stays counted
        audit("signin", "failed", actor=actor, details={
            "provider": "local", "reason": _failure_reason(graph, username, password)})
        return _login_page(401, error="Wrong username or password.", username=username, next_url=next_url)

    throttle.succeeded(graph, attempt)
    ident = resolvers.Identity(provider="local", subject=account["username"], username=account["username"])
    return _finish(ident, next_url=next_url, linked_ref=account.get("user_ref"))


def _failure_reason(graph, username: str, password: str) -> str:
    """Why a local sign-in failed, for the audit log only (the person always sees the same message)."""
    if not username or not password:
        return "missing_credentials"
    try:
        name = accounts.normalize_username(username)
    except ValueError:
        return "unknown_user"

    account = account_store.get_account(graph, name)
    if account is None:
        return "unknown_user"
    if account.get("disabled"):
        return "account_disabled"
    return "wrong_password"


@bp.get("/oidc/start")
@public
def oidc_start():
    if not _settings().oidc:
        return _login_page(404, error="Single sign-on is not configured on this portal.")
    return _start("oidc")


@bp.get("/oidc/callback")
@public
def oidc_callback():
    """The OIDC provider's redirect back: verify state, code (PKCE), ID token (nonce), then sign in."""
    if not _settings().oidc:
        return _login_page(404, error="Single sign-on is not configured on this portal.")
    next_url = safe_next(session.get(NEXT_KEY))
    token, denied = _redeem("oidc")
    if denied is not None:
        return denied
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        return _callback_denied("oidc", "no_id_token", "The identity provider sent no ID token, so you were "
                                "not signed in.")
    claims = dict(claims)
    if not claims.get("email"):
        claims.update(_oidc_userinfo(token, claims["sub"]))
    emails = (claims["email"],) if claims.get("email") and claims.get("email_verified") is True else ()
    ident = resolvers.Identity(
        provider="oidc", subject=str(claims["sub"]),
        username=str(claims.get("preferred_username") or claims["sub"]), emails=emails,
        display_name=claims.get("name") or None, issuer=str(claims.get("iss") or ""),
    )
    why = _settings().oidc.admission.refusal(claims, emails)
    if why:
        return _not_admitted(ident, why)
    return _finish(ident, next_url=next_url, id_token=token.get("id_token"))


def _oidc_userinfo(token: dict, sub: str) -> dict:
    """Profile claims from the userinfo endpoint, for providers that keep them out of the ID token.

    Only used when the ID token has no email; an answer about another subject is ignored (OIDC Core 5.3.2).
    """
    client = _client("oidc")
    try:
        if not client.load_server_metadata().get("userinfo_endpoint"):
            return {}
        info = dict(client.userinfo(token=token))
    except (requests.RequestException, AuthlibBaseError, ValueError) as exc:
        log.warning("OIDC userinfo unavailable: %s", exc)
        return {}
    if str(info.get("sub")) != str(sub):
        log.warning("OIDC userinfo answered for another subject; ignored")
        return {}
    return {k: info[k] for k in ("email", "email_verified", "name", "preferred_username") if k in info}


@bp.get("/github/start")
@public
def github_start():
    if not _settings().github:
        return _login_page(404, error="GitHub sign-in is not configured on this portal.")
    return _start("github")


@bp.get("/github/callback")
@public
def github_callback():
    """GitHub's redirect back: state and code (PKCE), then /user and /user/emails with the access token."""
    if not _settings().github:
        return _login_page(404, error="GitHub sign-in is not configured on this portal.")
    next_url = safe_next(session.get(NEXT_KEY))
    token, denied = _redeem("github")
    if denied is not None:
        return denied
    try:
        user, emails = _github_profile(token)
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        return _callback_denied("github", "profile_unavailable",
                                "GitHub did not return your profile, so you were not signed in. Try again.",
                                status=502, outcome="failed", detail=f"{type(exc).__name__}: {exc}")
    settings = _settings().github
    ident = resolvers.Identity(
        provider="github", subject=str(user["id"]), username=str(user["login"]), emails=emails,
        display_name=user.get("name") or None, issuer=settings.api_url,
    )
    if settings.admission.configured:
        try:
            why = settings.admission.refusal(ident.username, lambda path: _github_get(token, path))
        except (requests.RequestException, ValueError, AdmissionUnavailable) as exc:
            return _callback_denied("github", "membership_unavailable",
                                    "GitHub did not say whether you belong to the organisations this portal "
                                    "admits, so you were not signed in. Try again.",
                                    status=502, outcome="failed", detail=f"{type(exc).__name__}: {exc}")
        if why:
            return _not_admitted(ident, why)
    return _finish(ident, next_url=next_url)


def _github_get(token: dict, path: str) -> tuple[int, object]:
    """One GitHub REST call with the signing-in user's token: (status, JSON body or None)."""
    resp = _client("github").get(path, token=token, headers={
        "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})
    try:
        body = resp.json()
    except ValueError:
        body = None
    return resp.status_code, body


def _github_profile(token: dict) -> tuple[dict, tuple[str, ...]]:
    """GET /user and /user/emails (GitHub's documented REST API); verified emails, primary first."""
    client = _client("github")
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    resp = client.get("user", token=token, headers=headers)
    resp.raise_for_status()
    user = resp.json()
    if not isinstance(user, dict) or "id" not in user or not user.get("login"):
        raise ValueError("GitHub /user answer has no id or login")
    emails: list[tuple[bool, str]] = []
    resp = client.get("user/emails", token=token, headers=headers)
    if resp.status_code == 200:   # 403/404 when the user:email scope was not granted: no emails, not an error
        for item in resp.json():
            if isinstance(item, dict) and item.get("verified") is True and isinstance(item.get("email"), str):
                emails.append((not item.get("primary"), item["email"]))
    return user, tuple(email for _, email in sorted(emails, key=lambda e: e[0]))


@bp.post("/logout")
@public
def logout():
    """Sign out here, and at the OIDC provider too when it offers RP-initiated logout."""
    principal = current_principal()
    id_token = session.get(ID_TOKEN_KEY)
    _sign_out_here()
    if principal is None:
        return redirect(url_for("auth.login_page"), code=303)
    audit("signout", "ok", actor=principal.id, details={"provider": principal.provider})
    landing = url_for("auth.login_page", signed_out="1", _external=True)
    if principal.provider == "oidc" and _settings().oidc:
        url = _oidc_logout_url(landing, id_token)
        if url:
            # Not a redirect: the portal's CSP (form-action 'self') forbids a form POST from ending up at
            # another origin, so this page navigates there itself (meta refresh, plus a link).
            html = render_template("login.html", settings=_settings(), error=None, username="", next_url="/",
                                   principal=None, signed_out=True, provider_logout_url=url)
            return Response(html, status=200, headers={"Cache-Control": "no-store"})
    return redirect(landing, code=303)


def _oidc_logout_url(landing: str, id_token: str | None) -> str | None:
    """The provider's end_session_endpoint URL, or None when it has none (or cannot be reached)."""
    client = _client("oidc")
    try:
        metadata: dict[str, Any] = client.load_server_metadata()
        if not metadata.get("end_session_endpoint"):
            return None
        return client.create_logout_url(post_logout_redirect_uri=landing, id_token_hint=id_token,
                                        client_id=_settings().oidc.client_id)["url"]
    except (requests.RequestException, AuthlibBaseError, RuntimeError, ValueError) as exc:
        log.warning("OIDC logout at the provider skipped: %s", exc)
        return None
