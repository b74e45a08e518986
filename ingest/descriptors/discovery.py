"""Finding descriptor files in a directory tree, deterministically.

Only `catalog-info.yaml` / `catalog-info.yml` are picked up (Backstage's convention); VCS metadata,
`node_modules` and hidden directories are skipped, and symlinked directories are not followed (no loops,
no escaping the tree). Order: a directory's own files first, then its subdirectories, all sorted.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

DESCRIPTOR_NAMES: tuple[str, ...] = ("catalog-info.yaml", "catalog-info.yml")
SKIPPED_DIRS: frozenset[str] = frozenset({"node_modules", "__pycache__"})


def discover(directory: Path) -> Iterator[Path]:
    """Descriptor files under `directory` (absolute paths, symlinked files included as found)."""
    for current, dirnames, filenames in os.walk(directory, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        for name in DESCRIPTOR_NAMES:
            if name in filenames:
                yield Path(current) / name
