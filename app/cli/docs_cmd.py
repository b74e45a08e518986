"""`trellis docs build|status|list`: build an entity's TechDocs now, and see how its builds went."""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from app.cli.catalog_cmd import emit_json, fail, open_graph
from docs_builder.build import build_entity_docs, prune_docs, rebuild_changed
from docs_builder.storage import StorageError, storage_from_config
from graph import techdocs
from graph.model import RefError, parse_ref
from graph.visibility import EVERYTHING

EXIT_BUILD_FAILED = 2


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.group(name="docs")
def docs() -> None:
    """TechDocs: build entities' docs (MkDocs + techdocs-core) and list their builds."""


def canonical(ref: str) -> str:
    """A ref without a kind is a component (the usual owner of docs), as in Backstage's TechDocs URLs."""
    try:
        return str(parse_ref(ref, default_kind="component"))
    except RefError as exc:
        fail(f"{exc}; write refs as kind:namespace/name, e.g. component:default/payments-service")
    raise AssertionError  # unreachable


def _storage():
    try:
        return storage_from_config()
    except StorageError as exc:
        fail(str(exc))
    raise AssertionError  # unreachable


@docs.command("build")
@click.argument("ref", required=False)
@click.option("--force", is_flag=True, help="Build even when the docs' content hash is unchanged.")
@click.option("--changed", is_flag=True, help="Instead of one REF: rebuild every documented entity whose docs changed.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome(s) as JSON.")
def build(ref: str | None, force: bool, changed: bool, as_json: bool) -> None:
    """Build the docs of REF (e.g. component:default/payments-service). Exit 2 when the build failed."""
    if bool(ref) == changed:
        fail("give either REF or --changed")
    storage = _storage()
    with open_graph() as graph:
        if changed:
            outcomes = rebuild_changed(graph, storage, trigger="cli")
        else:
            try:
                outcomes = [build_entity_docs(graph, canonical(ref), storage, force=force, trigger="cli")]
            except (LookupError, techdocs.BuildInProgress) as exc:
                fail(str(exc.args[0] if exc.args else exc))
    if as_json:
        emit_json([o.as_json() for o in outcomes] if changed else outcomes[0].as_json())
    else:
        for o in outcomes:
            if o.status == "succeeded":
                searchable = ", indexed for search" if o.indexed else ""
                click.echo(f"{o.ref}: built {o.pages} page{'s' if o.pages != 1 else ''} in {o.seconds:.1f}s"
                           f"{searchable} (hash {o.hash[:12]})")
            elif o.status == "unchanged":
                click.echo(f"{o.ref}: docs unchanged since the last build (hash {o.hash[:12]}); --force rebuilds")
            else:
                click.echo(f"{o.ref}: build failed: {o.error}", err=True)
        if changed and not outcomes:
            click.echo("No documented entity.")
    if any(o.status == "failed" for o in outcomes):
        sys.exit(EXIT_BUILD_FAILED)


@docs.command("status")
@click.argument("ref")
@click.option("--log", "show_log", is_flag=True, help="Print the latest build's log too.")
@click.option("--json", "as_json", is_flag=True)
def status(ref: str, show_log: bool, as_json: bool) -> None:
    """The builds of REF, newest first."""
    with open_graph() as graph:
        builds = techdocs.list_builds(graph, canonical(ref))
    if as_json:
        emit_json(builds)
        return
    if not builds:
        click.echo(f"{canonical(ref)}: never built")
        return
    for b in builds:
        click.echo(f"{_when(b['started_at'])}  {b['status']:<9}  {b['trigger'] or '':<7}  pages {b['pages'] or 0:<4}"
                   f"  {(b['hash'] or '')[:12]}  {b['error'] or ''}")
    if show_log:
        click.echo(builds[0]["log"] or "(no output)")


@docs.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(as_json: bool) -> None:
    """Every documented entity and the state of its docs."""
    with open_graph() as graph:
        items = techdocs.documented_entities(graph, EVERYTHING)
    if as_json:
        emit_json(items)
        return
    for i in items:
        state = i["build"]["status"] if i["build"] else "not built"
        click.echo(f"{i['ref']:<50}  {state:<9}  {i['techdocs_ref']}")


@docs.command("prune")
def prune() -> None:
    """Remove the sites, search pages and build records of entities that were removed or lost their docs."""
    storage = _storage()
    with open_graph() as graph:
        pruned = prune_docs(graph, storage)
    for ref in pruned:
        click.echo(f"{ref}: docs removed")
    if not pruned:
        click.echo("Nothing to prune.")
