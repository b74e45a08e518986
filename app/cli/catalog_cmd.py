"""Catalog commands: ingest (with a progress bar on a terminal), impact, deps, report, up (with the jobs)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from app import locations
from app.cli import remote
from app.cli.demo_access import prepare_demo_access
from app.cli.output import EXIT_FATAL, EXIT_OK, EXIT_REJECTED, emit_json, fail  # noqa: F401 (re-exported)
from app.cli.serve_cmd import gunicorn_argv, run_server
from app.locations import DEMO_CATALOG, LocationPolicy
from graph.driver import Graph, GraphUnavailable, Settings, connect
from graph.impact import DEFAULT_DEPTH, DEFAULT_PAGE, MAX_DEPTH, MAX_PAGE, EntityNotFound, blast_radius
from graph.model import RefError, parse_ref
from graph.ownership import ownership_report, report_csv
from graph.server import start as start_neo4j
from ingest.jobs.config import ConfigError, load_config
from ingest.sync import IngestError, RemovalGuard, ingest as run_ingest
from servers import redis as redis_local
from servers.neo4j import ServerError

OPERATOR = LocationPolicy()   # rules None: the operator at the database is bound by no catalog rule
SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "catalog-info.yaml"


@contextmanager
def open_graph() -> Iterator[Graph]:
    try:
        graph = connect(Settings.from_env())
    except GraphUnavailable as exc:
        hint = "" if os.environ.get("NEO4J_URI") else " (start it with `trellis neo4j start`)"
        fail(f"{exc}{hint}")
    try:
        yield graph
    except GraphUnavailable as exc:
        fail(str(exc))
    finally:
        graph.close()


def canonical(ref: str) -> str:
    try:
        return str(parse_ref(ref))
    except RefError as exc:
        fail(f"{exc}; write refs as kind:namespace/name, e.g. resource:default/payments-db")
    raise AssertionError  # unreachable: fail() exits


# ------------------------------------------------------------------------------------------- ingest

@click.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (see README for the shape).")
@click.option("--dry-run", is_flag=True, help="Read, validate and compare, but write nothing.")
@click.option("--force", is_flag=True, help="Allow removing more than half of this location's entities.")
def ingest(target: str, as_json: bool, dry_run: bool, force: bool) -> None:
    """Load Backstage descriptors from a file, a directory or a git repository (path or URL).

    Exit code 0: every document accepted; 2: some rejected or in conflict (the rest stored); 1: fatal.
    """
    with open_graph() as graph, _progress_bar(enabled=not as_json and sys.stdout.isatty()) as progress:
        try:   # the operator's ingest: any target, any kind (the same use case the portal and the API call)
            result = locations.register(graph, target, policy=OPERATOR, dry_run=dry_run,
                                        guard=RemovalGuard(force=force), progress=progress)
        except locations.LocationError as exc:
            fail(exc.message)
    if as_json:
        emit_json(result.as_json())
    else:
        _print_ingest(result)
    sys.exit(EXIT_OK if result.ok else EXIT_REJECTED)


@contextmanager
def _progress_bar(*, enabled: bool) -> Iterator:
    """A rich progress bar fed by the ingest's (stage, done, total) reports; None when not on a terminal."""
    if not enabled:
        yield None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total or None)

        yield report


def _print_ingest(result) -> None:
    verb = "Would ingest" if result.dry_run else "Ingested"
    click.echo(
        f"{verb} {result.target} ({result.files} files, location {result.source}) in {result.seconds:.1f}s: "
        f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged, {result.removed} removed"
    )
    if not (result.added or result.updated or result.removed):
        click.echo("Catalog unchanged.")
    if result.rejected:
        click.echo(f"\n{len(result.rejected)} rejected:")
        for r in result.rejected:
            where = r["file"] + (f" document {r['document']}" if r["document"] else "")
            what = " ".join(x for x in (r["ref"], r["field"]) if x)
            click.echo(f"  {where}: {what + ': ' if what else ''}{r['reason']}")
    if result.conflicts:
        click.echo(f"\n{len(result.conflicts)} conflicts:")
        for c in result.conflicts:
            click.echo(f"  {c['file']}: {c['reason']}")


