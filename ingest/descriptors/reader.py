"""`read_catalog`: a file or directory in, accepted documents and precise rejections out.

The reader owns the order of work and the boundaries: which files are read (discovery, then Location
targets right after the Location that names them), that none is read twice (so Location cycles end), that
nothing outside the root is read, and how each failure is reported. The other modules each do one step.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .discovery import discover, discover_matching
from .files import FileProblem, read_text
from .limits import Limits
from .locations import location_targets
from .model import Document, Problem, ReadResult, Rejection
from .paths import display_path
from .substitutions import apply_substitutions
from .validation import describe_value, entity_ref, key_problems, validate_entity
from .yaml_loader import LoadFailure, load_documents
from ingest.integrations.readers import UrlReaders


# (sha256 of a file's text, the Location entities in it): what a caller may let the reader skip.
Reusable = tuple[str, list[dict]]
_SUBSTITUTION_MARKERS = ("$text", "$json", "$yaml", "$openapi", "$asyncapi")


@dataclass
class _FileResult:
    """What one file yields: accepted documents, rejections, and the Location targets it names."""

    documents: list[Document] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    targets: list[Path] = field(default_factory=list)
    digest: str | None = None
    reused: bool = False
    substituting: bool = False
    url_targets: list[str] = field(default_factory=list)   # http(s) Location targets (read by the caller)


_READERS: dict = {}   # per process: the URL readers of one Integrations (their clients, ETag caches)


def _fetch_url(integrations: Any, limits: Limits, url: str) -> str:
    """A URL's text through the integrations' URL readers (refused unless on a configured host)."""
    readers = _READERS.get(integrations)
    if readers is None:
        readers = _READERS[integrations] = UrlReaders(integrations, max_bytes=limits.max_file_bytes)
    return readers.read(url).text


class _FileReader:
    """Reads one file. Independent of every other file, so files can be read in parallel processes."""

    def __init__(self, path: Path, root: Path, limits: Limits, reusable: Reusable | None = None,
                 integrations: Any = None) -> None:
        self.integrations = integrations
        self.path = path
        self.root = root
        self.limits = limits
        self.reusable = reusable
        self.out = _FileResult()

    def reject(self, index: int | None, ref: str | None, problem: Problem) -> None:
        self.out.rejections.append(
            Rejection(display_path(self.path, self.root), index, ref, problem.field, problem.reason))

    def read(self) -> _FileResult:
        try:
            text = read_text(self.path, self.limits)
        except FileProblem as exc:
            self.reject(None, None, Problem(None, str(exc)))
            return self.out
        self.out.digest = hashlib.sha256(text.encode()).hexdigest()
        self.out.substituting = any(marker in text for marker in _SUBSTITUTION_MARKERS)
        if self.reusable and not self.out.substituting and self.reusable[0] == self.out.digest:
            targets: list[Path] = []
            problems = []
            for location in self.reusable[1]:
                found, trouble = location_targets(
                    location, base_dir=self.path.parent, root=self.root, max_matches=self.limits.max_files,
                    urls=self.out.url_targets if self.integrations is not None else None)
                targets.extend(found)
                problems.extend(trouble)
            if not problems:   # else read it again, so the problems are reported on their documents
                self.out.reused = True
                self.out.targets.extend(targets)
                return self.out
        for item in load_documents(text, self.limits):
            if isinstance(item, LoadFailure):
                self.reject(item.index, None, Problem(None, item.reason))
            elif item.data is not None:
                self.out.targets.extend(self.read_document(item.index, item.data))
        return self.out

    def read_document(self, index: int, data: Any) -> list[Path]:
        """Accept or reject one document; returns the Location targets it names (if accepted)."""
        path = self.path
        if not isinstance(data, dict):
            self.reject(index, None, Problem(
                None, f"document {index} is {describe_value(data)}, not a mapping with apiVersion, kind "
                      f"and metadata"))
            return []
        ref = entity_ref(data)
        problems = key_problems(data)
        if not problems:
            fetch = (lambda url: _fetch_url(self.integrations, self.limits, url)) \
                if self.integrations is not None else None
            data, problems = apply_substitutions(
                data, base_dir=path.parent, root=self.root, limits=self.limits, fetch_url=fetch)
        if not problems:
            data, problems = validate_entity(data, max_errors=self.limits.max_errors_per_document)
            ref = entity_ref(data) or ref
        if problems:
            for problem in problems[: self.limits.max_errors_per_document]:
                self.reject(index, ref, problem)
            return []
        self.out.documents.append(Document(path, index, data))
        if data["kind"] != "Location":
            return []
        targets, problems = location_targets(
            data, base_dir=path.parent, root=self.root, max_matches=self.limits.max_files,
            urls=self.out.url_targets if self.integrations is not None else None)
        for problem in problems:
            self.reject(index, ref, problem)
        return targets


def _read_one(args: tuple[Path, Path, Limits, Reusable | None, Any]) -> _FileResult:
    return _FileReader(*args).read()


class _Reader:
    """State of one read: the root, what was already seen, and the result.

    Files are read in waves (the discovered files, then the targets their Locations name, ...), each wave
    in parallel processes when it is large enough to pay for them; the result is assembled in reading
    order: each file, then right after it the targets its Locations named.
    """

    PARALLEL_MIN_FILES = 16

    def __init__(self, root: Path, limits: Limits, reusable: dict[Path, Reusable] | None = None,
                 integrations: Any = None) -> None:
        self.integrations = integrations
        self.root = root
        self.limits = limits
        self.reusable = reusable or {}
        self.result = ReadResult()
        self.seen: set[Path] = set()
        self.over_limit = False

    def reject(self, path: Path, index: int | None, ref: str | None, problem: Problem) -> None:
        self.result.rejections.append(
            Rejection(display_path(path, self.root), index, ref, problem.field, problem.reason))

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
            if not self.over_limit:  # said once, not once per skipped file
                self.over_limit = True
                self.result.truncated = True
                self.reject(found, None, None, Problem(
                    None, f"not read, nor any later file: one read is limited to "
                          f"{self.limits.max_files} descriptor files"))
            return None
        self.seen.add(resolved)
        return resolved

    def run(self, initial: list[Path]) -> ReadResult:
        roots = [p for p in (self.admit(found) for found in initial) if p is not None]
        results: dict[Path, _FileResult] = {}
        children: dict[Path, list[Path]] = {}
        wave = roots
        with _pool(len(roots) >= self.PARALLEL_MIN_FILES) as pool:
            while wave:
                jobs = [(path, self.root, self.limits, self.reusable.get(path), self.integrations) for path in wave]
                read = pool.map(_read_one, jobs, chunksize=4) if pool and len(wave) > 1 else map(_read_one, jobs)
                next_wave: list[Path] = []
                for path, file_result in zip(wave, read):
                    results[path] = file_result
                    children[path] = [p for p in (self.admit(t) for t in file_result.targets) if p is not None]
                    next_wave.extend(children[path])
                wave = next_wave
        stack = list(reversed(roots))
        while stack:   # depth-first: a file, then the files its Locations named
            path = stack.pop()
            done = results[path]
            self.result.files.append(path)
            self.result.documents.extend(done.documents)
            self.result.rejections.extend(done.rejections)
            if done.digest:
                self.result.digests[path] = done.digest
            if done.reused:
                self.result.reused.add(path)
            if done.substituting:
                self.result.substituting.add(path)
            self.result.url_targets.extend(u for u in done.url_targets if u not in self.result.url_targets)
            stack.extend(reversed(children[path]))
        return self.result


@contextmanager
def _pool(wanted: bool) -> Iterator[ProcessPoolExecutor | None]:
    workers = os.cpu_count() or 1
    if not wanted or workers < 2:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool


def read_catalog(target: Path, *, root: Path | None = None, limits: Limits = Limits(),
                 reusable: dict[Path, Reusable] | None = None, patterns: Sequence[str] | None = None,
                 integrations: Any = None) -> ReadResult:
    """Read a descriptor file, or every `catalog-info.y[a]ml` under a directory, plus Location targets.

    `root` (default: the directory itself, or the file's parent) bounds every file read, including
    substitutions and Location targets. Raises FileNotFoundError when `target` does not exist and
    ValueError when it lies outside `root`; every other problem is a Rejection in the result.

    `reusable` maps a resolved file path to (sha256 of its text, the Location entities it holds) from an
    earlier read the caller knows is still stored: such a file, if its text is unchanged and it uses no
    substitution (whose inputs could have changed), is not parsed again; it lands in `result.reused` and only
    its Locations' targets are followed.

    `patterns` (globs relative to a directory target) replace the `catalog-info.y[a]ml` discovery.

    `integrations` (ingest.integrations): placeholders naming an http(s) URL are read through its URL
    readers (configured hosts only), and Location targets that are URLs are collected in
    `result.url_targets` for the caller to read as URL locations. Without it, both are rejected.
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
    if patterns and is_dir:
        initial = list(discover_matching(resolved, patterns))
    else:
        initial = list(discover(resolved)) if is_dir else [resolved]
    return _Reader(base, limits, reusable, integrations).run(initial)
