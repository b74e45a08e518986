"""The values the descriptor layer hands out: accepted documents, rejections and the read result."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Document:
    """One accepted entity descriptor, after substitutions and validation."""

    file: Path      # absolute (resolved) path of the file it came from
    index: int      # 1-based position of the YAML document in that file
    entity: dict    # apiVersion, kind (canonical spelling for built-in kinds), metadata, spec...


@dataclass(frozen=True)
class Rejection:
    """Why a file or one document of it was not accepted, precise enough to fix it."""

    file: str              # relative to the read root when inside it, else absolute
    document: int | None   # 1-based document index; None when the whole file failed
    ref: str | None        # lower-case "kind:namespace/name" when readable
    field: str | None      # dotted JSON path ("spec.owner", "metadata.tags[2]"); None for file-level errors
    reason: str            # one human sentence

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "document": self.document,
            "ref": self.ref,
            "field": self.field,
            "reason": self.reason,
        }


@dataclass
class ReadResult:
    """Everything one read produced; documents and rejections are in file-reading order."""

    documents: list[Document] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    digests: dict[Path, str] = field(default_factory=dict)   # sha256 of each file read
    reused: set[Path] = field(default_factory=set)            # files skipped as unchanged (see `reusable`)
    substituting: set[Path] = field(default_factory=set)      # files using $text/$json/$yaml (never reused)
    truncated: bool = False                                   # the file limit was hit: some files not read
    url_targets: list[str] = field(default_factory=list)      # http(s) Location targets, when URLs are read

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return not self.rejections


@dataclass(frozen=True)
class Problem:
    """A field-level finding inside one document, before it is turned into a Rejection."""

    field: str | None
    reason: str
