"""`read_catalog`: a file or directory in, accepted documents and precise rejections out.

The reader owns the order of work and the boundaries: which files are read (discovery, then Location
targets right after the Location that names them), that none is read twice (so Location cycles end), that
nothing outside the root is read, and how each failure is reported. The other modules each do one step.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from .discovery import discover
from .files import FileProblem, read_text
from .limits import Limits
from .locations import location_targets
from .model import Document, Problem, ReadResult, Rejection
from .paths import display_path
from .substitutions import apply_substitutions
from .validation import describe_value, entity_ref, key_problems, validate_entity
from .yaml_loader import LoadFailure, load_documents


class _Reader:
    """State of one read: the root, the queue of files, what was already seen, and the result."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self.result = ReadResult()
        self.queue: deque[Path] = deque()
        self.seen: set[Path] = set()

    def name(self, path: Path) -> str:
        return display_path(path, self.root)

    def reject(self, path: Path, index: int | None, ref: str | None, problem: Problem) -> None:
        self.result.rejections.append(
            Rejection(self.name(path), index, ref, problem.field, problem.reason))

    def admit(self, found: Path) -> Path | None:
        """The resolved path to read, or None (already seen, outside the root, or over the file limit)."""
        resolved = found.resolve()
        try:
            resolved.relative_to(self.root)
        except ValueError:
            self.reject(found, None, None, Problem(
                None, "file resolves (through a symlink) outside the catalog root"))
            return None
        if resolved in self.seen:
            return None
        if len(self.seen) >= self.limits.max_files:
            self.reject(found, None, None, Problem(
                None, f"not read: the read already holds {self.limits.max_files} descriptor files"))
            return None
        self.seen.add(resolved)
        return resolved

    def run(self, initial: list[Path]) -> ReadResult:
        for found in initial:
            path = self.admit(found)
            if path is not None:
                self.queue.append(path)
        while self.queue:
            self.read_file(self.queue.popleft())
        return self.result

    def read_file(self, path: Path) -> None:
        self.result.files.append(path)
        try:
            text = read_text(path, self.limits)
        except FileProblem as exc:
            self.reject(path, None, None, Problem(None, str(exc)))
            return
        targets: list[Path] = []
        for item in load_documents(text, self.limits):
            if isinstance(item, LoadFailure):
                self.reject(path, item.index, None, Problem(None, item.reason))
            elif item.data is not None:
                targets.extend(self.read_document(path, item.index, item.data))
        # Targets are read right after the Location file that names them, in order.
        fresh = [p for p in (self.admit(t) for t in targets) if p is not None]
        self.queue.extendleft(reversed(fresh))

    def read_document(self, path: Path, index: int, data: Any) -> list[Path]:
        """Accept or reject one document; returns the Location targets it names (if accepted)."""
        if not isinstance(data, dict):
            self.reject(path, index, None, Problem(
                None, f"document {index} is {describe_value(data)}, not a mapping with apiVersion, kind "
                      f"and metadata"))
            return []
        ref = entity_ref(data)
        problems = key_problems(data)
        if not problems:
            data, problems = apply_substitutions(
                data, base_dir=path.parent, root=self.root, limits=self.limits)
        if not problems:
            data, problems = validate_entity(data, max_errors=self.limits.max_errors_per_document)
            ref = entity_ref(data) or ref
        if problems:
            for problem in problems[: self.limits.max_errors_per_document]:
                self.reject(path, index, ref, problem)
            return []
        self.result.documents.append(Document(path, index, data))
        if data["kind"] != "Location":
            return []
        targets, problems = location_targets(
            data, base_dir=path.parent, root=self.root, max_matches=self.limits.max_files)
        for problem in problems:
            self.reject(path, index, ref, problem)
        return targets


def read_catalog(target: Path, *, root: Path | None = None, limits: Limits = Limits()) -> ReadResult:
    """Read a descriptor file, or every `catalog-info.y[a]ml` under a directory, plus Location targets.

    `root` (default: the directory itself, or the file's parent) bounds every file read, including
    substitutions and Location targets. Raises FileNotFoundError when `target` does not exist and
    ValueError when it lies outside `root`; every other problem is a Rejection in the result.
    """
    target = Path(target)
    if not target.exists():
        raise FileNotFoundError(f"{target} does not exist")
    resolved = target.resolve()
    is_dir = resolved.is_dir()
    base = Path(root).resolve() if root is not None else (resolved if is_dir else resolved.parent)
    try:
        resolved.relative_to(base)
    except ValueError:
        raise ValueError(f"{target} is outside the catalog root {base}") from None
    initial = list(discover(resolved)) if is_dir else [resolved]
    return _Reader(base, limits).run(initial)
