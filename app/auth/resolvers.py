"""Sign-in resolvers: which catalog `User` entity a verified identity belongs to.

Configured as an ordered list (`auth.resolvers`): `email` (spec.profile.email, only for emails the provider
verified), `username` (metadata.name), `annotation:<key>` (e.g. `github.com/user-login` equal to the
provider's login). The first resolver with exactly one match wins; several matches are never guessed
between (that resolver is skipped and said so). The pure parts (parsing, choosing) are separate from the
graph lookups so they can be tested without a database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graph import identity

if TYPE_CHECKING:
    from graph.driver import Graph

DEFAULT_RESOLVERS = ("email", "username", "annotation:github.com/user-login")


@dataclass(frozen=True)
class Identity:
    """What a sign-in method verified about a person (nothing here is trusted unless the provider said so)."""

    provider: str                           # local / oidc / github
    subject: str                            # stable id at that provider
    username: str                           # local username, OIDC preferred_username, GitHub login
    emails: tuple[str, ...] = ()            # verified emails only, preferred first
    display_name: str | None = None


@dataclass(frozen=True)
class Resolution:
    """The outcome: the matched user ref (or None) and, per resolver tried, what happened (for the audit)."""

    user_ref: str | None
    resolver: str | None = None
    attempts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reason(self) -> str:
        return "; ".join(self.attempts) or "no resolvers configured"


def parse_resolvers(value: object) -> tuple[str, ...]:
    """Validate `auth.resolvers`; ValueError says which entry is wrong."""
    if value is None:
        return DEFAULT_RESOLVERS
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError("auth.resolvers must be a list such as [email, username, 'annotation:github.com/user-login']")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"auth.resolvers: {item!r} is not a string")
        name = item.strip()
        if name in ("email", "username"):
            out.append(name)
        elif name.startswith("annotation:") and name.split(":", 1)[1].strip():
            out.append("annotation:" + name.split(":", 1)[1].strip())
        else:
            raise ValueError(
                f"auth.resolvers: unknown resolver {item!r} (use 'email', 'username' or 'annotation:<key>')")
    return tuple(out)


def choose(resolver: str, refs: list[str]) -> tuple[str | None, str]:
    """One resolver's answer from its matches: the ref when exactly one, else None and why."""
    if len(refs) == 1:
        return refs[0], f"{resolver}: matched {refs[0]}"
    if not refs:
        return None, f"{resolver}: no catalog user"
    return None, f"{resolver}: ambiguous ({', '.join(refs[:5])})"


def resolve(graph: "Graph", ident: Identity, resolvers: tuple[str, ...]) -> Resolution:
    """Try each resolver in order; the first single match wins."""
    attempts: list[str] = []
    for resolver in resolvers:
        if resolver == "email":
            if not ident.emails:
                attempts.append("email: no verified email")
                continue
            refs: list[str] = []
            for email in ident.emails:
                refs = identity.users_by_email(graph, email)
                if refs:
                    break
        elif resolver == "username":
            refs = identity.users_by_name(graph, ident.username)
        else:
            refs = identity.users_by_annotation(graph, resolver.split(":", 1)[1], ident.username)
        ref, note = choose(resolver, refs)
        attempts.append(note)
        if ref is not None:
            return Resolution(ref, resolver, tuple(attempts))
    return Resolution(None, None, tuple(attempts))
