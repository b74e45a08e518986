"""The one place that answers "may the current reader do this?" for pages, the REST API and exports.

Interface (used by every blueprint; do not re-implement checks elsewhere):
- `visibility()`       -> graph.visibility.Visibility for the current request; pass it to every graph read
                           so restricted entities are filtered *inside* the query.
- `require(action, entity=None, kind=None)`
                        raises Denied (401 when nobody is signed in, 403 otherwise) unless allowed; actions:
                        "read", "write" (change an entity or what a location defines), "ingest" (register
                        locations, trigger runs), "admin" (roles, audit log, everything).
- `public(view)`       decorator for the few routes that need no sign-in (health, sign-in pages, webhooks that
                        authenticate by signature).

WORK IN PROGRESS (issue 4): the policy behind these functions is being built; until then they allow
everything. Code against the interface, not against today's behaviour.
"""
from __future__ import annotations

from typing import Callable

from graph.visibility import EVERYTHING, Visibility

ACTIONS = ("read", "write", "ingest", "admin")


class Denied(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def visibility() -> Visibility:
    return EVERYTHING


def require(action: str, entity: dict | None = None, kind: str | None = None) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")


def public(view: Callable) -> Callable:
    view.trellis_public = True   # type: ignore[attr-defined]
    return view
