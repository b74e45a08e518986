"""Local accounts: `(:Account)` nodes for people who sign in with a username and password.

Accounts are not catalog entities (no `:Entity` label): the catalog holds only declared entities. An account may
point at the catalog user it belongs to through `user_ref` (a plain string, e.g. `user:default/jane`).

Usernames are stored lower-cased, so uniqueness is case-insensitive; the schema's
`account_username` constraint enforces it in the database. Timestamps are epoch milliseconds, like the rest of
the graph. Only `get_account` returns the password hash (the sign-in check needs it); `list_accounts` never does.
Validating usernames and hashing passwords is the caller's job (app/auth/).
"""
from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from neo4j.exceptions import ConstraintError

from graph import versioned

if TYPE_CHECKING:
    from graph.driver import Graph

_PUBLIC = ("username", "disabled", "created_at", "updated_at", "user_ref")


class AccountExists(ValueError):
    """An account with this username (case-insensitively) already exists."""


class AccountNotFound(LookupError):
    """No account with this username."""


def _now() -> int:
    return int(time.time() * 1000)


def _key(username: str) -> str:
    return username.lower()


def _public(props: dict[str, Any]) -> dict[str, Any]:
    return {k: props.get(k) for k in _PUBLIC}


def create_account(graph: "Graph", username: str, password_hash: str, user_ref: str | None = None) -> dict:
    """Create an enabled account; raise AccountExists if the username is taken. Returns it without the hash."""
    now = _now()

    def work(tx) -> dict | None:
        # MERGE locks on the unique constraint, so two concurrent creations cannot both win; without the
        # constraint the existence check still refuses every non-concurrent duplicate.
        record = tx.run(
            "MERGE (a:Account {username: $username}) "
            "ON CREATE SET a.password_hash = $hash, a.disabled = false, a.created_at = $now, "
            "a.updated_at = $now, a.user_ref = $user_ref, a._creating = $token "
            "WITH a, a._creating = $token AS created REMOVE a._creating "
            "RETURN created, properties(a) AS a",
            username=_key(username), hash=password_hash, now=now, user_ref=user_ref, token=token,
        ).single()
        return record["a"] if record and record["created"] else None

    token = uuid.uuid4().hex
    try:
        created = graph.write_tx(work)
    except ConstraintError as exc:
        raise AccountExists(f"account {_key(username)!r} already exists") from exc
    if created is None:
        raise AccountExists(f"account {_key(username)!r} already exists")
    return _public(created)


def _update(graph: "Graph", username: str, assignments: str, **params: Any) -> dict:
    """Run `SET <assignments>` on one account (assignments are fixed strings from this module, values are params)."""
    def work(tx) -> dict | None:
        record = tx.run(
            f"MATCH (a:Account {{username: $username}}) SET {assignments}, a.updated_at = $now "
            "RETURN properties(a) AS a",
            username=_key(username), now=_now(), **params,
        ).single()
        return record["a"] if record else None

    updated = graph.write_tx(work)
    if updated is None:
        raise AccountNotFound(f"no account {_key(username)!r}")
    if "disabled" in params or "user_ref" in params:   # what token checks and sessions depend on
        versioned.bump_access_version(graph)
    return _public(updated)


def set_password_hash(graph: "Graph", username: str, password_hash: str) -> dict:
    """Replace an account's password hash; raise AccountNotFound if there is no such account."""
    return _update(graph, username, "a.password_hash = $hash", hash=password_hash)


def set_disabled(graph: "Graph", username: str, disabled: bool) -> dict:
    """Disable or re-enable an account; raise AccountNotFound if there is no such account."""
    return _update(graph, username, "a.disabled = $disabled", disabled=bool(disabled))


def set_user_ref(graph: "Graph", username: str, user_ref: str | None) -> dict:
    """Link an account to a catalog user (None: unlink); raise AccountNotFound if there is no such account."""
    return _update(graph, username, "a.user_ref = $user_ref", user_ref=user_ref)


def get_account(graph: "Graph", username: str) -> dict | None:
    """One account including its `password_hash` (for the sign-in check), or None."""
    rows = graph.read(
        "MATCH (a:Account {username: $username}) RETURN properties(a) AS a", username=_key(username),
    )
    if not rows:
        return None
    props = rows[0]["a"]
    return {**_public(props), "password_hash": props.get("password_hash")}


def list_accounts(graph: "Graph") -> list[dict]:
    """Every account, by username, without password hashes."""
    rows = graph.read(
        "MATCH (a:Account) RETURN a.username AS username, a.disabled AS disabled, a.created_at AS created_at, "
        "a.updated_at AS updated_at, a.user_ref AS user_ref ORDER BY a.username"
    )
    return [{k: row[k] for k in _PUBLIC} for row in rows]
