"""Sign-in bindings: which catalog user an identity-provider account is, by the provider's immutable id.

One `(:SigninBinding)` node per account: `provider` (oidc / github), `issuer` (the OIDC `iss`, or the GitHub
API base URL, since GitHub ids are per instance), `subject` (OIDC `sub`, GitHub numeric user id) and the
`user_ref` it signs in as. `key` = provider|issuer|subject, unique (schema constraint `signin_binding_key`),
so one account is bound to at most one user. A binding is made on the first sign-in a resolver matched (or
by an operator: `trellis users bind`, `migrate-bindings`); later sign-ins go by it, whatever the account is
called then. Not catalog entities (no `:Entity` label): catalog data cannot create or change them.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

_FIELDS = ("provider", "issuer", "subject", "user_ref", "via", "username", "created_at", "created_by",
           "last_used_at")

_BIND = """
MERGE (b:SigninBinding {key: $key})
ON CREATE SET b += $props, b._new = true
WITH b, coalesce(b._new, false) AS created
REMOVE b._new
RETURN created, b.user_ref AS user_ref
"""
_FIND = "MATCH (b:SigninBinding {key: $key}) RETURN properties(b) AS b"
_FOR_USER = """
MATCH (b:SigninBinding) WHERE b.user_ref = $user_ref AND b.provider = $provider AND b.issuer = $issuer
RETURN properties(b) AS b ORDER BY b.subject
"""
_LIST = """
MATCH (b:SigninBinding) WHERE $user_ref IS NULL OR b.user_ref = $user_ref
RETURN properties(b) AS b ORDER BY b.user_ref, b.provider, b.subject
"""
_TOUCH = "MATCH (b:SigninBinding {key: $key}) SET b.last_used_at = $now"
_UNBIND = "MATCH (b:SigninBinding {key: $key}) DELETE b"


class BindingConflict(ValueError):
    """The account is already bound to another user (a binding is never moved silently)."""


def binding_key(provider: str, issuer: str, subject: str) -> str:
    return f"{provider}|{issuer}|{subject}"


def _now() -> int:
    return int(time.time() * 1000)


def _public(props: dict) -> dict:
    return {k: props.get(k) for k in _FIELDS}


def find_binding(graph: "Graph", provider: str, issuer: str, subject: str) -> dict | None:
    """The binding of one provider account, or None."""
    rows = graph.read(_FIND, key=binding_key(provider, issuer, subject))
    return _public(rows[0]["b"]) if rows else None


def bindings_of_user(graph: "Graph", user_ref: str, provider: str, issuer: str) -> list[dict]:
    """Every account of one provider bound to `user_ref`."""
    return [_public(r["b"]) for r in graph.read(_FOR_USER, user_ref=user_ref, provider=provider, issuer=issuer)]


def list_bindings(graph: "Graph", user_ref: str | None = None) -> list[dict]:
    """Every binding (of one user), by user, provider and subject."""
    return [_public(r["b"]) for r in graph.read(_LIST, user_ref=user_ref)]


def bind(graph: "Graph", *, provider: str, issuer: str, subject: str, user_ref: str, via: str,
         username: str | None = None, created_by: str | None = None) -> bool:
    """Bind an account to `user_ref`: True when made now, False when it already was (to the same user).

    Raises BindingConflict when the account is bound to another user: moving it is an operator's decision
    (`trellis users unbind`, then bind again), never a side effect of a sign-in.
    """
    props = {"provider": provider, "issuer": issuer, "subject": subject, "user_ref": user_ref, "via": via,
             "username": username, "created_at": _now(), "created_by": created_by, "last_used_at": None}
    row = graph.write_tx(lambda tx: tx.run(_BIND, key=binding_key(provider, issuer, subject),
                                           props=props).single())
    if row["user_ref"] != user_ref:
        raise BindingConflict(f"{provider} account {subject} is bound to {row['user_ref']}, not {user_ref}")
    return bool(row["created"])


def touch_binding(graph: "Graph", provider: str, issuer: str, subject: str) -> None:
    graph.write(_TOUCH, key=binding_key(provider, issuer, subject), now=_now())


def unbind(graph: "Graph", provider: str, issuer: str, subject: str) -> bool:
    """Remove one binding; True when there was one."""
    summary = graph.write(_UNBIND, key=binding_key(provider, issuer, subject))
    return summary.counters.nodes_deleted > 0


# Successful sign-ins in the audit log (what `migrate-bindings` turns into bindings and account links).
_PAST_SIGNINS = """
MATCH (e:AuditEvent {action: 'signin', outcome: 'ok'})
WHERE e.target IS NOT NULL AND e.target STARTS WITH 'user:'
  AND (e.actor STARTS WITH 'oidc:' OR e.actor STARTS WITH 'github:' OR e.actor STARTS WITH 'local:')
RETURN e.actor AS actor, e.target AS user_ref, e.details AS details, e.at AS at ORDER BY e.at
"""


def past_signins(graph: "Graph") -> list[dict]:
    """Every successful sign-in the audit log still holds that resolved to a catalog user, oldest first:
    {actor, user_ref, details (JSON text), at}."""
    return [dict(r) for r in graph.read(_PAST_SIGNINS)]
