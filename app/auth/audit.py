"""Audit events from the web layer: who (principal), what (action), outcome, target, and where from.

`audit` writes one event; `audit_failure` counts failures anyone can cause without credentials, one event per
source address and minute (graph.audit). "Where from" is `request.remote_addr`, which is the client address
behind the configured trusted proxy hops (app/proxy.py).

Auditing never breaks the request it describes: a failure to write the event is logged and swallowed (the
request's own outcome was already decided). Secrets (passwords, tokens) are never passed in.
"""
from __future__ import annotations

import logging

from flask import has_request_context, request

from app.auth.principal import current_principal
from app.graph_access import get_graph
from graph import audit as store

log = logging.getLogger(__name__)


def audit(action: str, outcome: str, *, target: str | None = None, actor: str | None = None,
          details: dict | None = None) -> None:
    """Record one event (outcome: ok / denied / failed); `actor` defaults to the current principal."""
    if actor is None:
        principal = current_principal() if has_request_context() else None
        actor = principal.id if principal is not None else "anonymous"
    where = {}
    if has_request_context():
        where = {"ip": request.remote_addr, "method": request.method, "path": request.path}
    try:
        store.record_event(get_graph(), action=action, outcome=outcome, actor=actor, target=target,
                           details=details, **where)
    except Exception:   # noqa: BLE001 - see module docstring
        log.exception("could not record audit event %s/%s for %s", action, outcome, actor)


def audit_failure(action: str, outcome: str, *, reason: str, actor: str | None = None,
                  details: dict | None = None) -> None:
    """Count a failure that needs no credentials to cause (bad token, forged cookie, CSRF, throttled or bad
    sign-in callback): one event per source address, reason and minute with a count, so a flood of them
    cannot grow the log (graph.audit.record_aggregate). `reason` groups them: use a fixed code; anything
    after a ':' (e.g. a provider's error text) is kept only in the first event's details."""
    if actor is None:
        principal = current_principal() if has_request_context() else None
        actor = principal.id if principal is not None else "anonymous"
    where = {}
    if has_request_context():
        where = {"ip": request.remote_addr, "method": request.method, "path": request.path}
    group = (reason or "").split(":", 1)[0][:60]
    try:
        store.record_aggregate(get_graph(), action=action, outcome=outcome, actor=actor, group=group,
                               details={"reason": reason, **(details or {})}, **where)
    except Exception:   # noqa: BLE001 - see module docstring
        log.exception("could not record audit event %s/%s for %s", action, outcome, actor)
