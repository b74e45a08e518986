"""Running `trellis` in a process of its own, as an operator or another machine would."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def trellis(*args: str, env: dict, timeout: float = 180, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`trellis ARGS...` with this interpreter, its output captured."""
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", *args], env=env,
                          cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout)
