"""The running release's version, in one place: `trellis --version`, the portal's footer, `/api/v1/health`.

It is the installed distribution's version (pyproject.toml's, recorded in the wheel's metadata), so a
portal, a worker and a CLI report what was installed, not what a checkout says now.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import metadata


@lru_cache(maxsize=1)
def version() -> str:
    """`0.2.0` for an installed release; `0+unknown` when Trellis runs from sources that were never installed."""
    try:
        return metadata.version("trellis")
    except metadata.PackageNotFoundError:
        return "0+unknown"
