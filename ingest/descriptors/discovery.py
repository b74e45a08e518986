"""Finding descriptor files in a directory tree, deterministically.

Only `catalog-info.yaml` / `catalog-info.yml` are picked up (Backstage's convention); VCS metadata,
`node_modules` and hidden directories are skipped, and symlinked directories are not followed (no loops,
no escaping the tree). Order: a directory's own files first, then its subdirectories, all sorted.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from .globbing import glob_files

DESCRIPTOR_NAMES: tuple[str, ...] = ("catalog-info.yaml", "catalog-info.yml")
SKIPPED_DIRS: frozenset[str] = frozenset({"node_modules", "__pycache__"})


def discover(directory: Path) -> Iterator[Path]:
    """Descriptor files under `directory` (absolute paths, symlinked files included as found)."""
    for current, dirnames, filenames in os.walk(directory, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in DESCRIPTOR_NAMES:
            if name in filenames:
                yield Path(current) / name


def discover_matching(directory: Path, patterns: Sequence[str]) -> Iterator[Path]:
    """Files under `directory` matching any glob (`services/*/catalog-info.yaml`, `**/*.catalog.yaml`),
    relative to it; the same skipped directories, no symlinked directories entered, no escaping through
    `..`, sorted, each file once."""
    found: set[Path] = set()
    for pattern in patterns:
        if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ValueError(f"glob {pattern!r} must be relative to the location, without '..'")
        for path in glob_files(directory, pattern):   # never through a symlinked directory
            parts = path.relative_to(directory).parts[:-1]
            if path.is_file() and not any(p.startswith(".") or p in SKIPPED_DIRS for p in parts):
                found.add(path)
    yield from sorted(found)
