"""A task's workspace and the only ways files get in or are reached inside it.

Backstage's history is the threat model: `resolveSafeChildPath` bypassed with symlink chains and dangling
links (CVE-2026-24047), `fs:delete`/`debug:log` following a link out of the workspace, tar/zip entries writing
outside (CVE-2026-24046). So here:
- a path from an input is relative, may not climb out (`..`), and no component on the way may be a symbolic
  link, existing or dangling (`safe_child`);
- copies into the workspace refuse symbolic links, device files and `.git` folders (a skeleton's
  `.git/config` could name a command for git to run), and count files and bytes (`Budget`);
- after every step the whole workspace is checked again (`verify`): a link made by any step fails the task.
"""
from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class WorkspaceError(ValueError):
    """A path or a tree is refused; the message says which and why."""


@dataclass(frozen=True)
class WorkspaceLimits:
    max_files: int = 20_000
    max_bytes: int = 500 * 1024 * 1024      # everything in the workspace
    max_file_bytes: int = 50 * 1024 * 1024  # one file


def _parts(relative: str, what: str) -> list[str]:
    if not isinstance(relative, str):
        raise WorkspaceError(f"{what} must be a string")
    if "\x00" in relative:
        raise WorkspaceError(f"{what} {relative!r} contains a NUL byte")
    text = relative.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise WorkspaceError(f"{what} {relative!r} is absolute; paths must be relative to the workspace")
    parts: list[str] = []
    for part in PurePosixPath(text).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise WorkspaceError(f"{what} {relative!r} leaves the workspace")
            parts.pop()
            continue
        parts.append(part)
    return parts


def safe_child(root: Path, relative: str | None, *, what: str = "path") -> Path:
    """`root/relative`, refusing absolute paths, `..` escapes and every symbolic link on the way (including
    the last component and dangling links), so the answer is a place inside `root` now and when written."""
    root = Path(root)
    if relative in (None, "", "."):
        return root
    current = root
    for part in _parts(relative, what):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            raise WorkspaceError(f"{what} {relative!r} goes through a file") from None
        if stat.S_ISLNK(mode):
            raise WorkspaceError(f"{what} {relative!r} goes through a symbolic link ({current.name}); links are not "
                                 f"followed in workspaces")
    return current


def relative_parts(relative: str, *, what: str = "path") -> list[str]:
    """The normalised components of a relative path (WorkspaceError for absolute or escaping ones)."""
    return _parts(relative, what)


class Budget:
    """Files and bytes written into one workspace, against its limits."""

    def __init__(self, limits: WorkspaceLimits) -> None:
        self.limits = limits
        self.files = 0
        self.bytes = 0

    def add(self, size: int, name: str) -> None:
        if size > self.limits.max_file_bytes:
            raise WorkspaceError(f"{name} is {size:,} bytes, over the per-file limit of {self.limits.max_file_bytes:,}")
        self.files += 1
        self.bytes += size
        if self.files > self.limits.max_files:
            raise WorkspaceError(f"more than {self.limits.max_files:,} files in the workspace")
        if self.bytes > self.limits.max_bytes:
            raise WorkspaceError(f"the workspace is over its limit of {self.limits.max_bytes:,} bytes")


def check_entry(path: Path, shown: str) -> os.stat_result:
    """lstat `path` and refuse anything but plain files and folders (and `.git` folders)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise WorkspaceError(f"{shown} is a symbolic link; templates and workspaces may not contain links")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise WorkspaceError(f"{shown} is not a regular file or folder")
    if path.name == ".git":
        raise WorkspaceError(f"{shown} is a .git folder or file; skeletons may not carry git metadata")
    return info


def walk(root: Path) -> list[tuple[str, Path, os.stat_result]]:
    """Every entry below `root` as (relative posix path, path, lstat), parents first, links refused."""
    out: list[tuple[str, Path, os.stat_result]] = []
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            names = sorted(os.listdir(folder))
        except NotADirectoryError:
            continue
        for name in names:
            path = folder / name
            rel = f"{prefix}{name}"
            info = check_entry(path, rel)
            out.append((rel, path, info))
            if stat.S_ISDIR(info.st_mode):
                stack.append((path, rel + "/"))
    return out


def copy_tree(src: Path, dest: Path, budget: Budget) -> int:
    """Copy a folder's plain files and folders into `dest` (made if missing); returns files copied."""
    if not src.is_dir() or os.path.islink(src):
        raise WorkspaceError(f"{src.name or src} is not a folder")
    entries = walk(src)
    dest.mkdir(parents=True, exist_ok=True)
    copied = 0
    for rel, path, info in entries:
        target = safe_child(dest, rel)
        if stat.S_ISDIR(info.st_mode):
            target.mkdir(exist_ok=True)
            continue
        budget.add(info.st_size, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_file(path, target, info)
        copied += 1
    return copied


def copy_file(src: Path, target: Path, info: os.stat_result | None = None) -> None:
    """Copy one regular file's bytes and permission bits, never following a link at either end."""
    info = info or os.lstat(src)
    if os.path.lexists(target) and os.path.islink(target):
        raise WorkspaceError(f"{target.name} is a symbolic link")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(src, flags)
    try:
        with os.fdopen(fd, "rb") as fin, open(target, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1024 * 1024)
    except BaseException:
        raise
    os.chmod(target, stat.S_IMODE(info.st_mode) & 0o755 | 0o600)


def verify(root: Path, limits: WorkspaceLimits) -> tuple[int, int]:
    """Check a whole workspace after a step: no links, no special files, within limits. (files, bytes)."""
    files = total = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in os.scandir(folder):
            info = entry.stat(follow_symlinks=False)
            rel = os.path.relpath(entry.path, root)
            if stat.S_ISLNK(info.st_mode):
                raise WorkspaceError(f"the workspace contains a symbolic link ({rel}); links are not allowed")
            if stat.S_ISDIR(info.st_mode):
                stack.append(Path(entry.path))
            elif stat.S_ISREG(info.st_mode):
                files += 1
                total += info.st_size
            else:
                raise WorkspaceError(f"the workspace contains a special file ({rel})")
    if files > limits.max_files:
        raise WorkspaceError(f"the workspace holds {files:,} files, over the limit of {limits.max_files:,}")
    if total > limits.max_bytes:
        raise WorkspaceError(f"the workspace holds {total:,} bytes, over the limit of {limits.max_bytes:,}")
    return files, total


def snapshot(root: Path, *, max_text: int = 256 * 1024) -> list[dict]:
    """Every file of a workspace as {path, size, text or None (binary or too long), executable} (dry runs)."""
    out = []
    for rel, path, info in walk(root):
        if stat.S_ISDIR(info.st_mode):
            continue
        text = None
        if info.st_size <= max_text:
            data = path.read_bytes()
            if b"\x00" not in data:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
        out.append({"path": rel, "size": info.st_size, "text": text,
                    "executable": bool(info.st_mode & stat.S_IXUSR)})
    return sorted(out, key=lambda f: f["path"])
