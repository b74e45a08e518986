"""Glob expansion that never follows a symlinked directory.

Why not `Path.glob`: before Python 3.13 it descends into symlinked directories for `*` segments (and `**`
follows them too), so a repository holding `l -> /` with a Location target `./l/*/*` would list, and
`./l/**/*` walk, the whole server. Here a directory is entered only when it is a real directory; a symlink
to a file may still match (the caller resolves it and checks it stays inside the root).
"""
from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path

_MAGIC = re.compile(r"[*?\[]")


def glob_files(root: Path, pattern: str, *, max_entries: int = 1_000_000) -> Iterator[Path]:
    """Paths under `root` matching the relative `pattern` (`*`, `?`, `[...]` per segment, `**` any depth).

    Symlinked directories are never entered; `max_entries` bounds the directory entries looked at (a walk
    of a huge tree stops there rather than running for minutes).
    """
    parts = [p for p in Path(pattern).parts if p not in ("", ".")]
    if not parts or Path(pattern).is_absolute() or ".." in parts:
        raise ValueError(f"glob {pattern!r} must be relative, without '..'")
    budget = [max_entries]
    seen: set[Path] = set()
    for path in _match(root, parts, budget):
        if path not in seen:
            seen.add(path)
            yield path


def _entries(directory: Path, budget: list[int]) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            entries = []
            for entry in it:
                budget[0] -= 1
                if budget[0] < 0:
                    break
                entries.append(entry)
            return entries
    except OSError:
        return []


def _is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _match(directory: Path, parts: list[str], budget: list[int]) -> Iterator[Path]:
    head, rest = parts[0], parts[1:]
    if head == "**":
        # zero directories, then every real subdirectory at any depth (never through a link)
        yield from _match_rest(directory, rest, budget)
        for entry in _entries(directory, budget):
            if _is_real_dir(entry):
                yield from _match(Path(entry.path), parts, budget)
        return
    if not _MAGIC.search(head):
        candidate = directory / head
        if not rest:
            if os.path.lexists(candidate):
                yield candidate
        elif candidate.is_dir() and not candidate.is_symlink():
            yield from _match(candidate, rest, budget)
        return
    for entry in sorted(_entries(directory, budget), key=lambda e: e.name):
        if not fnmatch.fnmatchcase(entry.name, head):
            continue
        if not rest:
            yield Path(entry.path)
        elif _is_real_dir(entry):
            yield from _match(Path(entry.path), rest, budget)


def _match_rest(directory: Path, rest: list[str], budget: list[int]) -> Iterator[Path]:
    if not rest:
        yield directory
    else:
        yield from _match(directory, rest, budget)
