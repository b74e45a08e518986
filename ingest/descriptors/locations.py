"""Following a Location entity's `spec.target` / `spec.targets[]` to more local descriptor files.

Targets are relative to the Location's own file (absolute paths are allowed when inside the root) and may
be globs (`./services/*/catalog-info.yaml`, `**` too; symlinked directories are never entered). Anything resolving outside the root, remote URLs
and missing files (unless `presence: optional`) become problems on the exact field; the Location itself
is still accepted. Cycle protection is the reader's job (it never reads a file twice).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .globbing import glob_files
from .model import Problem
from .paths import is_url, url_reason

_GLOB = re.compile(r"[*?\[]")
LOCAL_TYPES = (None, "file", "url")


def _entries(spec: dict) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(spec.get("target"), str):
        out.append(("spec.target", spec["target"]))
    targets = spec.get("targets")
    if isinstance(targets, list):
        out.extend((f"spec.targets[{i}]", t) for i, t in enumerate(targets) if isinstance(t, str))
    return out


def _outside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return True
    return False


def location_targets(
    entity: dict, *, base_dir: Path, root: Path, max_matches: int = 50_000, urls: list[str] | None = None
) -> tuple[list[Path], list[Problem]]:
    """Resolved descriptor files a validated Location points at, and problems with its targets.

    `urls`: when given, http(s) targets are appended to it (the caller reads them as URL locations)
    instead of being reported as unsupported.
    """
    spec = entity.get("spec") or {}
    kind = spec.get("type")
    if kind not in LOCAL_TYPES:
        return [], [Problem("spec.type",
                            f"location type {kind!r} is not supported: write `type: url` (targets are paths "
                            f"relative to this file, or file URLs on an integration host) or `type: file`")]
    optional = spec.get("presence") == "optional"
    files: list[Path] = []
    problems: list[Problem] = []
    for field, target in _entries(spec):
        if is_url(target):
            if urls is not None and target.strip().lower().startswith(("https://", "http://")):
                urls.append(target.strip())
            else:
                problems.append(Problem(field, url_reason(target, "targets")))
            continue
        lexical = Path(os.path.normpath(base_dir / target))
        if _outside(lexical, root):
            problems.append(Problem(field, f"target '{target}' points outside the catalog root"))
            continue
        if _GLOB.search(target):
            matched, found_any = 0, False
            pattern = lexical.relative_to(root).as_posix()
            if pattern.count("**") > 1:   # each extra ** multiplies the walk (~10x per ** on deep trees)
                problems.append(Problem(field, f"target '{target}' uses '**' more than once; one is enough"))
                continue
            try:
                matches = sorted(glob_files(root, pattern))   # never through a symlinked directory
            except ValueError as exc:
                problems.append(Problem(field, f"target '{target}' is not a valid glob pattern: {exc}"))
                continue
            for match in matches:
                resolved = match.resolve()
                if not resolved.is_file():
                    continue
                found_any = True
                if _outside(resolved, root):
                    problems.append(Problem(
                        field, f"target '{target}' matches {match.relative_to(root).as_posix()}, which "
                               f"resolves (through a symlink) outside the catalog root"))
                    continue
                files.append(resolved)
                matched += 1
                if matched >= max_matches:
                    break
            if not found_any and not optional:
                problems.append(Problem(field, f"target '{target}' matches no files"))
            continue
        resolved = lexical.resolve()
        if _outside(resolved, root):
            problems.append(Problem(
                field, f"target '{target}' resolves (through a symlink) outside the catalog root"))
        elif resolved.is_dir():
            problems.append(Problem(
                field, f"target '{target}' is a directory; point at a descriptor file or use a glob"))
        elif resolved.is_file():
            files.append(resolved)
        elif not optional:
            problems.append(Problem(field, f"target '{target}' does not exist"))
    return files, problems
