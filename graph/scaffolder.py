"""Scaffolder task records: `:ScaffolderTask` (one run of a template) and its `:ScaffolderEvent` log lines.

Written by the scaffolder's runner (through scaffolder.recorder) and read by the API, pages and CLI. Nothing
here ever receives a secret: values and messages arrive masked. Nested data (steps, values, output, the
template snapshot) is stored as JSON strings, since Neo4j properties hold no nested maps.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graph.driver import Graph

KEEP = 5000                 # newest tasks kept (with their events)
STATUSES = ("open", "processing", "completed", "failed", "cancelled")
FINISHED = ("completed", "failed", "cancelled")
_JSON = ("values", "steps", "output", "spec", "user", "allowed")


def now_ms() -> int:
    return int(time.time() * 1000)


def create_task(graph: "Graph", task: dict) -> None:
    """Store a new task (status `open`); `task` holds plain values and the JSON fields of _JSON as data."""
    props = {k: (json.dumps(v) if k in _JSON else v) for k, v in task.items()}
    props.setdefault("status", "open")
    props.setdefault("created_at", now_ms())
    props["event_count"] = 0
    props["cancel_requested"] = False
    graph.write("CREATE (t:ScaffolderTask) SET t = $props", props=props)
    _prune(graph)


def _prune(graph: "Graph", keep: int = KEEP) -> None:
    rows = graph.read("MATCH (t:ScaffolderTask) RETURN count(t) AS c")
    extra = rows[0]["c"] - keep if rows else 0
    if extra > 0:
        graph.write("MATCH (t:ScaffolderTask) WITH t ORDER BY t.created_at ASC LIMIT $n "
                    "OPTIONAL MATCH (e:ScaffolderEvent {task: t.id}) DETACH DELETE e, t", n=min(extra, 1000))


def get_task(graph: "Graph", task_id: str) -> dict | None:
    rows = graph.read("MATCH (t:ScaffolderTask {id: $id}) RETURN properties(t) AS t", id=task_id)
    return _task(rows[0]["t"]) if rows else None


def list_tasks(graph: "Graph", *, created_by: str | None = None, status: str | None = None, limit: int = 50,
               offset: int = 0) -> list[dict]:
    """Newest first, without the template snapshot (`spec`)."""
    rows = graph.read(
        "MATCH (t:ScaffolderTask) WHERE ($by IS NULL OR t.created_by = $by) AND ($status IS NULL OR t.status = $status) "
        "RETURN properties(t) AS t ORDER BY t.created_at DESC, t.id SKIP $offset LIMIT $limit",
        by=created_by, status=status, offset=int(offset), limit=int(limit))
    out = []
    for row in rows:
        task = _task(row["t"])
        task.pop("spec", None)
        out.append(task)
    return out


def count_tasks(graph: "Graph", *, created_by: str | None = None, status: str | None = None) -> int:
    rows = graph.read(
        "MATCH (t:ScaffolderTask) WHERE ($by IS NULL OR t.created_by = $by) AND ($status IS NULL OR t.status = $status) "
        "RETURN count(t) AS c", by=created_by, status=status)
    return rows[0]["c"]


def _task(props: dict) -> dict:
    out = dict(props)
    for key in _JSON:
        if isinstance(out.get(key), str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                out[key] = None
    started, finished = out.get("started_at"), out.get("finished_at")
    out["seconds"] = round((finished - started) / 1000, 3) if started and finished else None
    return out


def update_task(graph: "Graph", task_id: str, **fields: Any) -> None:
    """Set fields of a task (JSON fields serialised)."""
    props = {k: (json.dumps(v) if k in _JSON else v) for k, v in fields.items()}
    graph.write("MATCH (t:ScaffolderTask {id: $id}) SET t += $props, t.updated_at = timestamp()",
                id=task_id, props=props)


def start_task(graph: "Graph", task_id: str, worker: str) -> str | None:
    """Move an `open` task to `processing` (atomically); returns the status it had before (None: no task)."""
    return _write_value(
        graph,
        "MATCH (t:ScaffolderTask {id: $id}) WITH t, t.status AS before "
        "SET t.status = CASE WHEN before = 'open' AND NOT coalesce(t.cancel_requested, false) THEN 'processing' "
        "ELSE before END, "
        "t.started_at = CASE WHEN before = 'open' THEN timestamp() ELSE t.started_at END, "
        "t.worker = CASE WHEN before = 'open' THEN $worker ELSE t.worker END "
        "RETURN before AS value", id=task_id, worker=worker)


def _write_value(graph: "Graph", query: str, **params: Any) -> Any:
    """Run a write query returning one `value` (None when it matched nothing)."""
    def work(tx):
        record = tx.run(query, params).single()
        return record["value"] if record else None
    return graph.write_tx(work)


def append_events(graph: "Graph", task_id: str, events: list[dict]) -> None:
    """Append log events in order; each gets the next `seq` (1, 2, ...) of its task."""
    if not events:
        return
    graph.write(
        "MATCH (t:ScaffolderTask {id: $id}) WITH t, coalesce(t.event_count, 0) AS base "
        "SET t.event_count = base + size($events) WITH base "
        "UNWIND range(0, size($events) - 1) AS i WITH base, i, $events[i] AS e "
        "CREATE (x:ScaffolderEvent {task: $id, seq: base + i + 1, at: e.at, type: e.type, step: e.step, "
        "level: e.level, message: e.message, status: e.status})",
        id=task_id, events=events)


def events(graph: "Graph", task_id: str, *, after: int = 0, limit: int = 1000) -> list[dict]:
    rows = graph.read(
        "MATCH (e:ScaffolderEvent {task: $id}) WHERE e.seq > $after "
        "RETURN e {.seq, .at, .type, .step, .level, .message, .status} AS e ORDER BY e.seq LIMIT $limit",
        id=task_id, after=int(after), limit=int(limit))
    return [dict(r["e"]) for r in rows]


def request_cancel(graph: "Graph", task_id: str) -> str | None:
    """Ask a task to stop: an open task is cancelled at once, a processing one stops before its next step
    (and `debug:wait`-like actions at once). Returns the task's status after the request (None: no task)."""
    return _write_value(
        graph,
        "MATCH (t:ScaffolderTask {id: $id}) "
        "SET t.cancel_requested = CASE WHEN t.status IN ['open', 'processing'] THEN true ELSE t.cancel_requested END, "
        "t.status = CASE WHEN t.status = 'open' THEN 'cancelled' ELSE t.status END, "
        "t.finished_at = CASE WHEN t.status = 'cancelled' AND t.finished_at IS NULL THEN timestamp() "
        "ELSE t.finished_at END "
        "RETURN t.status AS value", id=task_id)


