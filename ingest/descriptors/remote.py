"""`read_url_catalog`: a descriptor file named by URL in, documents and precise rejections out.

The URL twin of `read_catalog`: the same YAML limits, substitutions (relative to the file's URL), validation
and rejections, and Location targets followed (absolute URLs, or relative to the Location's own URL) without
reading a file twice. It does no networking itself: the caller's `fetch` (the integrations' URL readers)
reads each URL and refuses hosts that are not configured, so an attacker-written target or `$text` reaches
only configured hosts. Files are read one after another in reading order (a file, then its targets).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from .limits import Limits
from .model import Problem, Rejection
from .substitutions import Remote, apply_substitutions
from .validation import describe_value, entity_ref, key_problems, validate_entity
from .yaml_loader import LoadFailure, load_documents

Fetch = Callable[[str], str]
Resolve = Callable[[str, str], str]


@dataclass(frozen=True)
class UrlDocument:
    url: str        # the file it came from
    index: int      # 1-based position in that file
    entity: dict


@dataclass
class UrlReadResult:
    documents: list[UrlDocument] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    files: list[str] = field(default_factory=list)          # URLs read (or attempted), in reading order
    failed: set[str] = field(default_factory=set)           # URLs that could not be read: keep their entities
    digests: dict[str, str] = field(default_factory=dict)
    truncated: bool = False


def _targets(spec: dict) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(spec.get("target"), str):
        out.append(("spec.target", spec["target"]))
    if isinstance(spec.get("targets"), list):
        out.extend((f"spec.targets[{i}]", t) for i, t in enumerate(spec["targets"]) if isinstance(t, str))
    return out


class _UrlReader:
    def __init__(self, fetch: Fetch, resolve: Resolve, limits: Limits) -> None:
        self.fetch, self.resolve, self.limits = fetch, resolve, limits
        self.result = UrlReadResult()
        self.seen: set[str] = set()

    def reject(self, url: str, index: int | None, ref: str | None, problem: Problem) -> None:
        self.result.rejections.append(Rejection(url, index, ref, problem.field, problem.reason))

    def admit(self, url: str) -> bool:
        if url in self.seen:
            return False
        if len(self.seen) >= self.limits.max_files:
            if not self.result.truncated:
                self.result.truncated = True
                self.reject(url, None, None, Problem(None, f"not read, nor any later file: one read is limited "
                                                           f"to {self.limits.max_files} descriptor files"))
            return False
        self.seen.add(url)
        return True

    def read_file(self, url: str, *, root: bool = False) -> list[str]:
        """Read one file; the URLs its Locations name, to be read next."""
        self.result.files.append(url)
        try:
            text = self.fetch(url)
        except Exception as exc:   # the fetcher's message is the reason (refused, 404, too large, ...)
            if root:
                raise
            self.result.failed.add(url)
            self.reject(url, None, None, Problem(None, str(exc)))
            return []
        if len(text.encode()) > self.limits.max_file_bytes:
            self.result.failed.add(url)
            self.reject(url, None, None, Problem(None, f"file is larger than the limit of "
                                                       f"{self.limits.max_file_bytes:,} bytes"))
            return []
        self.result.digests[url] = hashlib.sha256(text.encode()).hexdigest()
        targets: list[str] = []
        for item in load_documents(text, self.limits):
            if isinstance(item, LoadFailure):
                self.reject(url, item.index, None, Problem(None, item.reason))
            elif item.data is not None:
                targets.extend(self.read_document(url, item.index, item.data))
        return targets

    def read_document(self, url: str, index: int, data: Any) -> list[str]:
        """Accept or reject one document; the URLs its Location names (if accepted)."""
        if not isinstance(data, dict):
            self.reject(url, index, None, Problem(
                None, f"document {index} is {describe_value(data)}, not a mapping with apiVersion, kind "
                      f"and metadata"))
            return []
        ref = entity_ref(data)
        problems = key_problems(data)
        if not problems:
            data, problems = apply_substitutions(data, base_dir=None, root=None, limits=self.limits,  # type: ignore[arg-type]
                                                 remote=Remote(url, self.fetch, self.resolve))
        if not problems:
            data, problems = validate_entity(data, max_errors=self.limits.max_errors_per_document)
            ref = entity_ref(data) or ref
        if problems:
            for problem in problems[: self.limits.max_errors_per_document]:
                self.reject(url, index, ref, problem)
            return []
        self.result.documents.append(UrlDocument(url, index, data))
        if data["kind"] != "Location":
            return []
        spec = data.get("spec") or {}
        if spec.get("type") not in (None, "url"):
            self.reject(url, index, ref, Problem("spec.type", f"location type {spec.get('type')!r} cannot be read "
                                                              f"from a URL location (only 'url' targets)"))
            return []
        found: list[str] = []
        for where, target in _targets(spec):
            if any(c in target for c in "*?["):
                self.reject(url, index, ref, Problem(where, f"target '{target}' is a glob; globs are not read "
                                                            f"from URL locations (name each file)"))
                continue
            try:
                found.append(self.resolve(url, target.strip()))
            except Exception as exc:
                self.reject(url, index, ref, Problem(where, f"target '{target}' is not a URL: {exc}"))
        return found


def read_url_catalog(url: str, *, fetch: Fetch, resolve: Resolve, limits: Limits = Limits()) -> UrlReadResult:
    """Read the descriptor file at `url` and, depth-first, every file its Locations name.

    The first file's read failure is raised (the location cannot be read at all: nothing changes); a later
    file's failure is a file-level rejection, and its URL lands in `failed` so its stored entities are kept.
    """
    reader = _UrlReader(fetch, resolve, limits)
    reader.admit(url)
    stack = list(reversed(reader.read_file(url, root=True)))
    while stack:   # depth-first: a file, then the files its Locations named (no recursion: trees may be deep)
        target = stack.pop()
        if reader.admit(target):
            stack.extend(reversed(reader.read_file(target)))
    return reader.result
