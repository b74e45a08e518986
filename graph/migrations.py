"""The versioned graph schema: numbered migrations, run once per database under a lock held in the database.

Why: a release may need more than `CREATE ... IF NOT EXISTS` (a new kind of stored record filled from the data
an older release wrote, an index whose definition changed), and several processes (web, worker, beat) start
together against one database. The database records its schema version (`(:CatalogMeta {key: 'schema'})`);
each process compares it with `SCHEMA_VERSION`, the version this code knows:

- lower: take the lock (`(:CatalogMeta {key: 'schema-lock'})`, a holder and an expiry, taken inside a write
  transaction after locking the node, so two processes can never both hold it), run the missing migrations in
  order, recording each as a `(:SchemaMigration {version, name, applied_at, applied_by, seconds})`, then the
  idempotent statements of graph/schema.py, then the new version. The others wait, and find nothing to do.
- higher: a newer release migrated this database; this process refuses to run (`SchemaTooNew`) rather than
  write records in a format the newer code no longer reads.

A database without a version record was written by 0.1.0 (or is empty): version 1.
"""
from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from neo4j.exceptions import Neo4jError

from graph.errors import GraphUnavailable
from graph import run_stats
from graph.walk import WALK_FACTS_CYPHER

if TYPE_CHECKING:
    from graph.driver import Graph

BASELINE_VERSION = 1          # 0.1.0's schema: what a database without a version record has
LOCK_TTL_MS = 10 * 60 * 1000  # a holder that died frees the lock after this long; renewed after every step
_SCHEMA_KEY = "schema"
_LOCK_KEY = "schema-lock"
_META_CONSTRAINT = "CREATE CONSTRAINT catalog_meta_key IF NOT EXISTS FOR (m:CatalogMeta) REQUIRE m.key IS UNIQUE"


class SchemaNotReady(GraphUnavailable):
    """The catalog database is reachable but its schema is not one this process may use (yet)."""


class SchemaTooNew(SchemaNotReady):
    """The database was migrated by a newer release than this one."""


class MigrationInProgress(SchemaNotReady):
    """Another process holds the migration lock (it is migrating, or applying the schema)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[["Graph"], None]


def _run_statistics(graph: "Graph") -> None:
    """2: per-status counters and duration buckets of finished ingest runs (graph.run_stats), which /metrics
    reports as Prometheus counters; runs are kept only 500 deep, so the counters start from the history the
    previous release recorded."""
    graph.write("CREATE CONSTRAINT ingest_run_stats_status IF NOT EXISTS "
                "FOR (s:IngestRunStats) REQUIRE s.status IS UNIQUE")
    run_stats.fold(graph, settle_ms=0)


def _walk_facts(graph: "Graph") -> None:
    """3: every entity and placeholder gets `walk_facts` (graph.walk.walk_facts), the one property a blast
    radius reads per walked node, computed from the properties it copies; written in batches so a 100k
    catalog is not one transaction. The answers do not change, so cached reads stay valid."""
    while graph.write(f"MATCH (n:Entity) WHERE n.walk_facts IS NULL WITH n LIMIT 20000 "
                      f"SET n.walk_facts = {WALK_FACTS_CYPHER}").counters.properties_set:
        pass


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "ingest run statistics for /metrics", _run_statistics),
    Migration(3, "walk facts: one property per entity for graph walks", _walk_facts),
)
SCHEMA_VERSION: int = MIGRATIONS[-1].version if MIGRATIONS else BASELINE_VERSION


def statements_hash(statements: tuple[str, ...]) -> str:
    """Fingerprint of the idempotent statements: when it changes they are applied again, without a migration."""
    return hashlib.sha256("\n".join(statements).encode()).hexdigest()[:16]


def holder_id() -> str:
    """Who holds the lock (shown by `trellis migrate` and in the migration records)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def status(graph: "Graph") -> dict:
    """The database's schema version, this code's, whether they agree, and who holds the migration lock."""
    rows = graph.read(
        "OPTIONAL MATCH (m:CatalogMeta {key: $schema}) OPTIONAL MATCH (l:CatalogMeta {key: $lock}) "
        "RETURN m.version AS version, m.statements AS statements, l.holder AS holder, "
        "l.expires_at AS expires, timestamp() AS now",
        schema=_SCHEMA_KEY, lock=_LOCK_KEY,
    )
    row = rows[0]
    version = row["version"] if row["version"] is not None else BASELINE_VERSION
    holder = row["holder"] if row["holder"] and (row["expires"] or 0) > row["now"] else None
    return {"version": version, "expected": SCHEMA_VERSION, "statements": row["statements"],
            "lock_holder": holder}


