"""`trellis migrate`: bring the catalog database's schema to this release; and the same step at process start.

The web, worker and beat processes call `migrate_at_start` before they start serving: the first one to take
the database's migration lock migrates, the others wait and find nothing to do (graph.migrations).
"""
from __future__ import annotations

import time

import click

from app.cli.output import emit_json, fail
from graph.driver import Graph, Settings
from graph.driver import GraphUnavailable
from graph.migrations import MigrationInProgress, SchemaTooNew
from graph.schema import apply_schema
from graph import migrations


def _graph():
    return Graph(Settings.from_env())


def migrate_at_start(process: str, *, wait: float = 600.0) -> None:
    """Migrate before `process` starts; refuse to start against a newer schema. When Neo4j is unreachable the
    process starts anyway (pages answer 503, tasks retry) and migrates on first contact."""
    graph = _graph()
    try:
        graph.verify()
        ran = apply_schema(graph, wait=wait)
    except SchemaTooNew as exc:
        fail(f"{process} refuses to start: {exc}")
    except MigrationInProgress as exc:
        fail(f"{process} refuses to start: {exc} (waited {wait:.0f}s)")
    except GraphUnavailable as exc:
        click.echo(f"warning: {process}: {exc}; starting anyway, the schema is checked when it answers", err=True)
    else:
        if ran:
            click.echo(f"{process}: migrated the catalog database: {', '.join(ran)}", err=True)
    finally:
        graph.close()


@click.command()
@click.option("--wait", type=float, default=600.0, show_default=True,
              help="Seconds to wait for another process that holds the migration lock.")
@click.option("--status", "show_status", is_flag=True, help="Only show the schema versions and what was applied.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def migrate(wait: float, show_status: bool, as_json: bool) -> None:
    """Migrate the catalog database to this release's schema (idempotent; safe while other processes start).

    Exit code 0: up to date (or migrated now); 1: Neo4j unreachable, another process still migrating after
    --wait, or the database was migrated by a newer release than this one.
    """
    graph = _graph()
    try:
        graph.verify()
        before = migrations.status(graph)
        ran: list[str] = []
        started = time.monotonic()
        if not show_status:
            ran = apply_schema(graph, wait=wait)
        after = migrations.status(graph)
        history = migrations.applied(graph)
    except GraphUnavailable as exc:   # incl. SchemaTooNew and MigrationInProgress
        fail(str(exc))
    finally:
        graph.close()
    seconds = time.monotonic() - started
    if as_json:
        emit_json({"version": after["version"], "expected": after["expected"], "was": before["version"],
                   "ran": ran, "applied": history, "seconds": round(seconds, 3)})
        return
    if show_status:
        state = "up to date" if after["version"] == after["expected"] else "needs `trellis migrate`"
        click.echo(f"Schema version {after['version']}; this release's is {after['expected']} ({state}).")
    elif ran:
        click.echo(f"Migrated the catalog database from schema version {before['version']} to "
                   f"{after['version']} in {seconds:.1f}s: {', '.join(ran)}.")
    else:
        click.echo(f"The catalog database is up to date (schema version {after['version']}).")
    for record in history:
        click.echo(f"  {record['version']}  {record['name']}  (applied by {record.get('applied_by')}, "
                   f"{record.get('seconds', 0):.1f}s)")
