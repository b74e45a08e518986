"""The one place that answers "may the current reader do this?" for pages, the REST API and exports.

Interface (used by every blueprint; do not re-implement checks elsewhere):
- `visibility()`       -> graph.visibility.Visibility for the current request; pass it to every graph read
                           so restricted entities are filtered *inside* the query.
- `require(action, entity=None, kind=None, scope=None)`
                        raises Denied (401 when nobody is signed in, 403 refused, 404 for an entity the
                        reader may not see) unless allowed; actions: "read", "write" (change an entity or
                        what a location defines), "ingest" (register locations, trigger runs), "admin".
                        `entity` is a Backstage-shaped entity (from graph.catalog) or graph.entities
                        access_facts(); every denial is audited.
- `require_ref(action, ref)` the same for an entity known only by ref (404 when it does not exist).
- `public(view)`       decorator for the few routes that need no sign-in (health, sign-in pages, webhooks that
                        authenticate by signature).
- `subject()`          the current policy Subject (role, claims), for showing "signed in as" and roles.

The rules themselves are pure functions in app.auth.policy.
"""
from __future__ import annotations

from typing import Callable

from flask import current_app, g

from app.auth.audit import audit
from app.auth.cache import StampedCache
from app.auth.policy import ACTIONS, RANK, Rules, Subject, decide, visibility_for
from app.auth.principal import Principal, current_principal
from app.graph_access import get_graph
from graph.entities import access_facts
from graph.model import RefError, parse_ref
from graph.ownership import ownership_claims
from graph.roles import role_grants
from graph.visibility import Visibility, is_restricted

# Roles and ownership claims per principal, valid while the graph's versions stand: a role grant, a group
# membership change (ingest) or a re-linked account reaches every process within a second (app/auth/cache.py).
_subjects = StampedCache()


class Denied(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def public(view: Callable) -> Callable:
    view.trellis_public = True   # type: ignore[attr-defined]
    return view


def reset() -> None:
    """Forget this request's cached subject (called by the request gate)."""
    g.pop("trellis_subject", None)


def rules() -> Rules:
    return Rules(current_app.config.get("TRELLIS_PERMISSIONS") or {})


def subject() -> Subject | None:
    if "trellis_subject" not in g:
        principal = current_principal()
        g.trellis_subject = _subject_for(principal) if principal is not None else None
    return g.trellis_subject


def visibility() -> Visibility:
    return visibility_for(subject(), rules())


def can(action: str, entity: dict | None = None, kind: str | None = None, scope: str | None = None) -> bool:
    """`require` without raising or auditing: for showing or hiding buttons."""
    return _decide(action, entity, kind, scope).allowed


def require(action: str, entity: dict | None = None, kind: str | None = None, scope: str | None = None) -> None:
    decision = _decide(action, entity, kind, scope)
    if decision.allowed:
        return

    facts = _facts(entity) if entity is not None else {}
    audit("denied", "denied", target=facts.get("ref") or kind,
          details={"action": action, "status": decision.status, "reason": decision.reason})
    raise Denied(decision.status, decision.reason)


def require_ref(action: str, ref: str) -> dict:
    """Check `action` on the entity `ref`; returns its access facts. Unknown refs are 404s."""
    facts = access_facts(get_graph(), ref)
    if facts is None:
        raise Denied(404, f"{ref} is not in the catalog")
    require(action, facts)
    return facts


def _decide(action: str, entity: dict | None, kind: str | None, scope: str | None):
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    facts = _facts(entity) if entity is not None else {}
    return decide(subject(), action, rules(), kind=facts.get("kind") or kind, owner=facts.get("owner"),
                  restricted=bool(facts.get("restricted")), ref=facts.get("ref"), scope=scope)


def _facts(entity: dict) -> dict:
    """kind/owner/restricted/ref from access_facts() rows or Backstage-shaped entities."""
    if "metadata" not in entity:
        return entity
    kind = entity.get("kind")
    metadata = entity.get("metadata") or {}
    owner = next((r.get("targetRef") for r in entity.get("relations") or [] if r.get("type") == "ownedBy"), None)
    try:
        ref = str(parse_ref(f"{kind}:{metadata.get('namespace') or 'default'}/{metadata.get('name')}"))
    except RefError:
        ref = None
    return {"kind": kind, "owner": owner, "restricted": is_restricted(entity), "ref": ref}


# ------------------------------------------------------------------------------------------ subjects

def _subject_for(principal: Principal) -> Subject:
    if principal.provider == "guest":   # no graph reads: nothing to cache
        return _build_subject(principal)
    # per app too: two apps in one process (tests, or an embedding) may grant different roles
    key = (id(current_app.config), principal.id, principal.user_ref, principal.token_owner, principal.scopes)
    return _subjects.get_or_compute(get_graph(), key, lambda: _build_subject(principal))


def forget_subjects() -> None:
    """Drop cached roles and claims at once (after a role grant or revocation in this process)."""
    _subjects.clear()


def _build_subject(principal: Principal) -> Subject:
    config = current_app.config
    scopes = frozenset(principal.scopes) if principal.scopes is not None else None
    if principal.provider == "guest":
        return Subject(principal.id, config.get("TRELLIS_GUEST_ROLE"), frozenset(), scopes)
    graph = get_graph()
    user_ref = principal.user_ref
    if principal.provider == "token" and (principal.token_owner or "").startswith("user:"):
        user_ref = principal.token_owner
    claims = frozenset(ownership_claims(graph, user_ref)) if user_ref else frozenset()
    keys = set(claims)
    if principal.provider == "local":
        keys.add(f"local:{principal.subject}")
    if principal.provider == "token" and (principal.token_owner or "").startswith("service:"):
        keys.add(principal.token_owner)
    configured = {key.lower(): role for key, role in (config.get("TRELLIS_ROLES") or {}).items()}
    roles = [role for role in role_grants(graph, sorted(keys)).values() if role in RANK]
    roles += [configured[key] for key in keys if key in configured]
    default = config.get("TRELLIS_DEFAULT_ROLE")
    if default:
        roles.append(default)
    role = max(roles, key=RANK.__getitem__) if roles else None
    return Subject(principal.id, role, claims, scopes)
