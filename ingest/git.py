"""Git sources: shallow clones of repositories named by URL, kept in a cache and refreshed incrementally."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from ingest.cache import cache_root

_URL = re.compile(r"^(https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")


class GitError(RuntimeError):
    """A repository could not be cloned or fetched."""


def is_git_url(target: str) -> bool:
    """URLs (https, ssh, git, file, scp-like `git@host:org/repo`) and local bare repositories are cloned."""
    if _URL.match(target):
        return True
    path = Path(target)
    return path.is_dir() and (path / "HEAD").is_file() and (path / "objects").is_dir() and not (path / ".git").exists()


def is_remote_url(target: str) -> bool:
    """A network git URL (https, ssh, git, scp-like); `file://` and local paths are not remote."""
    return bool(_URL.match(target)) and not target.lower().startswith("file:")


def cache_dir() -> Path:
    return cache_root() / "git"


def checkout(url: str, *, cache: Path | None = None, timeout: float = 300) -> Path:
    """A working tree of the repository's default branch, cloned shallow or fast-forwarded if cached."""
    cache = cache or cache_dir()
    dest = cache / hashlib.sha256(url.encode()).hexdigest()[:20]
    # No prompts, and only ordinary transports: `ext::`/`fd::` URLs would run commands or read descriptors.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh"}
    if (dest / ".git").is_dir():
        _git(["fetch", "--depth", "1", "--quiet", "origin", "HEAD"], dest, env, timeout)
        _git(["reset", "--hard", "--quiet", "FETCH_HEAD"], dest, env, timeout)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    _git(["clone", "--depth", "1", "--quiet", "--no-tags", "--", url, str(tmp)], dest.parent, env, timeout)
    tmp.rename(dest)
    return dest


def _git(args: list[str], cwd: Path, env: dict, timeout: float) -> None:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise GitError(f"git {args[0]} failed: {last}")
