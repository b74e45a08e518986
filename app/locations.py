"""Registering, refreshing and unregistering locations: the policy and the use cases, in one place for the
pages, the REST API and the CLI.

Registering makes the server read something on the registrant's behalf, so:
- a URL must lie on a configured integration host (`integrations:` in TRELLIS_CONFIG; the outbound
  allow-list of ingest.integrations) and is registered in its normal form, so the catalog rules match
  exactly what is fetched (`org/../mallory/repo.git` is mallory's repository, and is matched as such);
- a local path (or `file://` URL) must lie under a configured location root (`location_roots:`,
  `TRELLIS_LOCATION_ROOTS`); with no roots configured, people register URLs only, never server paths.
Network git URLs can be switched off entirely with `TRELLIS_LOCATION_ALLOW_GIT`.

Why one module: the three surfaces used to check, ingest, bump and audit each in their own way (the page
audited no failures, the API let some read errors through as 500s). Each use case (:func:`register`,
:func:`refresh`, :func:`unregister`) now does all of it, and fails with one :class:`LocationError` type that
carries the code, message and details the API answers with and the page and CLI show. Who may act (`ingest`,
`write`) stays with the caller: the request's principal, or the operator at the CLI.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlparse

from app import settings as app_settings
from graph import catalog, write
from graph.driver import Graph, GraphUnavailable
from ingest.git import is_remote_url
from ingest.integrations import BadUrl, Integrations, OutboundRefused, check_url, normalise_url
from ingest.sync import IngestResult, Progress, RemovalGuard, ingest

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "demo-catalog"

#: `audit(action, outcome, *, target, details)`: app.auth.audit.audit for people, nothing for the operator's CLI.
Audit = Callable[..., None]


def _no_audit(*_args: Any, **_kwargs: Any) -> None:
    """The operator's CLI ingest is not an audited action (it needs the database itself, not the portal)."""


class LocationError(Exception):
    """A use case refused or failed; `status` is what the API answers (the page shows the message)."""

    status = 400
    code = "location_error"

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class TargetRefused(LocationError, ValueError):
    """A registration target outside what this server may read."""

    code = "location_not_allowed"


class NotIngestible(LocationError):
    """The location could not be read or ingested (a clone, a fetch, an unreadable file); nothing changed."""

    code = "location_not_ingestible"


class RefreshFailed(NotIngestible):
    """The entity's location could not be read or ingested now (the entity itself is fine: 422)."""

    status = 422


class NotRefreshable(LocationError):
    """The entity does not come from a registered location, so there is nothing to re-read."""

    status = 409
    code = "not_refreshable"


@dataclass(frozen=True)
class LocationPolicy:
    """What people may register: roots for paths, integration hosts for URLs, and the kinds per location.

    `rules` None is the operator's policy (the CLI): any target, any kind, not bound by the catalog rules."""

    roots: tuple[Path, ...] = ()
    allow_git: bool = True
    integrations: Integrations | None = None
    rules: tuple[dict, ...] | None = None

    @classmethod
    def from_settings(cls, loaded: app_settings.Settings) -> LocationPolicy:
        return cls(roots=loaded.location_roots, allow_git=loaded.location_allow_git,
                   integrations=loaded.integrations, rules=loaded.catalog_rules)

    @property
    def operator(self) -> bool:
        return self.rules is None

    def checked_target(self, target: str) -> str:
        """The target to ingest: a URL on an integration host (normalised), or a path (or file:// URL) inside
        one of the roots. TargetRefused otherwise (details: the target and the roots)."""
        try:
            return _checked_target(target.strip(), self)
        except TargetRefused as exc:
            exc.details = {"target": target.strip(), "allowed_roots": [str(r) for r in self.roots]}
            raise

    def catalog_rules(self, target: str | None = None) -> list[str]:
        """Kinds a location registered through the portal or the API may define (Backstage's catalog.rules).

        Rules with a `target` glob (e.g. `https://github.com/acme/org-*` or `/srv/teams/*`) apply to matching
        locations only, and replace the general rules for them; rules without one apply to every other
        location. Operators ingesting from the CLI or configured sources are not bound by them; users
        registering a location are, so nobody can register `Group admins` with themselves as a member.
        """
        target = rule_target(target) if target is not None else None
        general: set[str] = set()
        specific: set[str] = set()
        matched = False
        for rule in self.rules or ():
            pattern = rule.get("target")
            kinds = {str(k) for k in rule.get("allow") or []}
            if pattern is None:
                general |= kinds
            elif target is not None and fnmatch.fnmatchcase(target, str(pattern)):
                matched = True
                specific |= kinds
        return sorted(specific if matched else general)

    def allowed_kinds(self, target: str) -> frozenset[str] | None:
        """The lower-cased kinds `target` may define, or None (the operator: any kind)."""
        return None if self.operator else frozenset(k.lower() for k in self.catalog_rules(target))


def rule_target(target: str) -> str:
    """The form catalog-rule globs are matched against: URLs normalised (scheme and host case, escapes,
    dot segments), paths normalised; what is matched is what is read."""
    if is_remote_url(target) or target.lower().startswith("file:"):
        try:
            return normalise_url(target)
        except BadUrl:
            return target
    return os.path.normpath(target)


