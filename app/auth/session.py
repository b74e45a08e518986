"""Who is asking, decided once per request before any view runs, and the gate every route passes.

Order: an `Authorization: Bearer` API token (API paths only; a bad token is a 401, never a silent fallback),
else the signed session cookie (flask-login), else the development-only guest. Routes not marked
`access.public` then need a principal (401 JSON for the API, a redirect to the sign-in page for pages), and
unsafe methods authenticated by cookie or guest need the CSRF token.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from urllib.parse import quote

from flask import Flask, current_app, g, redirect, request, session
from flask_login import LoginManager, current_user

from app.auth import access, csrf, tokens
from app.auth.audit import audit, audit_failure
from app.auth.cache import StampedCache
from app.auth.principal import SESSION_KEY, Principal, current_principal
from app.auth.tokens import current_ms
from app.errors import error_response
from app.graph_access import get_graph
from graph.accounts import get_account
from graph.driver import GraphUnavailable
from graph.tokens import touch_token

log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = frozenset({"static", "web.static"})
TOKEN_AUDIT_EVERY = 60.0      # seconds: token use is audited (and last_used_at written) at most once a minute
                              # per token and process, so API calls with a token cost no write each

_token_seen: dict[str, float] = {}
_token_lock = threading.Lock()


def init_session(app: Flask) -> None:
    """flask-login, cookie flags, the per-request gate and the CSRF check."""
    secure = app.config.get("TRELLIS_SECURE_COOKIES")
    if secure is None:
        secure = app.config["TRELLIS_ENV"] == "production"
    app.config.update(
        SESSION_COOKIE_NAME="__Host-trellis" if secure else "trellis_session",
        SESSION_COOKIE_SECURE=bool(secure), SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/", PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        REMEMBER_COOKIE_SECURE=bool(secure), REMEMBER_COOKIE_HTTPONLY=True,
    )
    manager = LoginManager(app)
    manager.session_protection = "basic"

    @manager.user_loader
    def _load(user_id: str) -> Principal | None:
        principal = Principal.from_session(session.get(SESSION_KEY))
        if principal is None or principal.id != user_id or principal.provider in ("guest", "token"):
            return None
        if principal.provider == "local" and not _local_account_active(principal.subject):
            return None
        return principal

    app.before_request(_gate)
    app.jinja_env.globals["csrf_token"] = csrf.csrf_token

    @app.context_processor
    def _viewer() -> dict:
        return {"viewer": _Viewer()}


class _Viewer:
    """Who is looking, for templates (computed only when a template asks)."""

    @property
    def principal(self) -> Principal | None:
        return current_principal()

    @property
    def role(self) -> str | None:
        subject = self._subject()
        return subject.role if subject else None

    @property
    def is_admin(self) -> bool:
        subject = self._subject()
        return bool(subject and subject.is_admin)

    @property
    def can_ingest(self) -> bool:
        return self._subject() is not None and access.can("ingest")

    @staticmethod
    def _subject():
        """The subject, or None when it cannot be known (e.g. the error page for Neo4j being down)."""
        try:
            return access.subject()
        except GraphUnavailable:
            return None


def _gate():
    endpoint = request.endpoint
    view = current_app.view_functions.get(endpoint) if endpoint else None
    is_public = endpoint in PUBLIC_ENDPOINTS or getattr(view, "trellis_public", False)
    by_token = False
    principal: Principal | None = None

    header = request.headers.get("Authorization")
    if header is not None and request.path.startswith("/api/"):
        principal, problem = _token_principal(header)
        if principal is None:
            audit_failure("token_use", "denied", actor="anonymous", reason=problem)
            response = error_response(401, "invalid_token", f"API token rejected: {problem}")
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        by_token = True
    else:
        if getattr(current_user, "is_authenticated", False):
            principal = current_user._get_current_object()
        elif request.cookies.get(current_app.config["SESSION_COOKIE_NAME"]) and not session.keys():
            # Flask drops a cookie whose signature fails (or that expired) and starts an empty session;
            # an empty session is never sent as a cookie, so this one was forged, tampered with or expired.
            audit_failure("session_rejected", "denied", actor="anonymous",
                          reason="session cookie with a bad signature or expired")
        elif current_app.config.get("TRELLIS_GUEST_ROLE"):
            principal = Principal(provider="guest", subject="guest", username="guest", display_name="Guest")
    g.trellis_principal = principal
    g.trellis_by_token = by_token

    if principal is None and not is_public:
        if request.path.startswith("/api/"):
            return error_response(401, "unauthorized", "sign in or send an API token "
                                  "(Authorization: Bearer trl_...) to use this endpoint")
        target = request.full_path if request.query_string else request.path
        return redirect("/auth/login?next=" + quote(target, safe="/"))

    if (request.method in csrf.UNSAFE_METHODS and not by_token
            and not getattr(view, "trellis_csrf_exempt", False)):
        problem = csrf.csrf_problem()
        if problem:
            audit_failure("csrf", "denied", reason=problem)
            return error_response(403, "csrf_failed", problem)
    access.reset()
    return None


def _token_principal(header: str) -> tuple[Principal | None, str]:
    presented = tokens.bearer_token(header)
    if presented is None:
        return None, "expected `Authorization: Bearer trl_...`"
    try:
        # last_used_at is written with the (throttled) audit event below, not on every request
        record = tokens.authenticate_token(get_graph(), presented, touch=False)
    except tokens.TokenRejected as exc:
        return None, exc.reason
    principal = Principal(
        provider="token", subject=record["token_id"], username=record["name"],
        user_ref=record["owner"] if record["owner"].startswith("user:") else None,
        display_name=f"token {record['name']!r} of {record['owner']}",
        scopes=tuple(record.get("scopes") or ()), token_owner=record["owner"],
    )
    _audit_token_use(principal)
    return principal, ""


def _audit_token_use(principal: Principal) -> None:
    now = time.monotonic()
    with _token_lock:
        last = _token_seen.get(principal.subject)
        if last is not None and now - last < TOKEN_AUDIT_EVERY:
            return
        _token_seen[principal.subject] = now

    touch_token(get_graph(), principal.subject, current_ms())
    audit("token_use", "ok", actor=principal.id, target=principal.token_owner,
          details={"token": principal.subject, "scopes": list(principal.scopes or ())})


_accounts = StampedCache()


def _local_account_active(username: str) -> bool:
    """A disabled (or deleted) local account loses its sessions within a second, in every process
    (app/auth/cache.py: disabling bumps the access version)."""
    def active() -> bool:
        account = get_account(get_graph(), username)
        return account is not None and not account.get("disabled")

    return _accounts.get_or_compute(get_graph(), username, active)
