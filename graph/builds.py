"""CI builds as runtime facts: `(:Entity)-[:HAS_BUILD]->(:Build)`, never entity properties.

A Build node is keyed by `key` (`<provider>:<project>:<id>`); one build may belong to several entities that
name the same repository/job. Each HAS_BUILD relation carries the CI source that wrote it, so cleanup
removes only what that source linked and did not report again. Each entity keeps its newest N builds.
Its uniqueness constraint is in graph/schema.py. Unchanged builds are not rewritten: a re-sync where nothing changed only reads.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from graph.driver import Graph

DEFAULT_KEEP = 20
BUILD_FIELDS = ("provider", "id", "name", "number", "status", "branch", "commit", "started_at", "duration_ms", "url")
FAILED = {"failed"}
FINISHED = {"succeeded", "failed"}       # what a failure rate is computed over (cancelled/skipped say nothing)

def annotated_entities(graph: "Graph", keys: Iterable[str]) -> list[tuple[str, dict]]:
    """(ref, annotations) of every stored entity carrying one of the annotation `keys`."""
    keys = sorted(set(keys))
    rows = graph.read(
        "MATCH (n:Entity) WHERE n.descriptor IS NOT NULL AND any(k IN $keys WHERE n.descriptor CONTAINS k) "
        "RETURN n.ref AS ref, n.descriptor AS descriptor ORDER BY ref",
        keys=[json.dumps(k) for k in keys],
    )
    out = []
    for row in rows:
        annotations = (json.loads(row["descriptor"]).get("metadata") or {}).get("annotations") or {}
        if any(k in annotations for k in keys):
            out.append((row["ref"], annotations))
    return out


def load_builds(graph: "Graph", source: str, run_id: str, links: list[dict],
                keep: int = DEFAULT_KEEP) -> tuple[int, int]:
    """Write builds and link them: `links` = [{ref, builds: [build record]}]; then trim each entity to `keep`.

    Builds already stored with the same fields and linked by this source are not written again, so a
    re-sync where nothing changed only reads. Returns (records seen, Build nodes created).
    """
    rows = [{"ref": link["ref"], "key": b["key"], "props": {f: b.get(f) for f in BUILD_FIELDS}}
            for link in links for b in link["builds"]]
    stored, linked = _stored(graph, sorted({link["ref"] for link in links}), source)
    changed = [row for row in rows if stored.get((row["ref"], row["key"])) != row["props"]]
    for row in changed:
        linked.setdefault(row["ref"], set()).add(row["key"])
    created = 0
    for start in range(0, len(changed), 500):
        created += graph.write(
            "UNWIND $rows AS row MATCH (e:Entity {ref: row.ref}) "
            "MERGE (b:Build {key: row.key}) SET b += row.props "
            "MERGE (e)-[r:HAS_BUILD]->(b) SET r.source = $source, r.run = $run",
            rows=changed[start:start + 500], source=source, run=run_id,
        ).counters.nodes_created
    over = sorted(ref for ref, keys in linked.items() if len(keys) > keep)
    if over:   # only entities past their limit need the sort-and-cut
        trim(graph, over, keep)
    return len(rows), created


def _stored(graph: "Graph", refs: list[str],
            source: str) -> tuple[dict[tuple[str, str], dict], dict[str, set[str]]]:
    """(ref, build key) -> stored fields of the builds `source` linked to these entities, and every build
    key linked to each entity by any source (what the per-entity limit counts)."""
    fields: dict[tuple[str, str], dict] = {}
    linked: dict[str, set[str]] = {}
    for start in range(0, len(refs), 1000):
        rows = graph.read(
            "UNWIND $refs AS ref MATCH (:Entity {ref: ref})-[r:HAS_BUILD]->(b:Build) "
            "RETURN ref, b.key AS key, r.source = $source AS mine, b AS b",
            refs=refs[start:start + 1000], source=source,
        )
        for row in rows:
            linked.setdefault(row["ref"], set()).add(row["key"])
            if row["mine"]:
                fields[(row["ref"], row["key"])] = {f: row["b"].get(f) for f in BUILD_FIELDS}
    return fields, linked


def trim(graph: "Graph", refs: list[str], keep: int = DEFAULT_KEEP) -> None:
    """Keep each entity's newest `keep` builds; drop builds no entity links to any more."""
    graph.write(
        "UNWIND $refs AS ref MATCH (e:Entity {ref: ref})-[r:HAS_BUILD]->(b:Build) "
        "WITH e, r ORDER BY coalesce(b.started_at, 0) DESC, b.key DESC "
        "WITH e, collect(r) AS rels UNWIND rels[$keep..] AS old DELETE old",
        refs=refs, keep=max(keep, 0),
    )
    _drop_orphans(graph)


def cleanup(graph: "Graph", source: str, seen: list[dict], keep_refs: Iterable[str] = ()) -> int:
    """Unlink what `source` linked before and did not report this run; `seen` = [{ref, keys}] of this run.

    Entities in `keep_refs` (their fetch failed this run) keep everything. An entity that lost its CI
    annotation, or whose project no longer lists a build, loses those links. Called only after a sync whose
    remaining fetches succeeded.
    """
    deleted = 0
    for start in range(0, len(seen), 1000):
        deleted += graph.write(
            "UNWIND $seen AS s MATCH (:Entity {ref: s.ref})-[r:HAS_BUILD {source: $source}]->(b:Build) "
            "WHERE NOT b.key IN s.keys DELETE r",
            seen=seen[start:start + 1000], source=source,
        ).counters.relationships_deleted
    covered = sorted({s["ref"] for s in seen} | set(keep_refs))
    deleted += graph.write(
        "MATCH (e:Entity)-[r:HAS_BUILD {source: $source}]->(:Build) WHERE NOT e.ref IN $covered DELETE r",
        source=source, covered=covered,
    ).counters.relationships_deleted
    _drop_orphans(graph)   # also builds of entities removed from the catalog since the last run
    return deleted


def _drop_orphans(graph: "Graph") -> None:
    graph.write("MATCH (b:Build) WHERE NOT (b)<-[:HAS_BUILD]-() DETACH DELETE b")


def builds_for(graph: "Graph", ref: str, limit: int = DEFAULT_KEEP, provider: str | None = None) -> list[dict]:
    """An entity's builds, newest first."""
    rows = graph.read(
        "MATCH (:Entity {ref: $ref})-[:HAS_BUILD]->(b:Build) WHERE $provider IS NULL OR b.provider = $provider "
        "RETURN b ORDER BY coalesce(b.started_at, 0) DESC, b.key DESC LIMIT $limit",
        ref=ref, provider=provider, limit=max(limit, 0),
    )
    return [{f: row["b"].get(f) for f in BUILD_FIELDS} for row in rows]


def ci_health(builds: list[dict]) -> dict:
    """Last status and failure rate over finished builds (newest first input). Pure.

    The failure rate ignores running, cancelled and skipped builds: they say nothing about whether the code
    builds. `None` when there is no finished build.
    """
    finished = [b for b in builds if b.get("status") in FINISHED]
    failures = sum(1 for b in finished if b.get("status") in FAILED)
    last = builds[0] if builds else None
    last_finished = finished[0] if finished else None
    return {
        "count": len(builds),
        "last_status": last.get("status") if last else None,
        "last_finished_status": last_finished.get("status") if last_finished else None,
        "last_build": last,
        "finished": len(finished),
        "failures": failures,
        "failure_rate": round(failures / len(finished), 4) if finished else None,
        "providers": sorted({b.get("provider") for b in builds if b.get("provider")}),
    }
