"""The docs tree of a repository: which files belong to it, their content hash, a confined copy.

Why a copy: MkDocs follows symlinks and some extensions read files relative to the working folder; building
from a private copy that holds only regular files from inside the repository means a link to /etc/passwd or
to another checkout is never read. The hash covers the same files, so it changes exactly when the input does.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from docs_builder.errors import DocsBuildError

BUILDER_VERSION = "trellis-docs-1"   # part of every hash: a change to how we build invalidates old sites


@dataclass(frozen=True)
class TreeLimits:
    max_files: int = 10_000
    max_bytes: int = 100 * 1024 * 1024


@dataclass
class DocsTree:
    config_bytes: bytes
    files: list[tuple[str, Path]]         # (POSIX path relative to docs_dir, real path), sorted
    skipped: list[str]                    # links leaving the repository, not copied (named in the log)
    hash: str


def collect(root: Path, folder: Path, docs_dir: str, config_bytes: bytes,
            limits: TreeLimits = TreeLimits()) -> DocsTree:
    """The files under `folder/docs_dir` that resolve inside `root`, and the tree's content hash."""
    base = (folder / docs_dir).resolve()
    if not base.is_relative_to(root) or not base.is_dir():
        raise DocsBuildError(f"the docs folder {docs_dir!r} does not exist next to mkdocs.yml")
    files: list[tuple[str, Path]] = []
    skipped: list[str] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        kept_dirs = []
        for d in sorted(dirnames):
            if d.startswith(".git"):
                continue
            if (here / d).is_symlink():
                skipped.append((here / d).relative_to(base).as_posix())
                continue
            kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(base).as_posix()
            real = path.resolve()
            if not real.is_relative_to(root) or not real.is_file():
                skipped.append(rel)
                continue
            total += real.stat().st_size
            files.append((rel, real))
            if len(files) > limits.max_files:
                raise DocsBuildError(f"the docs folder has more than {limits.max_files} files")
            if total > limits.max_bytes:
                raise DocsBuildError(f"the docs folder is larger than {limits.max_bytes // (1024 * 1024)} MiB")
    files.sort()
    digest = hashlib.sha256()
    digest.update(BUILDER_VERSION.encode() + b"\0" + hashlib.sha256(config_bytes).digest())
    for rel, real in files:
        digest.update(rel.encode() + b"\0" + hashlib.sha256(real.read_bytes()).digest())
    return DocsTree(config_bytes=config_bytes, files=files, skipped=sorted(skipped), hash=digest.hexdigest())


def config_hash(config_bytes: bytes) -> str:
    """The hash of a build that failed on its mkdocs.yml alone (no docs tree was read)."""
    return hashlib.sha256(BUILDER_VERSION.encode() + b"\0config\0" + config_bytes).hexdigest()


def stage(tree: DocsTree, dest: Path) -> None:
    """Copy the tree's files (regular files only) under `dest`."""
    for rel, real in tree.files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real, target)
