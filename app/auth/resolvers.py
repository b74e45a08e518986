"""Sign-in resolvers: which catalog `User` entity a verified identity belongs to.

Why this shape: a name is not an identity. An account at an identity provider can be *called* anything, so
matching a provider's username against `metadata.name` lets whoever registers the right name sign in as
that user. Here:

1. An external account (OIDC, GitHub) that signed in before goes by its **binding** (graph.bindings): the
   provider's immutable id (OIDC issuer + `sub`, GitHub numeric user id) -> user ref. Nothing else is tried
   for a bound account; a binding to a user that left the catalog resolves to nobody.
2. Otherwise the configured resolvers (`auth.resolvers`) are tried in order, **each only for the providers
   it belongs to**: `annotation:github.com/user-id` and `annotation:github.com/user-login` match GitHub
   sign-ins only, `annotation:microsoft.com/email` OIDC only, `email` (spec.profile.email against an e-mail
   the provider verified) only when listed, `username` (metadata.name) only for the providers listed with it
   (`{resolver: username, providers: [local]}`), any other annotation only in the explicit mapping form
   `{annotation: gitlab.com/user-login, provider: oidc, value: username}`.
3. A match is refused when the user is already bound to another account of the same provider, or carries
   that provider's immutable-id annotation (`github.com/user-id`) naming another account: a recycled
   GitHub login or a reassigned e-mail cannot take over a user who signed in before.
4. The first match of an external account is remembered as its binding (`Resolution.bind`).

Several matches of one resolver are never guessed between (that resolver is skipped and said so). The pure
parts (parsing, choosing) are separate from the graph lookups so they can be tested without a database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graph import bindings, identity

if TYPE_CHECKING:
    from graph.driver import Graph

PROVIDERS = ("local", "oidc", "github")
EXTERNAL = frozenset({"oidc", "github"})     # accounts we do not manage: bound by immutable id
VALUES = ("subject", "username", "email")     # what an annotation is compared with

# Annotations Backstage's org providers write, with the sign-in provider that owns them and the identity
# field they hold. An annotation only ever matches sign-ins of its owner.
KNOWN_ANNOTATIONS: dict[str, tuple[str, str]] = {
    "github.com/user-id": ("github", "subject"),
    "github.com/user-login": ("github", "username"),
    "microsoft.com/email": ("oidc", "email"),
}
# The annotation that pins a user to one account of a provider: a match by anything else must agree with it.
IMMUTABLE_ANNOTATIONS = {"github": "github.com/user-id"}

DEFAULT_RESOLVERS = ("annotation:github.com/user-id", "annotation:github.com/user-login")


@dataclass(frozen=True)
class Identity:
    """What a sign-in method verified about a person (nothing here is trusted unless the provider said so)."""

    provider: str                           # local / oidc / github
    subject: str                            # stable id at that provider (OIDC sub, GitHub user id, username)
    username: str                           # local username, OIDC preferred_username, GitHub login
    emails: tuple[str, ...] = ()            # verified emails only, preferred first
    display_name: str | None = None
    issuer: str = ""                        # OIDC `iss`; the GitHub API base URL; "" for local accounts


@dataclass(frozen=True)
class Resolver:
    """One configured resolver: what it compares, for which providers."""

    name: str                               # as the audit log and the refusal page say it
    match: str                              # "email" | "username" | "annotation"
    providers: frozenset[str]
    annotation: str | None = None
    value: str = "username"                 # annotations: the identity field compared (VALUES)


@dataclass(frozen=True)
class Resolution:
    """The outcome: the matched user ref (or None) and, per step tried, what happened (for the audit)."""

    user_ref: str | None
    resolver: str | None = None
    attempts: tuple[str, ...] = field(default_factory=tuple)
    bind: bool = False                      # a resolver matched an external account: remember it

    @property
    def reason(self) -> str:
        return "; ".join(self.attempts) or "no resolver applies to this sign-in method"


# ------------------------------------------------------------------------------------------ configuration

_USERNAME_HELP = ("matching a provider's username against metadata.name lets anyone who registers that name "
                  "at the provider sign in as the catalog user; name the providers it is safe for, e.g. "
                  "{resolver: username, providers: [local]}")


def _providers(value: object, where: str) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(v in PROVIDERS for v in value):
        raise ValueError(f"auth.resolvers: {where}: providers must be a list of {', '.join(PROVIDERS)}")
    return frozenset(value)


def _annotation(key: str, item: object) -> Resolver:
    key = key.strip()
    if key not in KNOWN_ANNOTATIONS:
        raise ValueError(
            f"auth.resolvers: {item!r}: the annotation {key!r} belongs to no known sign-in provider; say whose "
            f"it is: {{annotation: {key}, provider: oidc, value: username}} (value: {', '.join(VALUES)})")
    provider, value = KNOWN_ANNOTATIONS[key]
    return Resolver(f"annotation:{key}", "annotation", frozenset({provider}), key, value)


def _parse_one(item: object) -> Resolver:
    if isinstance(item, str):
        name = item.strip()
        if name == "email":
            return Resolver("email", "email", EXTERNAL)
        if name == "username":
            raise ValueError(f"auth.resolvers: 'username' needs its providers: {_USERNAME_HELP}")
        if name.startswith("annotation:") and name.split(":", 1)[1].strip():
            return _annotation(name.split(":", 1)[1], item)
        raise ValueError(f"auth.resolvers: unknown resolver {item!r} (use 'email', "
                         "'annotation:<key>', {resolver: username, providers: [...]} or "
                         "{annotation: <key>, provider: <provider>, value: <field>})")
    if not isinstance(item, dict):
        raise ValueError(f"auth.resolvers: {item!r} is neither a name nor a mapping")
    if "annotation" in item:
        unknown = set(item) - {"annotation", "provider", "value"}
        key = item.get("annotation")
        if unknown or not isinstance(key, str) or not key.strip():
            raise ValueError(f"auth.resolvers: {item!r}: use {{annotation: <key>, provider: <provider>, "
                             "value: <field>}}")
        if set(item) == {"annotation"}:
            return _annotation(key, item)
        provider, value = item.get("provider"), item.get("value", "username")
        if provider not in PROVIDERS or value not in VALUES:
            raise ValueError(f"auth.resolvers: {item!r}: provider must be one of {', '.join(PROVIDERS)} and "
                             f"value one of {', '.join(VALUES)}")
        if key.strip() in KNOWN_ANNOTATIONS and KNOWN_ANNOTATIONS[key.strip()] != (provider, value):
            owner, field_ = KNOWN_ANNOTATIONS[key.strip()]
            raise ValueError(f"auth.resolvers: {item!r}: {key} is the {owner} {field_} and matches only that")
        return Resolver(f"annotation:{key.strip()}", "annotation", frozenset({provider}), key.strip(), value)
    unknown = set(item) - {"resolver", "providers"}
    kind = item.get("resolver")
    if unknown or kind not in ("email", "username"):
        raise ValueError(f"auth.resolvers: {item!r}: use {{resolver: username|email, providers: [...]}}")
    if "providers" not in item:
        if kind == "username":
            raise ValueError(f"auth.resolvers: {item!r}: {_USERNAME_HELP}")
        return Resolver("email", "email", EXTERNAL)
    providers = _providers(item["providers"], repr(item))
    if kind == "email" and "local" in providers:
        raise ValueError(f"auth.resolvers: {item!r}: local accounts have no verified e-mail")
    label = f"{kind}({','.join(sorted(providers))})" if kind == "username" else "email"
    return Resolver(label, kind, providers)


def parse_resolvers(value: object) -> tuple[Resolver, ...]:
    """Validate `auth.resolvers`; ValueError says which entry is wrong and what to write instead."""
    if value is None:
        value = list(DEFAULT_RESOLVERS)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError("auth.resolvers must be a list such as [email, 'annotation:github.com/user-login']")
    return tuple(_parse_one(item) for item in value)


# ------------------------------------------------------------------------------------------ resolution


def choose(resolver: str, refs: list[str]) -> tuple[str | None, str]:
    """One resolver's answer from its matches: the ref when exactly one, else None and why."""
    if len(refs) == 1:
        return refs[0], f"{resolver}: matched {refs[0]}"
    if not refs:
        return None, f"{resolver}: no catalog user"
    return None, f"{resolver}: ambiguous ({', '.join(refs[:5])})"


