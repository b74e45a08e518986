"""File-system boundaries and JSON-path spelling shared by the other modules.

Containment is decided on fully resolved paths (symlinks followed) so a link inside the root cannot
smuggle in a file from outside it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


_MAX_KEY = 100


def json_path(parts: Iterable[str | int]) -> str:
    """Dotted path like `spec.owner`, `metadata.tags[2]`, `metadata.annotations["backstage.io/x"]`.

    Keys longer than 100 characters are shortened with "..." so a hostile key cannot bloat every report.
    """
    out = ""
    for part in parts:
        if isinstance(part, str) and len(part) > _MAX_KEY:
            part = part[: _MAX_KEY - 3] + "..."
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


def display_path(path: Path, root: Path) -> str:
    """How a file is named in rejections: relative to the root when inside it, else absolute."""
    normal = Path(os.path.normpath(path))
    try:
        return normal.relative_to(root).as_posix()
    except ValueError:
        pass
    try:
        return normal.resolve().relative_to(root).as_posix()
    except (ValueError, OSError, RuntimeError):
        return normal.as_posix()


def is_url(value: str) -> bool:
    """Whether a target or substitution names a URL (scheme://...) rather than a path."""
    return bool(_URL.match(value))


def url_reason(value: str, what: str) -> str:
    """The rejection sentence for a URL that local ingestion cannot or will not read."""
    scheme = value.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        return f"remote {what} are not supported by local ingestion ({value})"
    return f"{what} with URL scheme '{scheme}' are not supported by local ingestion ({value})"
