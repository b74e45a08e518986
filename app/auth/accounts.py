"""Local account services: validate, hash, store, and check sign-ins.

Ties the password rules (app.auth.passwords) to the account store (graph.accounts). Nothing here returns a
password hash.
"""
from __future__ import annotations

import re
import secrets
from functools import lru_cache
from typing import TYPE_CHECKING

from app.auth import passwords
from graph import accounts as store
from graph.accounts import AccountExists, AccountNotFound

if TYPE_CHECKING:
    from graph.driver import Graph

__all__ = [
    "AccountExists", "AccountNotFound", "normalize_username", "add_user", "change_password", "disable_user",
    "enable_user", "authenticate", "list_users",
]

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}")


def normalize_username(username: str) -> str:
    """The stored (lower-cased) form of `username`; ValueError when it breaks the username rule."""
    name = username.lower() if isinstance(username, str) else ""
    if not USERNAME_RE.fullmatch(name):
        raise ValueError(
            "username must be 2-63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random secret nobody knows, verified when there is no usable account (equal timing)."""
    return passwords.hash_password(secrets.token_urlsafe(32))


def add_user(graph: "Graph", username: str, password: str, user_ref: str | None = None) -> dict:
    """Create an account; ValueError for a bad username/password, AccountExists when taken."""
    name = normalize_username(username)
    passwords.check_password_policy(password)
    return store.create_account(graph, name, passwords.hash_password(password), user_ref=user_ref or None)


def change_password(graph: "Graph", username: str, new_password: str, *, current_password: str | None = None) -> dict:
    """Set a new password (policy-checked). With `current_password`, it must be right (self-service change)."""
    name = normalize_username(username)
    passwords.check_password_policy(new_password)
    if current_password is not None and authenticate(graph, name, current_password) is None:
        raise PermissionError("current password is wrong")
    if store.get_account(graph, name) is None:
        raise AccountNotFound(f"no account {name!r}")
    return store.set_password_hash(graph, name, passwords.hash_password(new_password))


def disable_user(graph: "Graph", username: str) -> dict:
    """Disable an account: it can no longer sign in. AccountNotFound when there is none."""
    return store.set_disabled(graph, normalize_username(username), True)


def enable_user(graph: "Graph", username: str) -> dict:
    """Re-enable a disabled account. AccountNotFound when there is none."""
    return store.set_disabled(graph, normalize_username(username), False)


def list_users(graph: "Graph") -> list[dict]:
    """Every account (no hashes), by username."""
    return store.list_accounts(graph)


def authenticate(graph: "Graph", username: str, password: str) -> dict | None:
    """The account (without its hash) when `username`/`password` are right and it is enabled, else None.

    Every path runs exactly one password verification (a dummy hash stands in for a missing, invalid or
    disabled account), so the answer's timing does not tell whether a username exists.
    """
    if not isinstance(password, str):
        password = ""          # never matches a stored hash, but still costs one verification
    try:
        name = normalize_username(username)
    except ValueError:
        name = None
    account = store.get_account(graph, name) if name else None
    if account is None or account.get("disabled") or not account.get("password_hash"):
        passwords.verify_password(password, _dummy_hash())
        return None
    if not passwords.verify_password(password, account["password_hash"]):
        return None
    if passwords.needs_rehash(account["password_hash"]):
        store.set_password_hash(graph, name, passwords.hash_password(password))
    return {k: v for k, v in account.items() if k != "password_hash"}
