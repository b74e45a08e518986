"""The git provider's get: repository facts read from a working tree (default branch, last commit) and the
CODEOWNERS owners of each entity file (parsed and matched by .transform)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from plugins.builtin.git.transform import disagrees, owner_ref, owners_for, parse_codeowners

CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")


def find_codeowners(repo_root: Path) -> Path | None:
    """The repository's CODEOWNERS file, where GitHub and GitLab look for it (first found wins)."""
    for name in CODEOWNERS_LOCATIONS:
        path = repo_root / name
        if path.is_file():
            return path
    return None


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def repo_root(path: Path) -> Path | None:
    """The working tree containing `path`, or None when it is not in a git repository."""
    start = path if path.is_dir() else path.parent
    top = _git(start, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else None


def repository_facts(root: Path, *, key: str, url: str) -> dict:
    """{key, url, default_branch, last_commit, last_commit_at (ms)} of the working tree at `root`."""
    branch = _git(root, "symbolic-ref", "--short", "refs/remotes/origin/HEAD")
    branch = branch.split("/", 1)[1] if branch and "/" in branch else _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    last = _git(root, "log", "-1", "--format=%H%x00%ct")
    commit, at = (last.split("\x00") + [""])[:2] if last else (None, "")
    return {"key": key, "url": url, "default_branch": branch if branch != "HEAD" else None,
            "last_commit": commit or None, "last_commit_at": int(at) * 1000 if at.isdigit() else None}


def entity_links(root: Path, entities: dict[str, tuple[str | None, str | None]]) -> list[dict]:
    """One link per entity {ref: (file, declared owner)} inside `root`, with its CODEOWNERS owners."""
    file = find_codeowners(root)
    rules = parse_codeowners(file.read_text(encoding="utf-8", errors="replace")) if file else []
    links = []
    for ref, (path, owner) in entities.items():
        try:
            rel = Path(path or "").resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        owners = sorted({owner_ref(o) for o in owners_for(rules, rel)})
        links.append({"ref": ref, "path": rel, "codeowners": owners,
                      "codeowners_disagree": disagrees(owner, owners)})
    return links
