"""Bundling an OpenAPI or AsyncAPI document: its external `$ref`s replaced by what they point at.

Backstage's `$openapi` / `$asyncapi` placeholders put one self-contained document in `spec.definition`; the
document's `$ref: ./schemas/pet.yaml#/Pet` (or a URL) would otherwise point nowhere once stored. Here the
caller supplies `load(id)` (read and parse one document: local files stay inside the root, URLs go through
the integrations) and `join(base, ref)` (a ref relative to the document holding it); this module only walks.

Bounds, because whoever writes the document chooses what it references: each document is loaded once
(a thousand refs to one file cost one read), at most `max_documents` of them, external refs nest at most
`max_depth` deep (a cycle ends there), and the bundled result has at most `max_nodes` nodes (a "$ref bomb",
refs to refs to refs fanning out, is refused as soon as it passes the cap, never built).
References inside the root document (`#/components/...`) are kept as they are.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable


class BundleError(Exception):
    """The document cannot be bundled; the message is the reason."""


def _pointer(document: Any, pointer: str, ref: str) -> Any:
    """RFC 6901: `/components/schemas/Pet` inside `document` ("" is the whole document)."""
    value = document
    if not pointer:
        return value
    if not pointer.startswith("/"):
        raise BundleError(f"$ref '{ref}': '#{pointer}' is not a JSON pointer")
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise BundleError(f"$ref '{ref}' points to nothing (no '{part}')")
    return value


def bundle(root: Hashable, *, load: Callable[[Hashable], Any], join: Callable[[Hashable, str], Hashable],
           max_depth: int = 10, max_nodes: int = 100_000, max_documents: int = 100) -> Any:
    """The document `root` with every external `$ref` inlined (see the module's bounds)."""
    documents: dict[Hashable, Any] = {}
    nodes = 0

    def document(ident: Hashable) -> Any:
        if ident not in documents:
            if len(documents) >= max_documents:
                raise BundleError(f"references more than {max_documents} documents")
            documents[ident] = load(ident)
        return documents[ident]

    def walk(value: Any, base: Hashable, depth: int) -> Any:
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            raise BundleError(f"bundling it would take more than {max_nodes:,} nodes (references fan out too much)")
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and (not ref.startswith("#") or base != root):
                target, _, pointer = ref.partition("#")
                if depth >= max_depth:
                    raise BundleError(f"$ref '{ref}' nests more than {max_depth} references deep "
                                      f"(or references form a cycle)")
                ident = join(base, target) if target else base
                return walk(_pointer(document(ident), pointer, ref), ident, depth + 1)
            return {key: walk(item, base, depth) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, base, depth) for item in value]
        return value

    return walk(document(root), root, 0)
