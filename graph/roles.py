"""Role grants made on the admin page (configuration grants live in the portal's config file).

A grant gives one principal key a role: `user:ns/name`, `group:ns/name` (everyone in the group and its
sub-groups), `local:<username>` (a local account) or `service:<name>` (a service token).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from graph import versioned

if TYPE_CHECKING:
    from graph.driver import Graph


def grant_role(graph: "Graph", principal: str, role: str, granted_by: str) -> None:
    graph.write(
        "MERGE (g:RoleGrant {principal: $principal}) "
        "SET g.role = $role, g.granted_by = $by, g.granted_at = $at",
        principal=principal, role=role, by=granted_by, at=int(time.time() * 1000),
    )
    versioned.bump_access_version(graph)


def revoke_role(graph: "Graph", principal: str) -> bool:
    summary = graph.write("MATCH (g:RoleGrant {principal: $principal}) DELETE g", principal=principal)
    versioned.bump_access_version(graph)
    return summary.counters.nodes_deleted > 0


def role_grants(graph: "Graph", principals: list[str] | None = None) -> dict[str, str]:
    """principal -> role, for the given principal keys (all grants when None)."""
    rows = graph.read(
        "MATCH (g:RoleGrant) WHERE $principals IS NULL OR g.principal IN $principals "
        "RETURN g.principal AS principal, g.role AS role", principals=principals)
    return {r["principal"]: r["role"] for r in rows}


def list_grants(graph: "Graph") -> list[dict]:
    rows = graph.read("MATCH (g:RoleGrant) RETURN g {.*} AS g ORDER BY g.principal")
    return [dict(r["g"]) for r in rows]
