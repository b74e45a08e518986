"""The `scaffolder:` section of TRELLIS_CONFIG: limits, where workspaces live, where `publish:git` may write.

```yaml
scaffolder:
  workdir: /var/lib/trellis/scaffolder    # task workspaces (default $TRELLIS_CACHE/scaffolder)
  git_roots: [/srv/git]                   # local folders publish:git may create bare repositories in
  max_each: 100                           # iterations of one step's `each`
  render_timeout: 5                       # seconds per template render
  max_render_chars: 10485760              # characters per render
  max_files: 20000                        # files in a workspace
  max_workspace_mb: 500
  task_timeout: 1800                      # seconds per task
  max_wait: 30                            # debug:wait's longest wait, seconds
  author: {name: Trellis, email: trellis@localhost}   # commits made by publish:*
```
Relative paths start at the config file's folder. A bad value stops the worker (and the portal) with its key.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scaffolder.expressions import Limits
from scaffolder.workspace import WorkspaceLimits


class ScaffolderConfigError(ValueError):
    """The scaffolder section is invalid; the message names the key."""


@dataclass(frozen=True)
class ScaffolderConfig:
    workdir: Path
    git_roots: tuple[Path, ...] = ()
    max_each: int = 100
    render: Limits = field(default_factory=Limits)
    workspace: WorkspaceLimits = field(default_factory=WorkspaceLimits)
    task_timeout: float = 1800.0
    max_wait: float = 30.0
    author_name: str = "Trellis"
    author_email: str = "trellis@localhost"
    git_timeout: float = 300.0
    http_timeout: float = 30.0


def _cache_root() -> Path:
    base = os.environ.get("TRELLIS_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "trellis"


def parse_config(data: Any, *, base_dir: Path | None = None) -> ScaffolderConfig:
    data = data or {}
    if not isinstance(data, dict):
        raise ScaffolderConfigError("scaffolder must be a mapping")
    base = base_dir or Path.cwd()

    def number(key: str, default: float, low: float, high: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ScaffolderConfigError(f"scaffolder.{key} must be a number between {low:g} and {high:g}")
        return value

    def path(value: Any, key: str) -> Path:
        if not isinstance(value, str) or not value:
            raise ScaffolderConfigError(f"scaffolder.{key} must be a path")
        p = Path(value).expanduser()
        return (p if p.is_absolute() else base / p).resolve()

    roots = data.get("git_roots") or []
    if not isinstance(roots, list):
        raise ScaffolderConfigError("scaffolder.git_roots must be a list of folders")
    author = data.get("author") or {}
    if not isinstance(author, dict):
        raise ScaffolderConfigError("scaffolder.author must be {name, email}")
    workdir = path(data["workdir"], "workdir") if data.get("workdir") else _cache_root() / "scaffolder"
    return ScaffolderConfig(
        workdir=workdir,
        git_roots=tuple(path(r, "git_roots") for r in roots),
        max_each=int(number("max_each", 100, 1, 10_000)),
        render=Limits(timeout=float(number("render_timeout", 5, 0.05, 600)),
                      max_output=int(number("max_render_chars", 10 * 1024 * 1024, 1024, 1 << 30))),
        workspace=WorkspaceLimits(max_files=int(number("max_files", 20_000, 1, 1_000_000)),
                                  max_bytes=int(number("max_workspace_mb", 500, 1, 100_000)) * 1024 * 1024),
        task_timeout=float(number("task_timeout", 1800, 1, 86_400)),
        max_wait=float(number("max_wait", 30, 0, 86_400)),
        author_name=str(author.get("name") or "Trellis"),
        author_email=str(author.get("email") or "trellis@localhost"),
    )


def load_config(config_path: str | None = None) -> ScaffolderConfig:
    path = config_path or os.environ.get("TRELLIS_CONFIG")
    if not path:
        return parse_config({})
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScaffolderConfigError(f"TRELLIS_CONFIG={path}: {exc}") from None
    if not isinstance(data, dict):
        raise ScaffolderConfigError(f"TRELLIS_CONFIG={path}: the top level must be a mapping")
    return parse_config(data.get("scaffolder"), base_dir=Path(path).resolve().parent)
