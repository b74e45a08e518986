"""How attack tests become a reader: a session as a completed sign-in leaves it (pages and API), or a real
API token (API only). No shortcut in the code under test."""
from __future__ import annotations

from app.auth.principal import SESSION_KEY, Principal
from app.auth.tokens import issue_token

CSRF = "attack-csrf"


def session_client(app, user: str):
    """A test client signed in as the local account `user` (linked to user:default/<user>)."""
    client = app.test_client()
    principal = Principal(provider="local", subject=user, username=user, user_ref=f"user:default/{user}")
    with client.session_transaction() as session:
        session[SESSION_KEY] = principal.to_session()
        session["_user_id"] = principal.id
        session["_fresh"] = True
        session["csrf"] = CSRF
    client.environ_base["HTTP_X_CSRF_TOKEN"] = CSRF
    return client


def token_client(app, graph, user: str, scopes=("catalog:read", "reports:read")):
    """A test client that sends a real personal API token of user:default/<user> with every request."""
    token, _ = issue_token(graph, name=f"{user}-attack", owner=f"user:default/{user}", kind="personal",
                           scopes=list(scopes))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client
