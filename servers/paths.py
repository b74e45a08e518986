"""Where a Trellis process keeps its local state (the `.trellis/` folder), in a checkout and when installed.

Why one place: the local Neo4j and Redis, their jars, the development secret key, the beat schedule and the
TechDocs sites all live there, and an installed wheel has no repository to put them in (`site-packages` is
neither writable nor the operator's). In a source checkout it stays `<checkout>/.trellis`, as before;
installed, it is `$TRELLIS_STATE_DIR`, else `$XDG_DATA_HOME/trellis` (`~/.local/share/trellis`).
`TRELLIS_STATE_DIR` wins everywhere, so a container or a test chooses it explicitly.
"""
from __future__ import annotations

import os
from pathlib import Path

#: The folder that holds the top-level packages (`app/`, `graph/`, ...): the checkout, or `site-packages`.
PACKAGES_ROOT: Path = Path(__file__).resolve().parents[1]


def is_checkout() -> bool:
    """True when running from a source checkout (editable install or PYTHONPATH), not from an installed wheel."""
    return (PACKAGES_ROOT / "pyproject.toml").is_file() and (PACKAGES_ROOT / "servers").is_dir()


def state_dir() -> Path:
    """`$TRELLIS_STATE_DIR`, else `<checkout>/.trellis`, else `$XDG_DATA_HOME/trellis` (never site-packages)."""
    value = os.environ.get("TRELLIS_STATE_DIR")
    if value:
        return Path(value).expanduser().resolve()
    if is_checkout():
        return PACKAGES_ROOT / ".trellis"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser().resolve() / "trellis"