# ------------------------------------------------------------------------------------------- impact

def _depth_option(f):
    return click.option(
        "--depth", type=click.IntRange(1, MAX_DEPTH), default=DEFAULT_DEPTH, show_default=True,
        help="How many hops to follow.",
    )(f)


def _page_options(f):
    f = click.option("--limit", type=click.IntRange(1, MAX_PAGE), default=DEFAULT_PAGE, show_default=True,
                     help="How many entities to list (nearest first); the summary counts them all.")(f)
    return click.option("--all", "show_all", is_flag=True, help="List every entity.")(f)


@click.command()
@click.argument("ref")
@_depth_option
@_page_options
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def impact(ref: str, depth: int, limit: int, show_all: bool, as_json: bool) -> None:
    """What breaks when REF does (the blast radius), who owns it, which systems are hit."""
    _walk_command(ref, depth, as_json, "impact", limit, show_all)


@click.command()
@click.argument("ref")
@_depth_option
@_page_options
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def deps(ref: str, depth: int, limit: int, show_all: bool, as_json: bool) -> None:
    """What REF needs, directly and transitively."""
    _walk_command(ref, depth, as_json, "dependencies", limit, show_all)


def _walk_command(ref: str, depth: int, as_json: bool, walk: str, limit: int = DEFAULT_PAGE,
                  show_all: bool = False) -> None:
    """The summary and the nearest `limit` entities (graph.impact.Radius.page), locally or from the portal;
    `--all` pages through the rest with the cursor, `--json` prints the whole answer as it always did."""
    ref = canonical(ref)
    portal = _remote_or_fail()
    path = f"/entities/by-name/{remote.entity_path(ref)}/{walk}" if portal else ""
    size = MAX_PAGE if show_all else limit
    if portal:
        if as_json:
            emit_json(_remote_call(lambda: remote.get(portal, path, {"depth": depth})))
            return
        page = _remote_call(lambda: remote.get(portal, path, {"depth": depth, "limit": size}))
        pages = _remote_pages(portal, path, page) if show_all else iter(())
    else:
        with open_graph() as graph:
            try:
                radius = blast_radius(graph, ref, depth, walk=walk)
            except EntityNotFound as exc:
                fail(str(exc))
            except ValueError as exc:   # TRELLIS_WALK_NODE_CAP is not a usable number (graph.walk.node_cap)
                fail(str(exc))
        if as_json:
            for chunk in radius.json_chunks():
                click.echo(chunk, nl=False)
            click.echo()
            return
        page = radius.page(size)
        pages = iter([{"items": [radius.item(s) for s in radius.shown[size:]]}]) if show_all else iter(())
    _print_walk(page, pages, walk, depth)


def _remote_pages(portal, path: str, page: dict) -> Iterator[dict]:
    cursor = page["pageInfo"]["nextCursor"]
    while cursor:
        page = _remote_call(lambda c=cursor: remote.get(portal, path, {"cursor": c, "limit": MAX_PAGE}))
        yield page
        cursor = page["pageInfo"]["nextCursor"]


def _print_walk(page: dict, more: Iterator[dict], walk: str, depth: int) -> None:
    root, summary, items = page["root"], page["summary"], page["items"]
    title = "Blast radius of" if walk == "impact" else "Dependencies of"
    click.echo(f"{title} {root['ref']}" + (" (not in the catalog: unresolved ref)" if root["unresolved"] else ""))
    click.echo(f"  owner: {root['owner'] or '-'}   system: {root['system'] or '-'}")
    noun = "impacted" if walk == "impact" else "needed"
    click.echo(f"\n{summary['count']} entities {noun} within {depth} hops"
               + (" (cut off: more lie beyond; raise --depth)" if summary["cut_off"] else "") + ":")
    if summary.get("hidden"):
        click.echo(f"  (and {summary['hidden']} you cannot see: restricted to their owners)")
    if summary.get("capped"):
        click.echo(f"  (capped at {summary['cap']} entities: more are reachable, so counts are lower bounds; "
                   "the cap is TRELLIS_WALK_NODE_CAP)")
    shown = len(items)
    if items:
        rows = [("DIST", "ENTITY", "OWNER", "SYSTEM", "VIA")]
        for i in items:
            rows.append(_walk_row(i))
        for extra in more:
            rows.extend(_walk_row(i) for i in extra["items"])
            shown += len(extra["items"])
        _table(rows)
        if shown < summary["count"]:
            click.echo(f"  ... {summary['count'] - shown} more, farther away (--limit N or --all to list them)")
        for key, label in (("by_owner", "owner"), ("by_system", "system"), ("by_kind", "kind")):
            click.echo(f"\nBy {label}:")
            for g in summary[key]:
                click.echo(f"  {g['count']:>5}  {g[label] or '(none)'}")


def _walk_row(i: dict) -> tuple[str, ...]:
    via = i["hops"][-1]
    return (str(i["distance"]), i["ref"] + (" (unresolved)" if i["unresolved"] else ""),
            i["owner"] or "-", i["system"] or "-", f"{via['from']} {via['relation']} {via['to']}")


def _remote_or_fail():
    try:
        return remote.remote()
    except click.ClickException as exc:
        fail(exc.message)


def _remote_call(call):
    try:
        return call()
    except click.ClickException as exc:
        fail(exc.message)


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        click.echo("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])


# ------------------------------------------------------------------------------------------- report

@click.group()
def report() -> None:
    """Compliance reports."""


@report.command()
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True)
@click.option("--group", "group", help="Only this group and its sub-groups (e.g. group:default/payments).")
def ownership(fmt: str, group: str | None) -> None:
    """What every group owns (directly and through sub-groups), unowned entities, dangling refs."""
    scope = None
    if group:
        try:
            scope = str(parse_ref(group, default_kind="group"))
        except RefError as exc:
            fail(str(exc))
    portal = _remote_or_fail()
    if portal:
        params = {"format": "json", **({"group": scope} if scope else {})}
        data = _remote_call(lambda: remote.get(portal, "/reports/ownership", params))
    else:
        with open_graph() as graph:
            try:
                data = ownership_report(graph, scope)
            except LookupError as exc:
                fail(str(exc))
    if fmt == "json":
        emit_json(data)
    elif fmt == "csv":
        click.echo(report_csv(data), nl=False)
    else:
        rows = [("GROUP", "DIRECT", "TOTAL", "BY KIND (total)")]
        for g in data["groups"]:
            kinds = ", ".join(f"{k} {v}" for k, v in g["total"].items()) or "-"
            rows.append(("  " * g["level"] + g["group"], str(g["direct_count"]), str(g["total_count"]), kinds))
        _table(rows)
        hidden = data.get("totals", {}).get("hidden", 0)
        if hidden:   # through a portal (TRELLIS_URL) the report holds only what the token's user may see
            click.echo(f"\n({hidden} {'entity' if hidden == 1 else 'entities'} you cannot see "
                       f"{'is' if hidden == 1 else 'are'} not listed: restricted to their owners)")
        click.echo(f"\nUnowned ({len(data['unowned'])}):")
        for e in data["unowned"]:
            click.echo(f"  {e['ref']}: {e['reason']}")
        click.echo(f"\nDangling references ({len(data['dangling'])}):")
        for d in data["dangling"]:
            click.echo(f"  {d['from']} {d['field'] or d['relation']} -> {d['to']}")


# ------------------------------------------------------------------------------------------- up

@click.command()
@click.option("--catalog", default=str(DEMO_CATALOG), show_default=True, help="What to load.")
@click.option("--port", type=int, default=8000, show_default=True, help="Portal port.")
@click.option("--no-serve", is_flag=True, help="Only start Neo4j and load the catalog.")
@click.option("--no-jobs", is_flag=True, help="Do not start Redis, a job worker and the scheduler.")
def up(catalog: str, port: int, no_serve: bool, no_jobs: bool) -> None:
    """Start a local Neo4j (unless NEO4J_URI is set), load the demo catalog and serve the portal.

    Next to the portal it runs the jobs: a project-local Redis (unless TRELLIS_REDIS_URL is set), a worker,
    and the scheduler when TRELLIS_CONFIG names scheduled sources; Ctrl-C stops them with the portal."""
    if not os.environ.get("NEO4J_URI"):
        try:
            info = start_neo4j()
        except ServerError as exc:
            fail(str(exc))
        os.environ["NEO4J_URI"] = info.uri
        click.echo(f"Neo4j running at {info.uri}")
    with open_graph() as graph:
        try:
            result = run_ingest(graph, catalog)
        except IngestError as exc:
            fail(str(exc))
        templates = None
        if SHIPPED_TEMPLATES.is_file():   # Trellis' own Software Templates, offered on the Create page
            try:
                templates = run_ingest(graph, str(SHIPPED_TEMPLATES))
            except IngestError as exc:
                click.echo(f"warning: the shipped templates were not loaded: {exc}", err=True)
        access_note = prepare_demo_access(graph)
    _print_ingest(result)
    if templates is not None:
        click.echo(f"Software Templates: {templates.added + templates.updated + templates.unchanged} loaded from "
                   f"{SHIPPED_TEMPLATES.parent} (Create page: /create)")
    if access_note:
        click.echo("\n" + access_note)
    click.echo(
        "\nTry:\n  trellis impact resource:default/payments-db\n  trellis deps component:default/checkout-service\n"
        "  trellis report ownership --format csv"
    )
    if no_serve:
        return
    click.echo("")
    if no_jobs:
        run_server("127.0.0.1", port, workers=2, threads=8)   # replaces this process
        return
    _serve_with_jobs(port)


def _serve_with_jobs(port: int) -> None:
    """The portal as a child process next to the jobs, so Ctrl-C (or SIGTERM) stops all of them in order."""
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background by a shell inherits SIGINT ignored, and Python then
    # never raises KeyboardInterrupt, so Ctrl-C (or a supervisor's SIGINT) would leave everything running.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    jobs = _start_jobs()
    portal = None
    try:
        click.echo(f"Trellis portal on http://127.0.0.1:{port}/  (REST API: http://127.0.0.1:{port}/api/v1/)",
                   err=True)
        portal = subprocess.Popen(gunicorn_argv("127.0.0.1", port, 2, 8))
        portal.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if portal is not None and portal.poll() is None:
            portal.send_signal(signal.SIGTERM)
            try:
                portal.wait(30)
            except subprocess.TimeoutExpired:
                portal.kill()
        jobs.stop()


class _Jobs:
    """Redis (if we started it), a worker and maybe beat: child processes stopped together."""

    def __init__(self) -> None:
        self.procs: list = []
        self.redis_home = None

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.redis_home is not None:
            redis_local.stop(self.redis_home)
        click.echo("Stopped the job worker" + (" and Redis" if self.redis_home else "") + ".")


def _start_jobs() -> "_Jobs":
    jobs = _Jobs()
    if not os.environ.get("TRELLIS_REDIS_URL"):
        try:
            info = redis_local.start()
        except redis_local.RedisError as exc:
            fail(f"{exc} (or run `trellis up --no-jobs`)")
        jobs.redis_home = info.home
        os.environ["TRELLIS_REDIS_URL"] = info.url
        click.echo(f"Redis running at {info.url}")
    try:
        config = load_config()
    except ConfigError as exc:
        jobs.stop()
        fail(str(exc))
    cli = [sys.executable, "-c", "from app.cli import main; main()"]
    os.environ.setdefault("TRELLIS_DOCS_ASYNC", "1")   # the worker below builds docs: the portal queues them
    jobs.procs.append(subprocess.Popen([*cli, "worker", "--concurrency", "1"], start_new_session=True))
    # The catalog was loaded before the worker existed: build the docs that have no current build, in the
    # background (a child like the others, so Ctrl-C stops it too; unchanged docs are skipped in 0.2 s).
    jobs.procs.append(subprocess.Popen([*cli, "docs", "build", "--changed"], start_new_session=True,
                                       stdout=subprocess.DEVNULL))
    scheduled = any(s.schedule is not None for s in config.sources)
    if scheduled:
        jobs.procs.append(subprocess.Popen([*cli, "beat"], start_new_session=True))
    click.echo(f"Job worker started ({len(config.sources)} configured sources"
               + (", scheduler on" if scheduled else "") + ")")
    return jobs
