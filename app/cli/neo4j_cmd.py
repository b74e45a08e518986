"""`trellis neo4j start|stop|status|dump|load`: the project-local Neo4j server (servers/neo4j.py; graph/server.py
sets its password and asks its version).

If NEO4J_URI is set, an external server is in use: start/status report on it and never
start a local one. Fatal errors print one line on stderr and exit with code 1.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from graph.server import kernel, start, status
from servers.neo4j import DEFAULT_HOME, ServerError, neo4j_version, stop
from servers.neo4j_admin import dump, load

_home_option = click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), default=None,
    help=f"Server home (default: $TRELLIS_NEO4J_HOME or {DEFAULT_HOME}).",
)


def _fail(message: str) -> None:
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    click.echo(f"error: {first}", err=True)
    sys.exit(1)


def _external_status(uri: str) -> dict:
    """Connectivity + version of the server at NEO4J_URI (auth from NEO4J_USER/NEO4J_PASSWORD)."""
    user, password = os.environ.get("NEO4J_USER"), os.environ.get("NEO4J_PASSWORD")
    auth = (user, password or "") if user else None
    result: dict = {"external": True, "uri": uri, "running": False, "ready": False,
                    "version": None, "edition": None}
    try:   # the driver's default database; a down server is reported at once (no retry loop)
        found = kernel(uri, auth, database=None, timeout=5.0)
        if found is not None:
            result.update(running=True, ready=True, **found)
    except Exception as exc:  # report, don't crash: status is a diagnostic command
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return result


@click.group(name="neo4j")
def neo4j() -> None:
    """Run the local Neo4j 5.26 Community server (+ APOC) fetched from Maven Central."""


@neo4j.command(name="start")
@_home_option
@click.option("--bolt-port", type=int, default=7687, show_default=True)
@click.option("--http-port", type=int, default=7474, show_default=True)
@click.option("--heap", default=None, help="JVM heap (-Xms/-Xmx), e.g. 2g. Default: sized from the machine and the "
              "store (TRELLIS_NEO4J_HEAP).")
@click.option("--pagecache", default=None, help="Page cache, e.g. 1g. Default: the store plus half, within what the "
              "machine can spare (TRELLIS_NEO4J_PAGECACHE).")
@click.option("--timeout", type=float, default=180, show_default=True, help="Seconds to wait for Bolt.")
def start_cmd(home: Path | None, bolt_port: int, http_port: int, heap: str | None, pagecache: str | None,
              timeout: float) -> None:
    """Start the server (no-op if it is already running) and print its Bolt URI."""
    uri = os.environ.get("NEO4J_URI")
    if uri:
        click.echo(f"NEO4J_URI is set: using the external Neo4j at {uri}; not starting a local server.")
        return
    try:
        info = start(home, bolt_port=bolt_port, http_port=http_port, heap=heap, pagecache=pagecache,
                     timeout=timeout)
    except ServerError as exc:
        _fail(str(exc))  # first line names the console log when the JVM died
    click.echo(f"Neo4j {neo4j_version()} running at {info.uri} (pid {info.pid}, home {info.home})")


@neo4j.command(name="stop")
@_home_option
@click.option("--timeout", type=float, default=30, show_default=True, help="Seconds before SIGKILL.")
def stop_cmd(home: Path | None, timeout: float) -> None:
    """Stop the local server (data is kept in its home)."""
    try:
        stopped = stop(home, timeout=timeout)
    except (ServerError, OSError) as exc:
        _fail(str(exc))
    click.echo("Neo4j stopped." if stopped else "Neo4j was not running.")


@neo4j.command(name="status")
@_home_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_cmd(home: Path | None, as_json: bool) -> None:
    """Is the server running, where, and which version."""
    uri = os.environ.get("NEO4J_URI")
    try:
        info = _external_status(uri) if uri else {"external": False, **status(home)}
    except (ServerError, OSError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    if info["external"]:
        state = (f"reachable, Neo4j {info['version']} {info['edition']}" if info["ready"]
                 else f"NOT reachable ({info.get('error', 'unknown error')})")
        click.echo(f"External Neo4j (NEO4J_URI) at {info['uri']}: {state}")
    elif not info["running"]:
        click.echo(f"Neo4j is not running (home {info['home']}).")
    elif info["ready"]:
        click.echo(f"Neo4j {info['version']} ({info['edition']}) running at {info['uri']} "
                   f"(pid {info['pid']}, home {info['home']})")
    else:
        click.echo(f"Neo4j process {info['pid']} is up but Bolt at {info['uri']} does not answer yet "
                   f"({info.get('error', 'starting?')}).")


@neo4j.command(name="dump")
@_home_option
@click.argument("to_file", type=click.Path(dir_okay=False, path_type=Path))
def dump_cmd(home: Path | None, to_file: Path) -> None:
    """Back up the local server's catalog database to TO_FILE with neo4j-admin (the server must be stopped)."""
    if os.environ.get("NEO4J_URI"):
        _fail("NEO4J_URI is set: back up that server with its own `neo4j-admin database dump` (see README, "
              "Deploying); this command dumps the local server only")
    try:
        path = dump(home, to_file)
    except (ServerError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"Dumped the catalog database to {path} ({path.stat().st_size:,} bytes).")


@neo4j.command(name="load")
@_home_option
@click.argument("from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the database the server home already holds.")
def load_cmd(home: Path | None, from_file: Path, force: bool) -> None:
    """Restore the local server's catalog database from FROM_FILE, a dump (the server must be stopped).

    Start the server after it; the next Trellis process migrates a dump taken by an older release."""
    if os.environ.get("NEO4J_URI"):
        _fail("NEO4J_URI is set: restore that server with its own `neo4j-admin database load`; this command "
              "restores the local server only")
    try:
        load(home, from_file, overwrite=force)
    except (ServerError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"Loaded {from_file} into the local server; start it with `trellis neo4j start`.")
