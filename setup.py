"""Build steps of the wheel that pyproject.toml cannot express (all metadata lives in pyproject.toml).

Why: the portal serves its third-party front-end files (Cytoscape) from `app/static/vendor/`, which
`scripts/build-assets` fills from package-lock.json; a wheel built without them would serve pages whose graph
tab is broken. And the shipped Software Templates (`templates/`, when present) are files to copy as they are,
dotfiles and all, which package-data globs would not do; they are installed next to the packages, in the same
place relative to them as in a checkout.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
VENDOR = ROOT / "app" / "static" / "vendor"
REQUIRED_VENDOR_FILES = ("cytoscape.min.js",)
TEMPLATES = ROOT / "templates"


def ensure_vendor_assets() -> None:
    """Build the vendor files when missing; refuse to build a wheel without them."""
    if all((VENDOR / name).is_file() for name in REQUIRED_VENDOR_FILES):
        return
    script = ROOT / "scripts" / "build-assets"
    if script.is_file() and shutil.which("npm"):
        subprocess.run([str(script)], cwd=ROOT, check=True)
    missing = [name for name in REQUIRED_VENDOR_FILES if not (VENDOR / name).is_file()]
    if missing:
        raise SystemExit(f"app/static/vendor/ lacks {', '.join(missing)}: run scripts/build-assets (needs npm) "
                         "before building the wheel")


class BuildPy(build_py):
    """build_py plus the vendor files and the shipped Software Templates (a real wheel only, not -e)."""

    def run(self) -> None:
        editable = getattr(self, "editable_mode", False)
        if not editable:
            ensure_vendor_assets()
        super().run()
        if not editable and TEMPLATES.is_dir():
            target = Path(self.build_lib) / "templates"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(TEMPLATES, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPy})
