"""Descriptor files fetched from a Git host: decoded and split into documents the way local files are.

Pure functions behind `SyncContext.read_descriptor_file` (the GitHub and GitLab providers). The bytes go through the same bounded YAML loader
and size limit as files on disk (ingest.descriptors), so a hostile repository costs no more remotely than
locally; validation itself is ingest.sync's job.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from ingest.descriptors.files import FileProblem, decode_utf8
from ingest.descriptors.limits import Limits
from ingest.descriptors.yaml_loader import LoadFailure, load_documents
from plugins.api import FileDocuments


def decode_base64_file(payload: Any, *, limits: Limits = Limits()) -> str:
    """The text of a contents-API answer (`{"encoding": "base64", "content": ...}`, GitHub and GitLab alike).

    Raises FileProblem with the reason for anything that is not a readable file.
    """
    if not isinstance(payload, dict):
        raise FileProblem("the repository answered with a directory listing, not a file")
    if payload.get("type", "file") != "file":
        raise FileProblem(f"the descriptor path is a {payload.get('type')}, not a file")
    size = payload.get("size")
    if isinstance(size, int) and size > limits.max_file_bytes:
        raise FileProblem(f"file is {size} bytes, larger than the limit of {limits.max_file_bytes} bytes")
    encoding = payload.get("encoding")
    content = payload.get("content")
    if encoding != "base64" or not isinstance(content, str):
        # GitHub answers `"encoding": "none"` with empty content for files over 1 MB.
        raise FileProblem(f"file content not returned inline (encoding {encoding!r}); is it larger than the "
                          f"API's inline limit?")
    try:
        data = base64.b64decode(content, validate=False)
    except (binascii.Error, ValueError):
        raise FileProblem("file content is not valid base64") from None
    if len(data) > limits.max_file_bytes:
        raise FileProblem(f"file is {len(data)} bytes, larger than the limit of {limits.max_file_bytes} bytes")
    return decode_utf8(data)


def split_documents(text: str, *, limits: Limits = Limits()) -> FileDocuments:
    """Every mapping document of a multi-document YAML text; empty documents are skipped, like Backstage."""
    out = FileDocuments()
    for item in load_documents(text, limits):
        if isinstance(item, LoadFailure):
            out.problems.append((item.index, item.reason))
        elif item.data is None:
            continue
        elif not isinstance(item.data, dict):
            out.problems.append((item.index, f"document is a {type(item.data).__name__}, not a mapping"))
        else:
            out.documents.append((item.index, item.data))
    return out


def read_descriptor_file(payload: Any, *, limits: Limits = Limits()) -> FileDocuments:
    """A contents-API answer as documents; an unreadable file is one problem (document None) with its reason."""
    try:
        text = decode_base64_file(payload, limits=limits)
    except FileProblem as exc:
        return FileDocuments(problems=[(None, str(exc))])
    return split_documents(text, limits=limits)
