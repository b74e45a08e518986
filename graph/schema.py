"""Schema applied idempotently at start: the uniqueness constraint every MERGE relies on, plus indexes.

These statements are idempotent (`IF NOT EXISTS`) and applied again whenever this list changes. Anything more
(filling a new record from existing data, changing an index's definition) is a numbered migration in
graph/migrations.py; `apply_schema` runs both, under the database's migration lock.

The `*_lc` indexes back case-insensitive filters and the default sort (metadata.name) of entity lists.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from graph.migrations import MigrationInProgress, migrate

if TYPE_CHECKING:
    from graph.driver import Graph

STATEMENTS: tuple[str, ...] = (
    "CREATE CONSTRAINT entity_ref IF NOT EXISTS FOR (n:Entity) REQUIRE n.ref IS UNIQUE",
    "CREATE CONSTRAINT ingest_source_key IF NOT EXISTS FOR (s:IngestSource) REQUIRE s.key IS UNIQUE",
    "CREATE CONSTRAINT account_username IF NOT EXISTS FOR (a:Account) REQUIRE a.username IS UNIQUE",
    "CREATE CONSTRAINT api_token_id IF NOT EXISTS FOR (t:ApiToken) REQUIRE t.token_id IS UNIQUE",
    "CREATE CONSTRAINT ingest_run_id IF NOT EXISTS FOR (r:IngestRun) REQUIRE r.id IS UNIQUE",
    "CREATE CONSTRAINT catalog_meta_key IF NOT EXISTS FOR (m:CatalogMeta) REQUIRE m.key IS UNIQUE",
    # graph.write.bump_catalog_version's change records, read by graph.versioned.changes_between
    "CREATE CONSTRAINT catalog_change_version IF NOT EXISTS FOR (c:CatalogChange) REQUIRE c.version IS UNIQUE",
    "CREATE INDEX catalog_change_seq IF NOT EXISTS FOR (c:CatalogChange) ON (c.seq)",
    "CREATE INDEX entity_source IF NOT EXISTS FOR (n:Entity) ON (n.source)",
    "CREATE INDEX entity_kind IF NOT EXISTS FOR (n:Entity) ON (n.kind)",
    "CREATE INDEX entity_namespace IF NOT EXISTS FOR (n:Entity) ON (n.namespace)",
    "CREATE INDEX entity_name IF NOT EXISTS FOR (n:Entity) ON (n.name)",
    "CREATE INDEX entity_name_lc IF NOT EXISTS FOR (n:Entity) ON (n.name_lc)",
    "CREATE INDEX entity_title_lc IF NOT EXISTS FOR (n:Entity) ON (n.title_lc)",
    "CREATE INDEX entity_type_lc IF NOT EXISTS FOR (n:Entity) ON (n.type_lc)",
    "CREATE INDEX entity_lifecycle_lc IF NOT EXISTS FOR (n:Entity) ON (n.lifecycle_lc)",
    "CREATE INDEX entity_owner IF NOT EXISTS FOR (n:Entity) ON (n.owner)",
    "CREATE INDEX entity_system IF NOT EXISTS FOR (n:Entity) ON (n.system)",
    "CREATE INDEX ingest_run_started IF NOT EXISTS FOR (r:IngestRun) ON (r.started_at)",
    # Search (graph.search): full-text over entities and TechDocs pages, updated in each write transaction.
    "CREATE FULLTEXT INDEX entity_search IF NOT EXISTS FOR (n:Entity) "
    "ON EACH [n.name, n.title, n.description, n.tags, n.owner] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard-no-stop-words', `fulltext.eventually_consistent`: false}}",
    "CREATE FULLTEXT INDEX docpage_search IF NOT EXISTS FOR (p:DocPage) ON EACH [p.title, p.text] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard-no-stop-words', `fulltext.eventually_consistent`: false}}",
    "CREATE CONSTRAINT docpage_key IF NOT EXISTS FOR (p:DocPage) REQUIRE (p.entity_ref, p.path) IS UNIQUE",
    "CREATE CONSTRAINT repository_key IF NOT EXISTS FOR (r:Repository) REQUIRE r.key IS UNIQUE",
    "CREATE CONSTRAINT audit_event_id IF NOT EXISTS FOR (e:AuditEvent) REQUIRE e.id IS UNIQUE",
    "CREATE INDEX audit_event_at IF NOT EXISTS FOR (e:AuditEvent) ON (e.at)",
    "CREATE CONSTRAINT role_grant_key IF NOT EXISTS FOR (g:RoleGrant) REQUIRE g.principal IS UNIQUE",
    "CREATE CONSTRAINT signin_throttle_key IF NOT EXISTS FOR (t:SigninThrottle) REQUIRE t.key IS UNIQUE",
    "CREATE INDEX signin_throttle_updated IF NOT EXISTS FOR (t:SigninThrottle) ON (t.updated_at)",
    "CREATE CONSTRAINT signin_binding_key IF NOT EXISTS FOR (b:SigninBinding) REQUIRE b.key IS UNIQUE",
    "CREATE INDEX signin_binding_user IF NOT EXISTS FOR (b:SigninBinding) ON (b.user_ref)",
    "CREATE CONSTRAINT audit_event_agg IF NOT EXISTS FOR (e:AuditEvent) REQUIRE e.agg IS UNIQUE",
    "CREATE INDEX account_user_ref IF NOT EXISTS FOR (a:Account) ON (a.user_ref)",
    "CREATE CONSTRAINT docs_build_id IF NOT EXISTS FOR (b:DocsBuild) REQUIRE b.id IS UNIQUE",
    # Software Templates (graph.scaffolder): task records and their log events.
    "CREATE CONSTRAINT scaffolder_task_id IF NOT EXISTS FOR (t:ScaffolderTask) REQUIRE t.id IS UNIQUE",
    "CREATE INDEX scaffolder_task_created IF NOT EXISTS FOR (t:ScaffolderTask) ON (t.created_at)",
    "CREATE INDEX scaffolder_event_task IF NOT EXISTS FOR (e:ScaffolderEvent) ON (e.task, e.seq)",
    # Runtime facts (graph.builds, graph.kubernetes): CI builds and Kubernetes workloads/namespaces.
    "CREATE CONSTRAINT build_key IF NOT EXISTS FOR (b:Build) REQUIRE b.key IS UNIQUE",
    "CREATE CONSTRAINT k8s_workload_uid IF NOT EXISTS FOR (w:KubernetesWorkload) REQUIRE w.uid IS UNIQUE",
    "CREATE CONSTRAINT k8s_namespace_uid IF NOT EXISTS FOR (n:KubernetesNamespace) REQUIRE n.uid IS UNIQUE",
)

_applied: set[str] = set()
_applying = threading.Lock()


def apply_schema(graph: "Graph", *, wait: float = 600.0) -> list[str]:
    """Migrate the database to this release's schema version and apply the statements, once per process.

    Returns the names of the migrations this call ran (usually none). Raises `graph.migrations.SchemaTooNew`
    when a newer release migrated the database, and `MigrationInProgress` when another process is still
    migrating after `wait` seconds (0: do not wait, e.g. inside a web request).
    """
    key = f"{graph.settings.uri}/{graph.database}"
    if key in _applied:
        return []
    got = _applying.acquire(timeout=wait) if wait > 0 else _applying.acquire(blocking=False)
    if not got:
        raise MigrationInProgress("the catalog schema is being applied by this process; try again shortly")
    try:
        if key in _applied:
            return []
        ran = migrate(graph, STATEMENTS, wait=wait)
        _applied.add(key)
        return [m.name for m in ran]
    finally:
        _applying.release()


def forget_applied() -> None:
    """Check the database again on the next apply_schema (after a restore, or when readiness saw it change)."""
    _applied.clear()
