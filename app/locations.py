"""What a user may register as a location, in one place for the pages and the API.

Registering makes the server read something on the registrant's behalf, so:
- a URL must lie on a configured integration host (`integrations:` in TRELLIS_CONFIG; the outbound
  allow-list of ingest.integrations) and is registered in its normal form, so the catalog rules match
  exactly what is fetched (`org/../mallory/repo.git` is mallory's repository, and is matched as such);
- a local path (or `file://` URL) must lie under a configured location root (`location_roots:`,
  `TRELLIS_LOCATION_ROOTS`); with no roots configured, people register URLs only, never server paths.
Network git URLs can be switched off entirely with `TRELLIS_LOCATION_ALLOW_GIT`.
"""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from flask import current_app

from ingest.git import is_remote_url
from ingest.integrations import BadUrl, Integrations, OutboundRefused, check_url, normalise_url

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "demo-catalog"


class TargetRefused(ValueError):
    """A registration target outside what this server may read."""


def location_roots() -> list[Path]:
    return [Path(r).resolve() for r in current_app.config.get("TRELLIS_LOCATION_ROOTS") or []]


def integrations() -> Integrations:
    """The portal's outbound allow-list (parsed once at start, app.config)."""
    return current_app.config["TRELLIS_INTEGRATIONS"]


def rule_target(target: str) -> str:
    """The form catalog-rule globs are matched against: URLs normalised (scheme and host case, escapes,
    dot segments), paths normalised; what is matched is what is read."""
    if is_remote_url(target) or target.lower().startswith("file:"):
        try:
            return normalise_url(target)
        except BadUrl:
            return target
    return os.path.normpath(target)


def checked_target(target: str) -> str:
    """The target to ingest: a URL on an integration host (normalised), or a path (or file:// URL) inside one
    of the roots."""
    target = target.strip()
    if not target:
        raise TargetRefused("Enter a path or a git URL.")
    if is_remote_url(target):
        if not current_app.config.get("TRELLIS_LOCATION_ALLOW_GIT", True):
            raise TargetRefused("git locations are disabled on this server.")
        try:
            normal = normalise_url(target)
            check_url(normal, integrations(), what="registration")
        except (BadUrl, OutboundRefused) as exc:
            raise TargetRefused(str(exc)) from None
        return normal
    roots = location_roots()
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


def catalog_rules(target: str | None = None) -> list[str]:
    """Kinds a location registered through the portal or the API may define (Backstage's catalog.rules).

    Rules with a `target` glob (e.g. `https://github.com/acme/org-*` or `/srv/teams/*`) apply to matching
    locations only, and replace the general rules for them; rules without one apply to every other location.
    Operators ingesting from the CLI or configured sources are not bound by them; users registering a
    location are, so nobody can register `Group admins` with themselves as a member.
    """
    target = rule_target(target) if target is not None else None
    general: set[str] = set()
    specific: set[str] = set()
    matched = False
    for rule in current_app.config.get("TRELLIS_CATALOG_RULES") or []:
        pattern = rule.get("target")
        kinds = {str(k) for k in rule.get("allow") or []}
        if pattern is None:
            general |= kinds
        elif target is not None and fnmatch.fnmatchcase(target, str(pattern)):
            matched = True
            specific |= kinds
    return sorted(specific if matched else general)