def _lookup(graph: "Graph", resolver: Resolver, ident: Identity) -> list[str] | None:
    """The resolver's matches, or None when the identity has nothing to compare (no verified e-mail)."""
    if resolver.match == "username":
        return identity.users_by_name(graph, ident.username)
    field_ = "email" if resolver.match == "email" else resolver.value
    if field_ == "email":
        if not ident.emails:
            return None
        for email in ident.emails:
            refs = (identity.users_by_email(graph, email) if resolver.match == "email"
                    else identity.users_by_annotation(graph, resolver.annotation or "", email))
            if refs:
                return refs
        return []
    value = ident.subject if field_ == "subject" else ident.username
    return identity.users_by_annotation(graph, resolver.annotation or "", value)


def _conflict(graph: "Graph", ident: Identity, ref: str) -> str | None:
    """Why a match must not be taken (the user belongs to another account of this provider), or None."""
    if ident.provider in EXTERNAL:
        others = [b["subject"] for b in bindings.bindings_of_user(graph, ref, ident.provider, ident.issuer)
                  if b["subject"] != ident.subject]
        if others:
            return (f"{ref} is bound to another {ident.provider} account ({others[0]}); an admin can "
                    "unbind it with `trellis users unbind`")
    key = IMMUTABLE_ANNOTATIONS.get(ident.provider)
    if key:
        pinned = identity.user_annotations(graph, ref).get(key)
        if pinned is not None and pinned.strip() != ident.subject:
            return f"{ref} has {key}: {pinned.strip()}, another account"
    return None


def resolve(graph: "Graph", ident: Identity, resolvers: tuple[Resolver, ...]) -> Resolution:
    """The binding of an external account, else the first resolver of this provider with a single match."""
    if ident.provider in EXTERNAL:
        bound = bindings.find_binding(graph, ident.provider, ident.issuer, ident.subject)
        if bound is not None:
            ref = bound["user_ref"]
            if identity.user_exists(graph, ref):
                return Resolution(ref, "binding", (f"binding: {ref}",))
            return Resolution(None, None, (f"binding: bound to {ref}, which is not in the catalog",))
    attempts: list[str] = []
    for resolver in resolvers:
        if ident.provider not in resolver.providers:
            continue
        refs = _lookup(graph, resolver, ident)
        if refs is None:
            attempts.append(f"{resolver.name}: no verified email")
            continue
        ref, note = choose(resolver.name, refs)
        if ref is None:
            attempts.append(note)
            continue
        problem = _conflict(graph, ident, ref)
        if problem:
            attempts.append(f"{resolver.name}: matched {ref}, refused: {problem}")
            return Resolution(None, None, tuple(attempts))
        attempts.append(note)
        return Resolution(ref, resolver.name, tuple(attempts), bind=ident.provider in EXTERNAL)
    return Resolution(None, None, tuple(attempts))
