"""CSRF protection for every state-changing request that a browser's cookies (or guest mode) authenticate.

A per-session random token goes into every form (`csrf_token()` in templates) or the `X-CSRF-Token` header
(the portal's scripts read it from `<meta name="csrf-token">`). Requests authenticated by an API token carry
no ambient authority and need none; webhooks authenticate by signature and are exempt (`csrf_exempt`).
Signing in starts a fresh session, so the token changes too.
"""
from __future__ import annotations

import hmac
import secrets
from typing import Callable

from flask import request, session

SESSION_KEY = "csrf"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    token = session.get(SESSION_KEY)
    if not token:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_exempt(view: Callable) -> Callable:
    view.trellis_csrf_exempt = True   # type: ignore[attr-defined]
    return view


def csrf_problem() -> str | None:
    """Why this request fails the CSRF check, or None when it passes."""
    expected = session.get(SESSION_KEY)
    presented = request.headers.get(HEADER) or (request.form.get(FORM_FIELD) if request.form else None)
    if not expected:
        return "your session has no CSRF token (cookies blocked, or the session expired); reload the page"
    if not presented:
        return "the request carries no CSRF token"
    if not hmac.compare_digest(str(presented), str(expected)):
        return "the CSRF token does not match this session; reload the page and try again"
    return None
