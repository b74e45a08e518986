"""Kind rules: which kinds of entity a source may declare, and which source wins a contested ref.

Why: roles flow down the group tree and ownership claims follow MEMBER_OF then CHILD_OF*, so whoever may
write a `Group` or `User` may grant themselves privilege; a `Template` runs with the server's integration
credentials. Catalog files in repositories are written by anyone who can push, so every way entities enter
the catalog (portal/API registrations, configured sources, the GitHub/GitLab/git providers, the CLI) goes
through one `KindRules` check in `ingest.plan`:

- repository files (discovery, git sources, registrations by people): Component, API, Resource, System,
  Domain, Location only, unless the operator configured more for that source or location;
- org providers' own teams and members (GitHub teams, GitLab groups): Group and User;
- the CLI (`trellis ingest`, the operator's): any kind.

A rejected document names the rule (`KindRules.name`). `trust` orders claimants of one ref inside a run, so
the winner never depends on the order a provider happened to list things in (rank, then origin, then
position); across sources the stored holder keeps its ref (`ingest.plan`).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Iterable

# Backstage's kinds, spelled as Backstage spells them (for messages and configuration checks).
KNOWN_KINDS = ("Component", "API", "Resource", "System", "Domain", "Location", "Group", "User", "Template")
REPOSITORY_KINDS = frozenset({"component", "api", "resource", "system", "domain", "location"})
ORG_KINDS = frozenset({"group", "user"})
_SPELLING = {k.lower(): k for k in KNOWN_KINDS}


class Trust(IntEnum):
    """How far a source is trusted; higher wins a ref contested inside one run."""

    REPOSITORY = 0    # files anyone with push access writes (discovery, git sources, registrations)
    CONFIGURED = 1    # a source the operator configured with more kinds (an org file, a template location)
    OPERATOR = 2      # the CLI, and org providers' own teams and members


@dataclass(frozen=True)
class KindRules:
    """The kinds one source (or one part of a provider's output) may declare. `allow` None: any kind."""

    name: str
    allow: frozenset[str] | None
    trust: Trust = Trust.REPOSITORY

    def reason(self, kind: str) -> str | None:
        """Why a document of `kind` is rejected under these rules, or None when it is allowed."""
        if self.allow is None or kind.lower() in self.allow:
            return None
        allowed = ", ".join(spelled(k) for k in sorted(self.allow)) or "none"
        return f"{self.name} do not allow kind {kind} (allowed: {allowed})"

    def fingerprint(self) -> str:
        """What the ingest caches are keyed on: a file accepted under other rules must be read again."""
        return f"{self.name}\n{','.join(sorted(self.allow)) if self.allow is not None else '*'}"


def spelled(kind: str) -> str:
    return _SPELLING.get(kind.lower(), kind)


OPERATOR = KindRules("the operator's ingest (CLI)", None, Trust.OPERATOR)


def registration_rules(allowed: Iterable[str]) -> KindRules:
    """Rules for a location registered by a person through the portal or the API (`catalog_rules`)."""
    return KindRules("the catalog rules for locations registered through the portal or the API",
                     frozenset(k.lower() for k in allowed), Trust.REPOSITORY)


def source_rules(source: str, kinds: frozenset[str] | None | str = "default") -> KindRules:
    """Rules for the files a configured source reads (`kinds:` of the source; "default": repository kinds).

    Configuring kinds makes the source one the operator vouches for (an org file, a template location).
    """
    if kinds == "default":
        return KindRules(f"the kind rules of source {source} (repository files)", REPOSITORY_KINDS,
                         Trust.REPOSITORY)
    if kinds is None:
        return KindRules(f"the kind rules of source {source} (kinds: any)", None, Trust.CONFIGURED)
    assert not isinstance(kinds, str)
    return KindRules(f"the kind rules of source {source} (configured kinds)", kinds, Trust.CONFIGURED)


def org_rules(source: str) -> KindRules:
    """Rules for the teams/groups and members an org provider reads from the host's own API."""
    return KindRules(f"the kind rules of source {source} (organisation teams and members)", ORG_KINDS,
                     Trust.OPERATOR)


def parse_kinds(value: Any, where: str, problems: list[str]) -> frozenset[str] | None | str:
    """A source's `kinds:` setting: omitted -> "default", `any` -> None, or a list of known kinds."""
    if value is None:
        return "default"
    if value == "any":
        return None
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        problems.append(f"{where} must be `any` or a list of kinds, e.g. [Group, User]")
        return "default"
    unknown = [k for k in value if k.lower() not in _SPELLING]
    if unknown:
        problems.append(f"{where}: unknown kind(s) {', '.join(unknown)}; use {', '.join(KNOWN_KINDS)}")
        return "default"
    return frozenset(k.lower() for k in value)
