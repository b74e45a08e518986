"""Built-in `git` provider: a local path or git URL ingested like `trellis ingest`, plus repository facts.

Declared in Trellis' pyproject.toml under `[project.entry-points."trellis.plugins"]` as `git`, loaded
through plugins.registry exactly like a third-party plugin.
"""
from __future__ import annotations

from plugins.builtin.git.provider import GitProvider


def register(registry) -> None:
    registry.add_provider(GitProvider())
