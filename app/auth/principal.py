"""Who is making a request: a `Principal` (flask-login's current_user), kept in the signed session cookie.

Sign-in flows (app/auth/signin.py) build a Principal from a verified identity and call `start_session`;
token-authenticated API requests get a Principal for the token's owner without any session. The policy
(app/auth/policy.py) turns a Principal into a role and ownership claims per request.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from flask import g, session
from flask_login import current_user, login_user, logout_user

PROVIDERS = ("local", "oidc", "github", "guest", "token")
SESSION_KEY = "trellis_principal"


@dataclass(frozen=True)
class Principal:
    provider: str                    # one of PROVIDERS
    subject: str                     # stable id at that provider (username, OIDC sub, GitHub id, token id)
    username: str                    # what people see ("alice")
    user_ref: str | None = None      # the catalog User entity this identity resolved to, if any
    display_name: str | None = None
    email: str | None = None
    scopes: tuple[str, ...] | None = None   # token principals only: what the token may do
    token_owner: str | None = None          # token principals: user:ns/name or service:name
    extra: dict = field(default_factory=dict, compare=False)

    # flask-login's user protocol
    is_authenticated = True
    is_active = True
    is_anonymous = False

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.subject}"

    def get_id(self) -> str:
        return self.id

    @property
    def label(self) -> str:
        """How the audit log and the header name this principal."""
        return self.display_name or self.username

    def to_session(self) -> dict:
        data = asdict(self)
        data["scopes"] = list(self.scopes) if self.scopes is not None else None
        return data

    @classmethod
    def from_session(cls, data: object) -> "Principal | None":
        if not isinstance(data, dict) or data.get("provider") not in PROVIDERS:
            return None
        try:
            scopes = data.get("scopes")
            return cls(**{**data, "scopes": tuple(scopes) if scopes is not None else None})
        except TypeError:
            return None


def start_session(principal: Principal, *, remember: bool = False) -> None:
    """Sign `principal` in: a fresh session (no fixation: everything from before sign-in is dropped)."""
    session.clear()
    session[SESSION_KEY] = principal.to_session()
    login_user(principal, remember=remember)


def end_session() -> None:
    """Sign out: pages rendered later in this same request see nobody signed in."""
    logout_user()
    session.clear()
    g.trellis_principal = None
    g.pop("trellis_subject", None)


def current_principal() -> Principal | None:
    """The signed-in (or token-authenticated, or guest) principal of this request, or None."""
    if "trellis_principal" in g:   # decided once per request by app.auth.session
        return g.trellis_principal
    user = current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user._get_current_object() if hasattr(user, "_get_current_object") else user   # type: ignore[return-value]
