"""The permission policy as pure functions: (subject, action, entity or kind) -> allowed or why not.

Why pure: one rule set, testable without Flask or Neo4j, applied by app.auth.access to every page and
endpoint and turned into a Cypher predicate (graph.visibility) for every list, search, graph and impact.

Rules:
- viewer < editor < admin. Admins may do everything, including reading restricted entities.
- read: the role must reach the kind's read role (default viewer); a restricted entity is readable only by
  its owners (ownership claims: the user, their groups and those groups' ancestors) and admins.
- write (change an entity or unregister it): the role must reach the kind's write role (default editor;
  Group, User and Location need admin) AND the subject must own the entity; admins may write anything.
- ingest (register a location, trigger a sync): editor.
- run (run a Software Template, or dry-run one): the Template kind's run role (default editor:
  `permissions: {Template: {run: viewer}}` lets everyone run templates they can read).
- admin (roles, audit log, every token): admin.
- API tokens narrow what their owner may do to the token's scopes.
"""
from __future__ import annotations

from dataclasses import dataclass

from graph.visibility import EVERYTHING, NOTHING, Visibility

ROLES = ("viewer", "editor", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
ACTIONS = ("read", "write", "ingest", "run", "admin")
# the token scope each action needs (app.auth.tokens.SCOPES)
ACTION_SCOPE = {"read": "catalog:read", "write": "catalog:write", "ingest": "catalog:write", "run": "catalog:write",
                "admin": "admin"}
# scopes that also satisfy another
IMPLIED_SCOPES = {"catalog:write": {"catalog:read"}}


@dataclass(frozen=True)
class Subject:
    """A principal as the policy sees it."""

    id: str                              # principal id, for the audit log
    role: str | None                     # None: signed in, but no role granted
    claims: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None  # None: a session (no token narrowing)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and (self.scopes is None or "admin" in self.scopes)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200        # 401 sign in, 403 refused, 404 not readable (existence not revealed)
    reason: str = ""


ALLOW = Decision(True)


@dataclass(frozen=True)
class Rules:
    permissions: dict          # Kind -> {"read": role, "write": role}

    def role_for(self, kind: str | None, action: str) -> str:
        default = "viewer" if action == "read" else "editor"
        if not kind:
            return default
        for name, rule in self.permissions.items():
            if name.lower() == kind.lower():
                return rule.get(action, default)
        return default

    def hidden_kinds(self, role: str | None) -> frozenset[str]:
        """Kinds a role may not read (configured read roles above it)."""
        rank = RANK.get(role, -1) if role else -1
        return frozenset(k.lower() for k, rule in self.permissions.items()
                         if "read" in rule and RANK[rule["read"]] > rank)


def scope_ok(scopes: frozenset[str] | None, needed: str) -> bool:
    if scopes is None or "admin" in scopes or needed in scopes:
        return True
    return any(needed in IMPLIED_SCOPES.get(s, ()) for s in scopes)


def decide(subject: Subject | None, action: str, rules: Rules, *, kind: str | None = None,
           owner: str | None = None, restricted: bool = False, ref: str | None = None,
           scope: str | None = None) -> Decision:
    """May `subject` do `action` (on an entity described by kind/owner/restricted/ref, or a kind)?"""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if subject is None:
        return Decision(False, 401, "sign in to continue")
    needed = scope or ACTION_SCOPE[action]
    if not scope_ok(subject.scopes, needed):
        return Decision(False, 403, f"this API token lacks the {needed} scope")
    if subject.role is None:
        return Decision(False, 403, "you are signed in but have no role in this portal; ask an admin for one")
    if subject.is_admin:
        return ALLOW
    rank = RANK[subject.role]
    what = ref or (f"{kind} entities" if kind else "this")
    if action == "admin":
        return Decision(False, 403, "only admins may do this")
    if action == "ingest":
        return ALLOW if rank >= RANK["editor"] else Decision(False, 403, "registering locations and running "
                                                             "syncs needs the editor role")
    if action == "run":
        needed_role = rules.role_for(kind or "Template", "run")
        return ALLOW if rank >= RANK[needed_role] else Decision(False, 403, f"running templates needs the "
                                                                            f"{needed_role} role")
    if action == "read":
        if rank < RANK[rules.role_for(kind, "read")]:
            return Decision(False, 404 if ref else 403, f"{what} is not visible to you")
        if restricted and owner not in subject.claims:
            return Decision(False, 404, f"{what} is not visible to you")
        return ALLOW
    # write
    needed_role = rules.role_for(kind, "write")
    if rank < RANK[needed_role]:
        return Decision(False, 403, f"changing {kind or 'entities'} needs the {needed_role} role")
    if ref is not None and owner not in subject.claims:
        whose = f"owned by {owner}" if owner else "not owned by anyone"
        return Decision(False, 403, f"{ref} is {whose}; only its owners and admins may change it")
    return ALLOW


def visibility_for(subject: Subject | None, rules: Rules) -> Visibility:
    """The read rule of `decide` as a predicate for queries."""
    if subject is not None and subject.is_admin:
        return EVERYTHING
    if subject is None or subject.role is None or not scope_ok(subject.scopes, "catalog:read"):
        return NOTHING
    return Visibility(claims=subject.claims, hidden_kinds=rules.hidden_kinds(subject.role))
