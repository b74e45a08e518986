"""Safety limits for reading descriptor files.

Descriptor files come from repositories we do not control, so every way a small input can cost a lot
(huge files, alias bombs, deep nesting, runaway substitutions or Location fan-out) has a ceiling here.
"""
from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Ceilings applied while reading; exceeding one rejects the file or document, never hangs."""

    max_file_bytes: int = 5 * MIB          # per descriptor or substituted file, checked with stat() first
    max_aliases: int = 1_000               # alias uses (`*name`) per YAML document
    max_nodes: int = 1_000_000             # YAML nodes per document *after* alias expansion
    max_expanded_chars: int = 20 * MIB     # scalar characters per document after alias expansion
    max_depth: int = 100                   # nesting depth of collections in one document
    max_substitution_bytes: int = 10 * MIB  # bytes pulled in by $text/$json/$yaml per document
    max_files: int = 50_000                # descriptor files read in one call (discovery + Locations)
    max_errors_per_document: int = 20      # validation rejections reported per document