def cancel_requested(graph: "Graph", task_id: str) -> bool:
    rows = graph.read("MATCH (t:ScaffolderTask {id: $id}) RETURN coalesce(t.cancel_requested, false) AS c",
                      id=task_id)
    return bool(rows and rows[0]["c"])


def entities_of_source(graph: "Graph", source: str) -> list[dict]:
    """The entities a location owns (what a `catalog:register` just added), components first."""
    rows = graph.read(
        "MATCH (n:Entity {source: $source}) WHERE NOT n:Unresolved "
        "RETURN n.ref AS ref, n.kind AS kind, n.name AS name ORDER BY CASE WHEN n.kind = 'Component' THEN 0 ELSE 1 END, "
        "n.ref", source=source)
    return [dict(r) for r in rows]


def existing_refs(graph: "Graph", refs: list[str]) -> dict[str, dict]:
    """Which of `refs` exist (resolved or placeholder), with kind, title and owner, for dry-run previews."""
    if not refs:
        return {}
    rows = graph.read(
        "MATCH (n:Entity) WHERE n.ref IN $refs "
        "RETURN n.ref AS ref, n.kind AS kind, n.title AS title, n.owner AS owner, n:Unresolved AS unresolved, "
        "n.source AS source", refs=list(set(refs)))
    return {r["ref"]: dict(r) for r in rows}
