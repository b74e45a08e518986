"""Reading one repository's descriptors on a Git host (`SyncContext.read_repository`): its catalog file plus the files its Locations name.

Backstage repositories often hold a `kind: Location` whose `spec.target(s)` list more descriptor files
(`./api/catalog-info.yaml`). Relative targets are followed inside the same repository and branch (cycle-safe,
at most MAX_FILES per repository); URL targets, globs and paths leaving the repository are reported, not
followed. Pure except for the injected `get` (one file's API answer, None for a 404).
"""
from __future__ import annotations

import posixpath
import re
from typing import Any, Callable

from ingest.descriptors.paths import is_url
from plugins.api import FileDocuments, RepoRead
from plugins.http import BadCredentials, ProviderError

MAX_FILES = 100
_GLOB = re.compile(r"[*?\[]")


def location_paths(entity: dict, path: str) -> tuple[list[str], list[str]]:
    """The repository paths a Location entity (read from `path`) points at, and reasons for the rest."""
    spec = entity.get("spec") if isinstance(entity.get("spec"), dict) else {}
    if spec.get("type") not in (None, "url", "file"):
        return [], [f"location type {spec.get('type')!r} is not followed"]
    targets: list[str] = []
    if isinstance(spec.get("target"), str):
        targets.append(spec["target"])
    if isinstance(spec.get("targets"), list):
        targets.extend(t for t in spec["targets"] if isinstance(t, str))
    found: list[str] = []
    problems: list[str] = []
    for target in targets:
        if is_url(target):
            problems.append(f"target '{target}' is a URL; only paths inside this repository are followed "
                            f"(register other repositories as their own source)")
        elif _GLOB.search(target):
            problems.append(f"target '{target}' is a glob; Git-host providers follow plain file paths only")
        else:
            if target.startswith("/"):   # absolute: from the repository root
                joined = posixpath.normpath(target.lstrip("/"))
            else:
                joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if joined == ".." or joined.startswith("../") or joined in ("", "."):
                problems.append(f"target '{target}' points outside the repository")
            else:
                found.append(joined)
    return found, problems


def read_repository(first: str, get: Callable[[str], Any], describe: Callable[[str, Any], FileDocuments],
                    *, max_files: int = MAX_FILES) -> RepoRead:
    """Read `first` and every file its Locations name (breadth-first, each path once).

    `get(path)` returns the API answer or None (404) and may raise ProviderError (reported, that file kept)
    or any other error (the run fails). A missing `first` file means the repository has no catalog.
    """
    out = RepoRead()
    queue: list[tuple[str, str | None, bool]] = [(first, None, False)]   # (path, named by, optional)
    seen: set[str] = set()
    while queue:
        path, named_by, optional = queue.pop(0)
        if path in seen:
            continue
        if len(seen) >= max_files:
            out.problems.append({"path": named_by or path, "document": None, "keep": True,
                                 "reason": f"more than {max_files} descriptor files in one repository; the "
                                           f"rest were not read"})
            break
        seen.add(path)
        try:
            payload = get(path)
        except BadCredentials:
            raise
        except ProviderError as exc:
            out.problems.append({"path": path, "document": None, "reason": str(exc), "keep": True})
            continue
        if payload is None:
            if named_by is not None and not optional:
                out.problems.append({"path": named_by, "document": None, "keep": False,
                                     "reason": f"Location target {path} does not exist in the repository"})
            continue
        out.files += 1
        docs = describe(path, payload)
        out.problems.extend({"path": path, "document": i, "reason": r, "keep": True} for i, r in docs.problems)
        for index, entity in docs.documents:
            out.entities.append((path, entity))
            if str(entity.get("kind", "")).lower() == "location":
                targets, problems = location_paths(entity, path)
                optional_targets = isinstance(entity.get("spec"), dict) and entity["spec"].get("presence") == "optional"
                queue.extend((t, path, optional_targets) for t in targets)
                out.problems.extend({"path": path, "document": index, "reason": r, "keep": False} for r in problems)
    return out