def _checked_target(target: str, policy: LocationPolicy) -> str:
    if not target:
        raise TargetRefused("Enter a path or a git URL.")
    if is_remote_url(target):
        if not policy.allow_git:
            raise TargetRefused("git locations are disabled on this server.")
        try:
            normal = normalise_url(target)
            check_url(normal, policy.integrations or Integrations(), what="registration")
        except (BadUrl, OutboundRefused) as exc:
            raise TargetRefused(str(exc)) from None
        return normal
    roots = policy.roots
    if not roots:
        raise TargetRefused(
            f"{target} is a path on the server; this server has no location roots configured "
            f"(location_roots in TRELLIS_CONFIG), so only URLs on its integration hosts can be registered.")
    local = Path(unquote(urlparse(target).path)) if target.lower().startswith("file://") else Path(target)
    if not local.is_absolute():   # relative to what? Not to wherever the server process happened to start
        raise TargetRefused(f"{target} is not an absolute path; register a folder inside "
                            f"{', '.join(str(r) for r in roots)}.")
    try:
        resolved = local.resolve()
    except (OSError, ValueError, RuntimeError):
        raise TargetRefused(f"{target} is not a usable path.") from None
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise TargetRefused(
            f"{target} is outside the folders this server may read ({', '.join(str(r) for r in roots)}); "
            "register a path inside one of them, or a git URL.")
    if not resolved.exists():
        raise TargetRefused(f"{target} does not exist on the server.")
    # the resolved form (no `..`, no symlinks): what is read is what the catalog rules were matched against
    return resolved.as_uri() if target.lower().startswith("file://") else str(resolved)


# ------------------------------------------------------------------------------------------ the use cases


def register(graph: Graph, target: str, *, policy: LocationPolicy, dry_run: bool = False,
             guard: RemovalGuard | None = None, progress: Progress | None = None,
             audit: Audit = _no_audit) -> IngestResult:
    """Check `target` against the policy, ingest it under the catalog rules (the ingest records the run and
    bumps the catalog version), and audit the outcome (a dry run's success is not audited: nothing changed).

    TargetRefused when the policy refuses the target, NotIngestible when it cannot be read or ingested
    (audited as failed)."""
    checked = target if policy.operator else policy.checked_target(target)
    try:
        result = ingest(graph, checked, dry_run=dry_run, guard=guard, progress=progress,
                        allowed_kinds=policy.allowed_kinds(checked), integrations=policy.integrations)
    except RuntimeError as exc:   # IngestError, GitError, a refused or failed fetch: the location's fault
        if isinstance(exc, GraphUnavailable):
            raise
        audit("register_location", "failed", target=checked, details={"reason": str(exc)})
        raise NotIngestible(str(exc), {"target": target.strip()}) from None
    if not dry_run:
        audit("register_location", "ok", target=checked, details={
            "added": result.added, "updated": result.updated, "removed": result.removed,
            "rejected": len(result.rejected)})
    return result


def refresh(graph: Graph, ref: str, *, policy: LocationPolicy, audit: Audit = _no_audit) -> IngestResult:
    """Re-ingest the location that owns `ref` (Backstage's refresh) under the same rules as registering it.

    NotRefreshable when `ref` does not come from a registered location (a provider's, say); RefreshFailed
    (audited) when the location cannot be read now."""
    source = catalog.entity_source(graph, ref)
    if not source or not source.startswith(("file:", "url:")):
        raise NotRefreshable(f"{ref} does not come from a registered location", {"ref": ref})
    target = source.split(":", 1)[1]
    try:
        result = ingest(graph, target, allowed_kinds=policy.allowed_kinds(target), integrations=policy.integrations)
    except RuntimeError as exc:
        if isinstance(exc, GraphUnavailable):
            raise
        audit("refresh", "failed", target=ref, details={"reason": str(exc)})
        raise RefreshFailed(str(exc), {"ref": ref, "location": source}) from None
    audit("refresh", "ok", target=ref, details={"location": source, "updated": result.updated})
    return result


def unregister(graph: Graph, ref: str, *, audit: Audit = _no_audit) -> None:
    """Remove one entity. Its location brings it back on the next ingest unless the descriptor is gone too,
    as in Backstage; other entities still pointing at it keep a placeholder. Cached reads expire (version)."""
    write.remove_entities(graph, [ref])
    write.bump_catalog_version(graph, record_changes=True)
    audit("delete_entity", "ok", target=ref)


# ------------------------------------------------------------------------------------------ in a request


def policy() -> LocationPolicy:
    """The policy of the portal handling this request (its settings, read at start)."""
    return LocationPolicy.from_settings(app_settings.current())


def location_roots() -> list[Path]:
    return list(policy().roots)


def integrations() -> Integrations:
    """The portal's outbound allow-list (parsed once at start, app.settings)."""
    return app_settings.current().integrations


def checked_target(target: str) -> str:
    """This portal's policy.checked_target (TargetRefused)."""
    return policy().checked_target(target)


def catalog_rules(target: str | None = None) -> list[str]:
    """This portal's policy.catalog_rules."""
    return policy().catalog_rules(target)
