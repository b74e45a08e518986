"""Writing a tree of files for a test (a repository's content, a template's skeleton)."""
from __future__ import annotations

from pathlib import Path


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    """Each `relative path -> text or bytes` under `root`, folders made as needed."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
