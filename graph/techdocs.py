"""TechDocs build records: `(:Entity)-[:HAS_DOCS]->(:DocsBuild)`, one node per build attempt.

Why nodes and not entity properties: builds are runtime facts (DESIGN: "never stuffed into entity
properties"); the history shows when docs broke and why, and ingestion rewriting an entity never touches them.
Every time is milliseconds since the epoch, given by the caller. Statuses: "running", "succeeded", "failed".

Schema (in graph/schema.py): `CREATE CONSTRAINT docs_build_id ... REQUIRE b.id IS UNIQUE`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from graph.driver import Graph
    from graph.visibility import Visibility

TECHDOCS_ANNOTATION = "backstage.io/techdocs-ref"
FIELDS = ("id", "entity_ref", "status", "hash", "trigger", "started_at", "finished_at", "error", "log", "pages",
          "techdocs_ref")
KEEP_BUILDS = 20   # history kept per entity; older records are deleted when a build finishes


class BuildInProgress(RuntimeError):
    """Another build of the same entity is running (and has not outlived the time limit)."""


def _record(props: dict[str, Any] | None) -> dict | None:
    if props is None:
        return None
    return {f: props.get(f) for f in FIELDS}


def start_build(graph: "Graph", *, build_id: str, ref: str, techdocs_ref: str, hash: str | None, trigger: str,
                now: int, stale_after_ms: int) -> dict:
    """Create a running build for entity `ref`; raise BuildInProgress when one is running already.

    A running record older than `stale_after_ms` is a build whose worker died: it is marked failed and
    no longer blocks. LookupError when the entity is not in the catalog.
    """
    def work(tx):  # pure: may be retried
        entity = tx.run("MATCH (e:Entity {ref: $ref}) WHERE NOT e:Unresolved RETURN e.ref AS ref", ref=ref).single()
        if entity is None:
            return "missing", None
        tx.run(
            "MATCH (:Entity {ref: $ref})-[:HAS_DOCS]->(b:DocsBuild {status: 'running'}) "
            "WHERE b.started_at < $now - $stale "
            "SET b.status = 'failed', b.finished_at = $now, "
            "    b.error = 'the build did not finish (its worker stopped or timed out)'",
            ref=ref, now=now, stale=stale_after_ms,
        )
        running = tx.run(
            "MATCH (:Entity {ref: $ref})-[:HAS_DOCS]->(b:DocsBuild {status: 'running'}) RETURN b.id AS id LIMIT 1",
            ref=ref,
        ).single()
        if running is not None:
            return "running", running["id"]
        props = {"id": build_id, "entity_ref": ref, "status": "running", "hash": hash, "trigger": trigger,
                 "started_at": now, "techdocs_ref": techdocs_ref, "pages": 0}
        row = tx.run(
            "MATCH (e:Entity {ref: $ref}) CREATE (e)-[:HAS_DOCS]->(b:DocsBuild) SET b = $props "
            "RETURN properties(b) AS b",
            ref=ref, props=props,
        ).single()
        return "created", row["b"]

    state, value = graph.write_tx(work)
    if state == "missing":
        raise LookupError(f"{ref} is not in the catalog")
    if state == "running":
        raise BuildInProgress(f"a docs build of {ref} is already running ({value})")
    return _record(value)  # type: ignore[return-value]


def finish_build(graph: "Graph", build_id: str, *, status: str, now: int, hash: str | None = None,
                 error: str | None = None, log: str | None = None, pages: int = 0) -> None:
    """Close a build record and trim the entity's history to the newest KEEP_BUILDS.

    The newest successful record is always kept: the published site is served only while one is attached
    (app/web/docs_views), so a run of failed builds must not take the last good site offline."""
    if status not in ("succeeded", "failed"):
        raise ValueError(f"unknown final status {status!r}")
    graph.write(
        "MATCH (e:Entity)-[:HAS_DOCS]->(b:DocsBuild {id: $id}) "
        "SET b.status = $status, b.finished_at = $now, b.error = $error, b.log = $log, b.pages = $pages, "
        "    b.hash = coalesce($hash, b.hash) "
        "WITH e "
        "MATCH (e)-[:HAS_DOCS]->(old:DocsBuild) WHERE old.status <> 'running' "
        "WITH old ORDER BY old.started_at DESC "
        "WITH collect(old) AS olds "
        "WITH olds[$keep..] AS beyond, [x IN olds WHERE x.status = 'succeeded'][0] AS good "
        "UNWIND beyond AS old "
        "WITH old, good WHERE good IS NULL OR old <> good "
        "DETACH DELETE old",
        id=build_id, status=status, now=now, error=error, log=log, pages=pages, hash=hash, keep=KEEP_BUILDS,
    )


def get_build(graph: "Graph", build_id: str) -> dict | None:
    rows = graph.read("MATCH (:Entity)-[:HAS_DOCS]->(b:DocsBuild {id: $id}) RETURN properties(b) AS b", id=build_id)
    return _record(rows[0]["b"]) if rows else None


def list_builds(graph: "Graph", ref: str, limit: int = KEEP_BUILDS) -> list[dict]:
    """The entity's builds, newest first."""
    rows = graph.read(
        "MATCH (:Entity {ref: $ref})-[:HAS_DOCS]->(b:DocsBuild) "
        "RETURN properties(b) AS b ORDER BY b.started_at DESC, b.id DESC LIMIT $limit",
        ref=ref, limit=limit,
    )
    return [_record(r["b"]) for r in rows]  # type: ignore[misc]


