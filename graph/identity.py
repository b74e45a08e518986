"""Find the catalog `User` entity behind a signed-in identity (the sign-in resolvers' graph side).

Matching uses what the write path already stores: `name_lc` for metadata.name, and the lower-cased `facts`
strings (graph.filters.entity_facts) for spec.profile.email and metadata.annotations.<key>. Every lookup
returns all matching refs (sorted) so the caller can refuse an ambiguous match instead of guessing.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

_BY_FACT = """
MATCH (u:User) WHERE NOT u:Unresolved AND $fact IN u.facts
RETURN u.ref AS ref ORDER BY ref LIMIT 10
"""
_BY_NAME = """
MATCH (u:User) WHERE NOT u:Unresolved AND u.name_lc = $name
RETURN u.ref AS ref ORDER BY ref LIMIT 10
"""
_PROFILE = """
MATCH (u:User {ref: $ref}) WHERE NOT u:Unresolved RETURN u.descriptor AS descriptor
"""
_EXISTS = """
MATCH (u:User {ref: $ref}) WHERE NOT u:Unresolved RETURN u.ref AS ref
"""


def users_by_email(graph: "Graph", email: str) -> list[str]:
    """User refs whose spec.profile.email equals `email` (case-insensitive)."""
    email = (email or "").strip().lower()
    if not email:
        return []
    return [r["ref"] for r in graph.read(_BY_FACT, fact=f"spec.profile.email={email}")]


def users_by_name(graph: "Graph", name: str) -> list[str]:
    """User refs whose metadata.name equals `name` (case-insensitive), in any namespace."""
    name = (name or "").strip().lower()
    if not name:
        return []
    return [r["ref"] for r in graph.read(_BY_NAME, name=name)]


def users_by_annotation(graph: "Graph", key: str, value: str) -> list[str]:
    """User refs annotated `key: value` (both compared lower-case, as `facts` stores them)."""
    key, value = (key or "").strip().lower(), (value or "").strip().lower()
    if not key or not value:
        return []
    return [r["ref"] for r in graph.read(_BY_FACT, fact=f"metadata.annotations.{key}={value}")]


def user_exists(graph: "Graph", ref: str) -> bool:
    """Whether `ref` (lower-case `user:ns/name`) is a declared User entity."""
    return bool(graph.read(_EXISTS, ref=(ref or "").lower()))


def user_annotations(graph: "Graph", ref: str) -> dict[str, str]:
    """The catalog user's metadata.annotations (empty when it has none or is not a declared User)."""
    rows = graph.read(_PROFILE, ref=(ref or "").lower())
    if not rows or not rows[0]["descriptor"]:
        return {}
    try:
        annotations = (json.loads(rows[0]["descriptor"]).get("metadata") or {}).get("annotations") or {}
    except (ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}


def display_name(graph: "Graph", ref: str) -> str | None:
    """The catalog user's spec.profile.displayName (what the header shows for accounts without a name)."""
    rows = graph.read(_PROFILE, ref=(ref or "").lower())
    if not rows or not rows[0]["descriptor"]:
        return None
    try:
        name = (json.loads(rows[0]["descriptor"]).get("spec") or {}).get("profile", {}).get("displayName")
    except (ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name.strip() else None
