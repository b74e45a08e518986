"""Backstage descriptor files in, validated documents and precise rejections out.

Pure Python (no Neo4j, no network): multi-document YAML read safely under limits, `$text/$json/$yaml`
substitutions from local files inside a root, JSON Schema validation per built-in kind, and Location
targets followed without loops. Turning documents into graph records is the transform's job, not this one.
"""
from __future__ import annotations

from .limits import Limits
from .model import Document, ReadResult, Rejection
from .reader import read_catalog
from .validation import BUILTIN_KINDS, canonical_kind, entity_ref

__all__ = [
    "BUILTIN_KINDS",
    "Document",
    "Limits",
    "ReadResult",
    "Rejection",
    "canonical_kind",
    "entity_ref",
    "read_catalog",
]