def applied(graph: "Graph") -> list[dict]:
    """The migrations recorded in this database, oldest first."""
    rows = graph.read("MATCH (m:SchemaMigration) RETURN properties(m) AS m ORDER BY m.version, m.applied_at")
    return [dict(r["m"]) for r in rows]


def too_new_message(version: int) -> str:
    return (f"the catalog database has schema version {version}, newer than this release knows "
            f"({SCHEMA_VERSION}): a newer Trellis migrated it. Run that release (or restore a backup taken "
            "before the upgrade); this one refuses to start so it does not write records the newer one "
            "cannot read.")


def check_not_too_new(state: dict) -> None:
    if state["version"] > SCHEMA_VERSION:
        raise SchemaTooNew(too_new_message(state["version"]))


def migrate(graph: "Graph", statements: tuple[str, ...], *, wait: float = 600.0,
            holder: str | None = None) -> list[Migration]:
    """Bring the database to SCHEMA_VERSION and apply `statements`; returns the migrations this call ran.

    Idempotent and safe to call from many processes at once: only the lock holder works; the others wait up
    to `wait` seconds (0: do not wait) and raise MigrationInProgress when it is still held.
    """
    wanted = statements_hash(statements)
    state = status(graph)
    check_not_too_new(state)
    if state["version"] == SCHEMA_VERSION and state["statements"] == wanted:
        return []
    holder = holder or holder_id()
    _ensure_meta_constraint(graph)
    deadline = time.monotonic() + wait
    while (other := _acquire(graph, holder)) is not None:
        check_not_too_new(status(graph))
        if time.monotonic() >= deadline:
            raise MigrationInProgress(f"the catalog database is being migrated by {other}; try again shortly")
        time.sleep(0.25)
    ran: list[Migration] = []
    try:
        state = status(graph)
        check_not_too_new(state)
        for migration in MIGRATIONS:
            if migration.version <= state["version"]:
                continue
            started = time.monotonic()
            migration.apply(graph)
            _record(graph, migration, holder, time.monotonic() - started)
            ran.append(migration)
            _acquire(graph, holder)   # renew the expiry between steps
        for statement in statements:
            graph.write(statement)
        graph.write("CALL db.awaitIndexes(300)")
        graph.write("MERGE (m:CatalogMeta {key: $key}) SET m.version = $version, m.statements = $hash, "
                    "m.updated_at = timestamp()", key=_SCHEMA_KEY, version=SCHEMA_VERSION, hash=wanted)
    finally:
        _release(graph, holder)
    return ran


def _ensure_meta_constraint(graph: "Graph") -> None:
    """The lock node is MERGEd: without this constraint two processes could each create one."""
    for attempt in range(5):
        try:
            graph.write(_META_CONSTRAINT)
            return
        except Neo4jError:   # another process created it at the same moment: look again
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def _acquire(graph: "Graph", holder: str) -> str | None:
    """Take (or renew) the lock; None when held by `holder` now, else the other holder's id."""
    def work(tx) -> str | None:
        # SET first: it write-locks the node, so the holder read after it is the committed one.
        row = tx.run("MERGE (l:CatalogMeta {key: $key}) SET l.touched_at = timestamp() "
                     "RETURN l.holder AS holder, l.expires_at AS expires, timestamp() AS now",
                     key=_LOCK_KEY).single()
        if row["holder"] and row["holder"] != holder and (row["expires"] or 0) > row["now"]:
            return row["holder"]
        tx.run("MATCH (l:CatalogMeta {key: $key}) SET l.holder = $holder, l.expires_at = timestamp() + $ttl",
               key=_LOCK_KEY, holder=holder, ttl=LOCK_TTL_MS).consume()
        return None

    return graph.write_tx(work)


def _release(graph: "Graph", holder: str) -> None:
    try:
        graph.write("MATCH (l:CatalogMeta {key: $key}) WHERE l.holder = $holder REMOVE l.holder, l.expires_at",
                    key=_LOCK_KEY, holder=holder)
    except GraphUnavailable:   # the lock expires by itself
        pass


def _record(graph: "Graph", migration: Migration, holder: str, seconds: float) -> None:
    graph.write("CREATE (m:SchemaMigration {version: $version, name: $name, applied_at: timestamp(), "
                "applied_by: $holder, seconds: $seconds})",
                version=migration.version, name=migration.name, holder=holder, seconds=round(seconds, 3))
    graph.write("MERGE (m:CatalogMeta {key: $key}) SET m.version = $version, m.updated_at = timestamp()",
                key=_SCHEMA_KEY, version=migration.version)
