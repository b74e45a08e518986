"""The audit log: one `:AuditEvent` node per sign-in, write, denial and token use.

Neo4j is the durable store the portal already depends on, so the log survives restarts and is queryable like
everything else. Events are append-only; `prune` keeps the newest `keep` (run after writes, in bounded
batches, so the log cannot grow without limit).
"""
from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.driver import Graph

KEEP = 200_000
OUTCOMES = ("ok", "denied", "failed")


def record_event(graph: "Graph", *, action: str, outcome: str, actor: str | None, target: str | None = None,
                 ip: str | None = None, method: str | None = None, path: str | None = None,
                 details: dict | None = None) -> str:
    """Append one event; returns its id."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    event = {
        "id": uuid.uuid4().hex, "at": int(time.time() * 1000), "action": action, "outcome": outcome,
        "actor": actor, "target": target, "ip": ip, "method": method, "path": path,
        "details": json.dumps(details or {}, sort_keys=True, default=str),
    }
    graph.write("CREATE (e:AuditEvent) SET e = $event", event=event)
    return event["id"]


def list_events(graph: "Graph", *, actor: str | None = None, action: str | None = None,
                outcome: str | None = None, before: int | None = None, limit: int = 100) -> list[dict]:
    """Newest first; `before` (an `at` in ms) pages backwards."""
    rows = graph.read(
        "MATCH (e:AuditEvent) "
        "WHERE ($actor IS NULL OR e.actor = $actor) AND ($action IS NULL OR e.action = $action) "
        "AND ($outcome IS NULL OR e.outcome = $outcome) AND ($before IS NULL OR e.at < $before) "
        "RETURN e {.*} AS e ORDER BY e.at DESC LIMIT $limit",
        actor=actor, action=action, outcome=outcome, before=before, limit=int(limit),
    )
    out = []
    for row in rows:
        event = dict(row["e"])
        try:
            event["details"] = json.loads(event.get("details") or "{}")
        except ValueError:
            event["details"] = {}
        out.append(event)
    return out


def prune(graph: "Graph", keep: int = KEEP) -> int:
    """Delete events beyond the newest `keep`; returns how many were deleted."""
    rows = graph.read("MATCH (e:AuditEvent) RETURN count(e) AS c")
    extra = rows[0]["c"] - keep if rows else 0
    if extra <= 0:
        return 0
    left = extra
    while left > 0:   # bounded transactions
        batch = min(left, 5000)
        graph.write("MATCH (e:AuditEvent) WITH e ORDER BY e.at ASC LIMIT $n DETACH DELETE e", n=batch)
        left -= batch
    return extra
