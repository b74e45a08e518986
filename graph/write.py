"""The single write path: batched `UNWIND` statements in managed transactions.

Providers hand over plain records; this module is the only place that turns them into writes. Labels and
relationship types formatted into statements come from `graph.model` (a fixed list, or a label sanitised to
letters and digits), never from user input; every value travels as a parameter.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence, TypeVar

from graph import versioned
from graph.techdocs import forget_entity_docs
from graph.model import RELATION_TYPES, Relation, kind_label, parse_ref
from graph.walk import walk_facts

if TYPE_CHECKING:
    from graph.driver import Graph

NODE_BATCH = 2000
REL_BATCH = 5000
WRITERS = int(os.environ.get("TRELLIS_WRITERS", "2"))   # concurrent CREATE batches

T = TypeVar("T")


@dataclass
class EntityRow:
    """One entity as the graph stores it."""

    ref: str
    kind: str
    namespace: str
    name: str
    hash: str
    file: str
    descriptor: str                 # the full entity as JSON, ready to serve
    title: str | None = None
    description: str | None = None
    type: str | None = None
    lifecycle: str | None = None
    owner: str | None = None
    system: str | None = None
    tags: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)   # graph.filters.entity_facts: generic filter paths
    restricted: bool = False                         # graph.visibility: readable by owners and admins only

    def props(self) -> dict:
        """Stored properties, plus lower-cased shadows so case-insensitive filters and sorts use indexes."""
        return {
            "ref": self.ref, "kind": self.kind, "namespace": self.namespace, "name": self.name,
            "hash": self.hash, "file": self.file, "descriptor": self.descriptor, "title": self.title,
            "description": self.description, "type": self.type, "lifecycle": self.lifecycle,
            "owner": self.owner, "system": self.system, "tags": self.tags, "facts": self.facts,
            "restricted": self.restricted,
            "name_lc": self.name.lower(), "title_lc": _lower(self.title), "type_lc": _lower(self.type),
            "lifecycle_lc": _lower(self.lifecycle),
            "walk_facts": walk_facts(self.ref, self.kind, self.owner, self.system, restricted=self.restricted),
        }


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


@dataclass(frozen=True)
class StoredEntity:
    ref: str
    source: str | None
    hash: str | None
    file: str | None


def _write_batches(graph: "Graph", query: str, chunks: Iterable[Sequence], *, parallel: bool,
                   prepare: Callable[[T], dict] | None = None, **params) -> None:
    """Run one statement per batch. CREATE-only batches touch disjoint new nodes or add relationships
    (lock conflicts are retried by the managed transaction), so two run at once and the server uses both
    cores; MERGE batches run one after another. `prepare` turns each item into its row as its batch is
    sent, so one batch is prepared while the server writes the other, not all of them before the first."""
    def send(chunk: Sequence) -> None:
        graph.write(query, rows=[prepare(item) for item in chunk] if prepare else list(chunk), **params)

    if not parallel:
        for chunk in chunks:
            send(chunk)
        return
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for _ in pool.map(send, chunks):
            pass


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------------------------------------- reads

def stored_by_source(graph: "Graph", source: str) -> dict[str, StoredEntity]:
    """Every entity a source owns, with its content hash (to tell unchanged from updated)."""
    records = graph.read(
        "MATCH (n:Entity {source: $source}) RETURN n.ref AS ref, n.hash AS hash, n.file AS file",
        source=source,
    )
    return {r["ref"]: StoredEntity(r["ref"], source, r["hash"], r["file"]) for r in records}


def stored_by_ref(graph: "Graph", refs: Iterable[str]) -> dict[str, StoredEntity]:
    """Which of these refs exist already, and which source owns them (None for placeholders)."""
    out: dict[str, StoredEntity] = {}
    refs = list(refs)
    for chunk in batches(refs, 20000):
        for r in graph.read(
            "UNWIND $refs AS ref MATCH (n:Entity {ref: ref}) "
            "RETURN n.ref AS ref, n.source AS source, n.hash AS hash, n.file AS file",
            refs=list(chunk),
        ):
            out[r["ref"]] = StoredEntity(r["ref"], r["source"], r["hash"], r["file"])
    return out


# ---------------------------------------------------------------------------------------------- writes

def upsert_entities(graph: "Graph", rows: Sequence[EntityRow], *, source: str, run: str,
                    fresh: set[str] = frozenset(), replace_relations: Iterable[str] = ()) -> None:
    """Write entity nodes (new or changed), filling placeholders; drop the relations they declared before.

    Refs in `fresh` have no node yet, so they are CREATEd (cheaper than MERGE on a bulk load).
    """
    now = int(time.time() * 1000)
    groups: dict[tuple[str, bool], list[EntityRow]] = defaultdict(list)
    for row in rows:
        groups[(kind_label(row.kind), row.ref in fresh)].append(row)
    for (label, is_new), group in groups.items():
        # `label` is a built-in kind or sanitised to [A-Za-z0-9]: safe to format in.
        if is_new:
            query = (
                f"UNWIND $rows AS row CREATE (n:Entity:`{label}`) "
                "SET n = row, n.source = $source, n.run = $run, n.first_seen = $now, n.updated_at = $now"
            )
        else:
            query = (
                "UNWIND $rows AS row "
                "MERGE (n:Entity {ref: row.ref}) "
                "ON CREATE SET n.first_seen = $now "
                f"SET n += row, n:`{label}`, n.source = $source, n.run = $run, n.updated_at = $now "
                "REMOVE n:Unresolved"
            )
        _write_batches(graph, query, batches(group, NODE_BATCH), parallel=is_new, prepare=EntityRow.props,
                       source=source, run=run, now=now)
        _touch(graph, (row.ref for row in group))
    declared = list(replace_relations)
    for chunk in batches(declared, NODE_BATCH):
        delete_declared_relations(graph, list(chunk))


def delete_declared_relations(graph: "Graph", refs: list[str]) -> None:
    """Remove the relationships these entities declared, and placeholders left with no relationship."""
    records = graph.write_tx(lambda tx: list(tx.run(
        "UNWIND $refs AS ref "
        "MATCH (n:Entity {ref: ref})-[r]-(m) WHERE ref IN r.by "
        "SET r.by = [x IN r.by WHERE x <> ref] "
        "WITH r, m WHERE size(r.by) = 0 "
        "WITH r, m, m.ref AS other "
        "DELETE r "
        "WITH DISTINCT m, other "
        "CALL (m) { WITH m WHERE m:Unresolved AND NOT (m)--() DELETE m } "
        "RETURN collect(other) AS others",
        refs=refs,
    )))
    _touch(graph, refs)
    _touch(graph, records[0]["others"] if records else ())


def ensure_placeholders(graph: "Graph", refs: Iterable[str]) -> list[str]:
    """Create `:Entity:Unresolved` nodes for refs no entity declares, so every relation has both ends."""
    wanted = sorted(set(refs))
    existing = stored_by_ref(graph, wanted)
    missing = [ref for ref in wanted if ref not in existing]
    by_label: dict[str, list[dict]] = defaultdict(list)
    for ref in missing:
        parsed = parse_ref(ref)
        by_label[kind_label(parsed.kind)].append(
            {"ref": ref, "kind": parsed.kind, "namespace": parsed.namespace, "name": parsed.name,
             "walk_facts": walk_facts(ref, parsed.kind, unresolved=True)}
        )
    for label, props in by_label.items():
        query = (
            "UNWIND $rows AS row MERGE (n:Entity {ref: row.ref}) "
            f"ON CREATE SET n:Unresolved:`{label}`, n.kind = row.kind, n.namespace = row.namespace, "
            "n.name = row.name, n.name_lc = row.name, n.walk_facts = row.walk_facts"
        )
        for chunk in batches(props, NODE_BATCH):
            graph.write(query, rows=list(chunk))
    _touch(graph, missing)
    return missing


def create_relations(graph: "Graph", relations: Sequence[tuple[Relation, str]], *, source: str, run: str,
                     fresh: set[str] = frozenset()) -> None:
    """Store relationships `(relation, declared_by)` once each; both ends must exist (see ensure_placeholders).

    The same relationship may be declared from both ends (a user's memberOf and its group's members): it is
    stored once, with every declarer in `r.by`, and goes away when the last declarer stops declaring it.
    A relationship touching a node that did not exist before this run (`fresh`) cannot exist yet, so it is
    CREATEd; the others are MERGEd.
    """
    merged: dict[tuple[str, str, str], dict] = {}
    for rel, by in relations:
        if rel.type not in RELATION_TYPES:
            raise ValueError(f"unknown relation type {rel.type}")
        row = merged.setdefault((rel.type, rel.source, rel.target),
                                {"s": rel.source, "t": rel.target, "by": [], "via": rel.via})
        if by not in row["by"]:
            row["by"].append(by)
    groups: dict[tuple[str, bool], list[dict]] = defaultdict(list)
    for (rel_type, start, end), row in merged.items():
        groups[(rel_type, start in fresh or end in fresh)].append(row)
    for (rel_type, is_new), rows in groups.items():
        # rel_type is checked against the fixed list above.
        if is_new:
            write_clause = (f"CREATE (a)-[:{rel_type} {{by: row.by, via: row.via, source: $source, run: $run}}]->(b)")
        else:
            write_clause = (
                f"MERGE (a)-[r:{rel_type}]->(b) "
                "ON CREATE SET r.by = row.by, r.via = row.via, r.source = $source, r.run = $run "
                "ON MATCH SET r.by = r.by + [x IN row.by WHERE NOT x IN r.by]"
            )
        query = "UNWIND $rows AS row MATCH (a:Entity {ref: row.s}) MATCH (b:Entity {ref: row.t}) " + write_clause
        _write_batches(graph, query, batches(rows, REL_BATCH), parallel=is_new, source=source, run=run)
        _touch(graph, itertools.chain.from_iterable((row["s"], row["t"]) for row in rows))


def remove_entities(graph: "Graph", refs: Sequence[str]) -> None:
    """Remove entities with the relations they declared.

    An entity that other entities still point at becomes a placeholder again, so their relations (and every
    impact answer) stay complete; one nobody points at is deleted.
    """
    for chunk in batches(list(refs), NODE_BATCH):
        chunk = list(chunk)
        delete_declared_relations(graph, chunk)
        forget_entity_docs(graph, chunk)
        graph.write(
            "UNWIND $refs AS ref MATCH (n:Entity {ref: ref}) WHERE NOT (n)--() DELETE n",
            refs=chunk,
        )
        graph.write(
            "UNWIND $refs AS ref MATCH (n:Entity {ref: ref}) "
            "SET n = {ref: n.ref, kind: n.kind, namespace: n.namespace, name: n.name, name_lc: toLower(n.name), "
            "walk_facts: [n.ref, coalesce(n.kind, ''), '', '', 'u']}, n:Unresolved",
            refs=chunk,
        )
        _touch(graph, chunk)


def record_source(graph: "Graph", source: str, *, target: str, run: str, summary: dict) -> None:
    """Remember a registered location and its last run (not an entity: the catalog holds declared ones)."""
    graph.write(
        "MERGE (s:IngestSource {key: $source}) "
        "ON CREATE SET s.created_at = timestamp() "
        "SET s.target = $target, s.last_run = $run, s.last_run_at = timestamp(), s += $summary",
        source=source, target=target, run=run, summary=summary,
    )


# ----------------------------------------------------------------------------------- what changed

CHANGE_REFS_MAX = 5_000
"""Refs one catalog version may record as changed; past that the version records "unknown" (every kept walk
is read again), so neither this process nor a change record grows with a bulk load."""
CHANGES_KEPT = 50
"""Change records kept in the graph (a process holding a walk older than that reads it again)."""

_touched_lock = threading.Lock()
_touched: dict[tuple[str, str], set[str] | None] = {}   # (uri, database) -> refs written since the last bump


def _touch(graph: "Graph", refs: Iterable[str]) -> None:
    """Remember refs this process's writes changed: called AFTER each write committed, so a version bump
    never records a change a reader could not see yet (graph.versioned.changes_between relies on it). None
    once there are more than CHANGE_REFS_MAX: unknown."""
    key = (graph.settings.uri, graph.database)
    with _touched_lock:
        known = _touched.setdefault(key, set())
        if known is None:
            return
        refs = iter(refs)
        while chunk := list(itertools.islice(refs, 1000)):   # a bulk load stops here soon, not after 900k refs
            known.update(chunk)
            if len(known) > CHANGE_REFS_MAX:
                _touched[key] = None
                return


_BUMP = """
MERGE (m:CatalogMeta {key: 'catalog'})
SET m.updated_at = timestamp()
WITH m
SET m.version = $token, m.seq = coalesce(m.seq, 0) + 1
WITH m.seq AS seq
CREATE (:CatalogChange {version: $token, seq: seq, refs: $refs, complete: $complete, at: timestamp()})
WITH seq
OPTIONAL MATCH (old:CatalogChange) WHERE old.seq <= seq - $kept
DELETE old
"""


def bump_catalog_version(graph: "Graph", *, record_changes: bool = False) -> str:
    """Give the catalog a new version token after a write, so read caches keyed on it expire.

    A random token rather than a counter: a wiped and reloaded database must never repeat an old version.
    With the token, in the same transaction, a `(:CatalogChange {version, seq, refs, complete})` record: the
    refs this process's write path changed since its last bump (entities and placeholders written or removed,
    both ends of every relationship written or deleted), so a kept walk none of them touches can move to the
    new version (graph.versioned.cached's `carry`). `record_changes=True` says those writes are the whole
    change (an ingest that finished, an unregister); otherwise (a failed run, any other caller) the record
    says "unknown" and every kept walk is read again. A facts run (builds, repositories, workloads: graph/
    builds.py and its siblings) records no refs: it writes no entity and no relationship between entities,
    which is all a kept walk reads; a cache that reads facts must not use `carry`. The first SET locks the meta
    node, so two bumps never read the same `seq`.
    """
    key = (graph.settings.uri, graph.database)
    with _touched_lock:
        refs = _touched.pop(key, set())
    complete = record_changes and refs is not None
    token = uuid.uuid4().hex
    try:
        graph.write(_BUMP, token=token, refs=sorted(refs) if complete else None, complete=complete,
                    kept=CHANGES_KEPT)
    except BaseException:
        with _touched_lock:   # those writes are recorded nowhere now: the next version must say "unknown"
            _touched[key] = None
        raise
    versioned.set_version(graph, token)
    return token
