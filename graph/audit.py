"""The audit log: `:AuditEvent` nodes for sign-ins, writes, denials and token use.

Neo4j is the durable store the portal already depends on, so the log survives restarts and is queryable like
everything else. Two kinds of event:
- `record_event`: one node per event (everything a signed-in principal does, and sign-in attempts, which the
  throttle already bounds per address).
- `record_aggregate`: failures anyone can cause without credentials (a bad bearer token, a forged session
  cookie, a CSRF failure, a throttled sign-in, a bad provider callback) are *counted*: one node per (action,
  outcome, reason, actor, source address, window of AGGREGATE_WINDOW_MS) whose `count` grows, with the
  first occurrence's details and `first_at`/`at` (last). A flood of such requests costs one node per address
  and minute, not one per request. IPv6 sources are counted per /64, which one attacker usually holds whole.
`prune` keeps the newest `keep` (KEEP) in bounded batches; the worker's beat schedule runs it (the
`trellis.audit_prune` task), and `trellis audit prune` does it on demand.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import time
import uuid
from typing import TYPE_CHECKING

from neo4j.exceptions import ConstraintError

if TYPE_CHECKING:
    from graph.driver import Graph

KEEP = 200_000
OUTCOMES = ("ok", "denied", "failed")
AGGREGATE_WINDOW_MS = 60_000
PRUNE_BATCH = 5_000

_AGGREGATE = """
MERGE (e:AuditEvent {agg: $agg})
ON CREATE SET e += $event
ON MATCH SET e.count = e.count + 1, e.at = $now
"""


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


def source_key(ip: str | None) -> str | None:
    """How a source address is counted: IPv4 as is, IPv6 by its /64 network."""
    if not ip:
        return ip
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def record_aggregate(graph: "Graph", *, action: str, outcome: str, actor: str | None, group: str,
                     ip: str | None = None, method: str | None = None, path: str | None = None,
                     details: dict | None = None, window_ms: int = AGGREGATE_WINDOW_MS,
                     now: int | None = None) -> None:
    """Count one event in its (action, outcome, group, actor, source, window) node, made on first use.

    `group` is what tells failures apart (a reason code from a fixed set, never free text from the request).
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    now = int(time.time() * 1000) if now is None else now
    start = now - now % window_ms
    source = source_key(ip)
    agg = hashlib.sha256("\x1f".join(str(part) for part in (
        action, outcome, group, actor, source, start)).encode()).hexdigest()[:40]
    event = {
        "id": uuid.uuid4().hex, "at": now, "first_at": now, "window_start": start, "window_ms": window_ms,
        "count": 1, "agg": agg, "action": action, "outcome": outcome, "actor": actor, "target": None,
        "ip": source, "method": method, "path": path,
        "details": json.dumps(details or {}, sort_keys=True, default=str),
    }
    try:
        graph.write(_AGGREGATE, agg=agg, event=event, now=now)
    except ConstraintError:      # two first occurrences raced to create the node: count into the winner
        graph.write(_AGGREGATE, agg=agg, event=event, now=now)


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
        event.pop("agg", None)
        try:
            event["details"] = json.loads(event.get("details") or "{}")
        except ValueError:
            event["details"] = {}
        out.append(event)
    return out


def count_events(graph: "Graph") -> int:
    rows = graph.read("MATCH (e:AuditEvent) RETURN count(e) AS c")
    return rows[0]["c"] if rows else 0


def prune(graph: "Graph", keep: int = KEEP) -> int:
    """Delete events beyond the newest `keep` (by last occurrence); returns how many were deleted."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be a whole number >= 0, got {keep!r}")
    extra = count_events(graph) - keep
    if extra <= 0:
        return 0
    left = extra
    while left > 0:   # bounded transactions, oldest first (the `at` index orders them)
        batch = min(left, PRUNE_BATCH)
        graph.write("MATCH (e:AuditEvent) WHERE e.at IS NOT NULL WITH e ORDER BY e.at ASC LIMIT $n "
                    "DETACH DELETE e", n=batch)
        left -= batch
    return extra
