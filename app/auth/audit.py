"""Audit events from the web layer: who (principal), what (action), outcome, target, and where from.

Auditing never breaks the request it describes: a failure to write the event is logged and swallowed (the
request's own outcome was already decided). Secrets (passwords, tokens) are never passed in.
"""
from __future__ import annotations

import logging

from flask import has_request_context, request

from app.graph_access import get_graph
from graph import audit as store

log = logging.getLogger(__name__)


def audit(action: str, outcome: str, *, target: str | None = None, actor: str | None = None,
          details: dict | None = None) -> None:
    """Record one event (outcome: ok / denied / failed); `actor` defaults to the current principal."""
    if actor is None:
        from app.auth.principal import current_principal

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
