"""How tests become a reader without a shortcut in the code under test: a session exactly as a completed
sign-in leaves it (pages and API), a real personal API token (API only), and the local accounts behind them
(a session whose account is missing or disabled is dropped by the portal)."""
from __future__ import annotations

from app.auth.accounts import add_user
from app.auth.principal import SESSION_KEY, Principal
from app.auth.tokens import issue_token

CSRF = "tok"


def session_client(app, user: str | None, csrf: str | None = CSRF):
    """A test client signed in as the local account `user` (linked to user:default/<user>): principal,
    flask-login id and, unless `csrf` is None, a CSRF token that every request also sends. `user` None: a
    client with no session at all."""
    client = app.test_client()
    if user is None:
        return client
    principal = Principal(provider="local", subject=user, username=user, user_ref=f"user:default/{user}")
    with client.session_transaction() as session:
        session[SESSION_KEY] = principal.to_session()
        session["_user_id"] = principal.id
        session["_fresh"] = True
        if csrf:
            session["csrf"] = csrf
    if csrf:
        client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf
    return client


def token_client(app, graph, user: str, scopes=("catalog:read", "reports:read")):
    """A test client that sends a real personal API token of user:default/<user> with every request."""
    token, _ = issue_token(graph, name=f"{user}-attack", owner=f"user:default/{user}", kind="personal",
                           scopes=list(scopes))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def add_accounts(graph, names) -> None:
    """Local accounts `<name>` (password `<name>-password-long`) bound to user:default/<name>."""
    for name in names:
        add_user(graph, name, f"{name}-password-long", user_ref=f"user:default/{name}")
