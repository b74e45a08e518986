"""A per-location record of what each descriptor file produced last time, so unchanged files need no parsing.

It is only a shortcut: a file is skipped when its text is byte-identical *and* the graph still holds every
entity it produced with the same content hash (checked by the caller). Anything else is read again, so a
lost, stale or foreign cache costs time, never correctness.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from plugins.http import EtagCache, etag_cache_in
from servers.base import file_lock


def cache_root() -> Path:
    """`$TRELLIS_CACHE`, else `~/.cache/trellis` (resolved: paths under it are compared with resolved ones)."""
    return Path(os.environ.get("TRELLIS_CACHE") or Path.home() / ".cache" / "trellis").resolve()


def etag_cache_for(namespace: str) -> EtagCache:
    """The ETag cache of one API endpoint + credential, under `$TRELLIS_CACHE/http/` (plugins.http)."""
    return etag_cache_in(cache_root() / "http", namespace)


@contextlib.contextmanager
def ingest_lock(*scope: str) -> Iterator[None]:
    """An inter-process lock named after `scope` (e.g. the database), held for one ingest run."""
    name = hashlib.sha256("\n".join(scope).encode()).hexdigest()[:24]
    with file_lock(cache_root() / "locks" / f"{name}.lock"):
        yield


@dataclass
class FileEntry:
    digest: str                                           # sha256 of the file's text
    entities: dict[str, str] = field(default_factory=dict)   # ref -> content hash, as stored
    locations: list[dict] = field(default_factory=list)   # Location entities in the file (to re-follow)


class IngestCache:
    VERSION = 1

    def __init__(self, path: Path, files: dict[str, FileEntry] | None = None):
        self.path = path
        self.files: dict[str, FileEntry] = files or {}

    @classmethod
    def for_location(cls, source: str, database: str) -> "IngestCache":
        name = hashlib.sha256(f"{database}\n{source}".encode()).hexdigest()[:24]
        path = cache_root() / "ingest" / f"{name}.json"
        try:
            data = json.loads(path.read_text())
            if data.get("version") != cls.VERSION:
                return cls(path)
            return cls(path, {f: FileEntry(**e) for f, e in data["files"].items()})
        except (OSError, ValueError, TypeError, KeyError):
            return cls(path)

    def save(self) -> None:
        """Write atomically; a cache that cannot be written is simply not used next time."""
        data = {"version": self.VERSION, "files": {f: vars(e) for f, e in self.files.items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass
