"""File helpers shared by the built-in actions (standard library only): walk without following links, write
without following links, glob patterns with globby's meaning."""
from __future__ import annotations

import os
import re
import stat
from functools import lru_cache
from pathlib import Path

from plugins.api import ActionError


def walk(root: Path) -> list[tuple[str, Path, bool]]:
    """(relative posix path, path, is_dir) below `root`, sorted, parents first; links and special files fail."""
    out: list[tuple[str, Path, bool]] = []

    def visit(folder: Path, prefix: str) -> None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            rel = prefix + entry.name
            if stat.S_ISLNK(info.st_mode):
                raise ActionError(f"{rel} is a symbolic link; links are not allowed")
            if stat.S_ISDIR(info.st_mode):
                out.append((rel, Path(entry.path), True))
                visit(Path(entry.path), rel + "/")
            elif stat.S_ISREG(info.st_mode):
                out.append((rel, Path(entry.path), False))
            else:
                raise ActionError(f"{rel} is not a regular file")

    visit(root, "")
    return out


def write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create or replace a file without following a link at `path`."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, flags, (mode & 0o755) | 0o600)
    except OSError as exc:
        raise ActionError(f"cannot write {path.name}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, (mode & 0o755) | 0o600)


def read_bytes(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def is_binary(data: bytes) -> bool:
    head = data[:8000]
    if b"\x00" in head:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(c)
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                i = end
        elif c == "{":
            end = pattern.find("}", i + 1)
            if end == -1:
                out += re.escape(c)
            else:
                out += "(?:" + "|".join(re.escape(p) for p in pattern[i + 1:end].split(",")) + ")"
                i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"(?:/.*)?\Z")


def matches(patterns: list[str] | None, rel: str) -> bool:
    """globby-style: `*` stays inside a folder, `**` crosses folders, a pattern naming a folder takes
    everything under it, `!pattern` excludes; dot files match."""
    if not patterns:
        return False
    hit = False
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            continue
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        while body.startswith("./"):
            body = body[2:]
        body = body.rstrip("/") or body
        if _compile(body).match(rel):
            hit = not negate
    return hit
