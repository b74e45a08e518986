"""Access for the demo portal `trellis up` serves: development mode, read-only guests, one admin account.

Why: the demo must be browsable at once, yet show sign-in, roles and the admin pages. The admin password is
generated on first use, kept in .trellis/demo-admin-password (mode 0600) and printed; it is never in code.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from app.auth import accounts
from graph.roles import grant_role
from servers.paths import state_dir

DEMO_ADMIN = "admin"
DEMO_ADMIN_USER = "user:default/alice.nguyen"
PASSWORD_FILE = state_dir() / "demo-admin-password"


def prepare_demo_access(graph) -> str | None:
    """Set development mode with viewer guests (unless configured otherwise) and make sure the demo admin
    exists. Returns a line for the console, or None when TRELLIS_ENV says production."""
    if os.environ.get("TRELLIS_ENV", "development") != "development":
        return None
    os.environ.setdefault("TRELLIS_ENV", "development")
    os.environ.setdefault("TRELLIS_GUEST_ROLE", "viewer")
    password = _password(PASSWORD_FILE)
    try:
        accounts.add_user(graph, DEMO_ADMIN, password, user_ref=DEMO_ADMIN_USER)
    except accounts.AccountExists:
        accounts.change_password(graph, DEMO_ADMIN, password)
    grant_role(graph, f"local:{DEMO_ADMIN}", "admin", "trellis up")
    return (f"Visitors browse as read-only guests. Sign in as `{DEMO_ADMIN}` with password `{password}` "
            f"(kept in {PASSWORD_FILE}) for the admin pages.")


def _password(path: Path) -> str:
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if len(value) >= 12:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
