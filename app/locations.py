"""What a user may register as a location, in one place for the pages and the API.

Registering reads files on the server, so a local target must lie under a configured root
(`TRELLIS_LOCATION_ROOTS`, default: the working directory and the demo catalog); network git URLs are fine
unless `TRELLIS_LOCATION_ALLOW_GIT` is off.
"""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from flask import current_app

from ingest.git import is_remote_url

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "demo-catalog"


class TargetRefused(ValueError):
    """A registration target outside what this server may read."""


def location_roots() -> list[Path]:
    roots = current_app.config.get("TRELLIS_LOCATION_ROOTS")
    if roots is None:
        roots = [os.getcwd(), DEMO_CATALOG]
    return [Path(r).resolve() for r in roots]


def checked_target(target: str) -> str:
    """The target to ingest: a network git URL, or a path (or file:// URL) inside one of the roots."""
    target = target.strip()
    if not target:
        raise TargetRefused("Enter a path or a git URL.")
    if is_remote_url(target):
        if not current_app.config.get("TRELLIS_LOCATION_ALLOW_GIT", True):
            raise TargetRefused("git locations are disabled on this server.")
        return target
    local = Path(unquote(urlparse(target).path)) if target.lower().startswith("file://") else Path(target)
    try:
        resolved = (local if local.is_absolute() else Path(os.getcwd()) / local).resolve()
    except (OSError, ValueError, RuntimeError):
        raise TargetRefused(f"{target} is not a usable path.") from None
    roots = location_roots()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise TargetRefused(
            f"{target} is outside the folders this server may read ({', '.join(str(r) for r in roots)}); "
            "register a path inside one of them, or a git URL.")
    if not resolved.exists():
        raise TargetRefused(f"{target} does not exist on the server.")
    return target if target.lower().startswith("file://") else str(resolved)


def catalog_rules(target: str | None = None) -> list[str]:
    """Kinds a location registered through the portal or the API may define (Backstage's catalog.rules).

    Rules with a `target` glob (e.g. `https://github.com/acme/org-*` or `/srv/teams/*`) apply to matching
    locations only, and replace the general rules for them; rules without one apply to every other location.
    Operators ingesting from the CLI or configured sources are not bound by them; users registering a
    location are, so nobody can register `Group admins` with themselves as a member.
    """
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