def latest_build(graph: "Graph", ref: str) -> dict | None:
    builds = list_builds(graph, ref, limit=1)
    return builds[0] if builds else None


def latest_success(graph: "Graph", ref: str) -> dict | None:
    """The newest successful build: its hash says whether the published site is current."""
    rows = graph.read(
        "MATCH (:Entity {ref: $ref})-[:HAS_DOCS]->(b:DocsBuild {status: 'succeeded'}) "
        "RETURN properties(b) AS b ORDER BY b.started_at DESC LIMIT 1",
        ref=ref,
    )
    return _record(rows[0]["b"]) if rows else None


def _annotation(descriptor: str | None) -> str | None:
    if not descriptor:
        return None
    try:
        annotations = (orjson.loads(descriptor).get("metadata") or {}).get("annotations") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return None
    value = annotations.get(TECHDOCS_ANNOTATION)
    return str(value) if value not in (None, "") else None


def documented_entities(graph: "Graph", visibility: "Visibility") -> list[dict]:
    """Every readable entity that carries `backstage.io/techdocs-ref`, with its latest build (or None).

    The descriptor text is matched for the annotation key and the value read from the parsed JSON.
    """
    rows = graph.read(
        "MATCH (n:Entity) WHERE NOT n:Unresolved AND n.descriptor CONTAINS $key AND "
        f"{visibility.predicate('n')} "
        "CALL (n) { OPTIONAL MATCH (n)-[:HAS_DOCS]->(b:DocsBuild) "
        "  RETURN b ORDER BY b.started_at DESC LIMIT 1 } "
        "CALL (n) { OPTIONAL MATCH (n)-[:HAS_DOCS]->(s:DocsBuild {status: 'succeeded'}) "
        "  RETURN s ORDER BY s.started_at DESC LIMIT 1 } "
        "RETURN n.ref AS ref, n.kind AS kind, n.namespace AS namespace, n.name AS name, n.title AS title, "
        "       n.owner AS owner, n.system AS system, n.descriptor AS descriptor, "
        "       properties(b) AS build, properties(s) AS success "
        "ORDER BY n.ref",
        key=f'"{TECHDOCS_ANNOTATION}"', **visibility.params(),
    )
    out = []
    for r in rows:
        techdocs_ref = _annotation(r["descriptor"])
        if techdocs_ref is None:
            continue
        out.append({
            "ref": r["ref"], "kind": r["kind"], "namespace": r["namespace"], "name": r["name"],
            "title": r["title"], "owner": r["owner"], "system": r["system"], "techdocs_ref": techdocs_ref,
            "build": _record(r["build"]), "last_success": _record(r["success"]),
        })
    return out


def stale_docs(graph: "Graph") -> list[str]:
    """Refs whose docs should go: build records of entities that left the catalog (or became placeholders)
    and of entities that no longer carry the techdocs-ref annotation; not a ref whose entity came back and
    has builds of its own again (its site is the new one)."""
    rows = graph.read(
        "MATCH (b:DocsBuild) "
        "OPTIONAL MATCH (e:Entity)-[:HAS_DOCS]->(b) "
        "WITH b.entity_ref AS ref, e "
        "WHERE e IS NULL OR e:Unresolved OR NOT coalesce(e.descriptor, '') CONTAINS $key "
        "WITH DISTINCT ref "
        "WHERE NOT EXISTS { MATCH (live:Entity {ref: ref})-[:HAS_DOCS]->(:DocsBuild) "
        "                   WHERE NOT live:Unresolved AND coalesce(live.descriptor, '') CONTAINS $key } "
        "RETURN ref ORDER BY ref",
        key=f'"{TECHDOCS_ANNOTATION}"',
    )
    return [r["ref"] for r in rows]


def forget_entity_docs(graph: "Graph", refs: list[str]) -> None:
    """An entity leaves the catalog: its searchable docs pages go now, and its build records are detached.

    Why at once, not at the next `trellis docs prune`: the ref may come back from another source, with other
    owners and without the restriction, and must not inherit the old entity's pages in search nor its
    published site (served only with a build record attached). Detached records stay for prune, which removes
    the published site (stale_docs finds them: no entity holds them).
    """
    graph.write("UNWIND $refs AS ref MATCH (:Entity {ref: ref})<-[:DOCUMENTS]-(p:DocPage) DETACH DELETE p",
                refs=refs)
    graph.write("UNWIND $refs AS ref MATCH (:Entity {ref: ref})-[h:HAS_DOCS]->(:DocsBuild) DELETE h", refs=refs)


def delete_builds(graph: "Graph", ref: str) -> None:
    """Forget every build record of `ref` (attached or orphaned)."""
    graph.write("MATCH (b:DocsBuild {entity_ref: $ref}) DETACH DELETE b", ref=ref)
