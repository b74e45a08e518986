"""Who runs a template (`Initiator`): what the portal's policy decided when the task was created, recorded with
the task so that the worker (scaffolder.tasks) applies exactly that. Its own module so that the service, which
queues tasks, and the worker, which runs them, both use it without importing each other."""
from __future__ import annotations

from dataclasses import dataclass, field

from graph.visibility import EVERYTHING, Visibility


@dataclass
class Initiator:
    """Who runs a template, as decided by the portal's policy (or an operator on the CLI)."""

    id: str                                   # principal id ("local:alice", "oidc:...", "cli:operator")
    label: str
    user_ref: str | None = None
    actions: set[str] = field(default_factory=lambda: {"read", "run", "ingest"})
    visibility: Visibility = EVERYTHING
    catalog_rules: list[dict] | None = None   # None: not bound (operators)

    def access_json(self) -> dict:
        v = self.visibility
        return {"actions": sorted(self.actions), "catalog_rules": self.catalog_rules,
                "visibility": {"everything": v.everything, "nothing": v.nothing, "claims": sorted(v.claims),
                               "hidden_kinds": sorted(v.hidden_kinds)}}

    @staticmethod
    def visibility_from(data: dict | None) -> Visibility:
        data = data or {}
        if data.get("everything"):
            return EVERYTHING
        return Visibility(nothing=bool(data.get("nothing")), claims=frozenset(data.get("claims") or ()),
                          hidden_kinds=frozenset(data.get("hidden_kinds") or ()))
