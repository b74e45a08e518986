"""`trellis serve`: the portal and REST API behind gunicorn."""
from __future__ import annotations

import os
import shutil
import sys

import click

from app.cli.migrate_cmd import migrate_at_start
from app.logging_setup import log_format
from servers.paths import state_dir

DEFAULT_PORT = 8000


def gunicorn_argv(host: str, port: int, workers: int, threads: int, *, json_logs: bool = False) -> list[str]:
    """gunicorn with threaded workers: keep-alive for API clients, and a slow request does not block a worker.

    JSON logs: gunicorn's own log as JSON (app.cli.gunicorn_conf) and no text access log (app.metrics writes
    one JSON access record per request instead)."""
    argv = [
        sys.executable, "-m", "gunicorn", "app:create_app()",
        "--bind", f"{host}:{port}",
        "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
        "--keep-alive", "5", "--timeout", "120", "--graceful-timeout", "10",
    ]
    if json_logs:
        return [*argv, "--config", "python:app.cli.gunicorn_conf"]
    return [*argv, "--access-logfile", "-", "--log-level", "warning"]


def _metrics_dir(port: int) -> str:
    """A fresh folder where gunicorn's worker processes keep their request metrics (prometheus_client's
    multiprocess mode), so /metrics reports all of them, whichever worker answers the scrape."""
    folder = state_dir() / "metrics" / f"serve-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return str(folder)


def run_server(host: str, port: int, workers: int, threads: int) -> None:
    """Replace this process with gunicorn (so signals reach it directly)."""
    click.echo(f"Trellis portal on http://{host}:{port}/  (REST API: http://{host}:{port}/api/v1/)", err=True)
    sys.stdout.flush()
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", _metrics_dir(port))
    os.execv(sys.executable, gunicorn_argv(host, port, workers, threads, json_logs=log_format() == "json"))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True, help="Processes (one per core is right).")
@click.option("--threads", type=int, default=8, show_default=True, help="Threads per process.")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the portal and the REST API (uses NEO4J_URI, else the local Neo4j).

    Migrates the catalog database first (`trellis migrate`), and refuses to start when a newer release
    migrated it."""
    migrate_at_start("trellis serve")
    run_server(host, port, workers, threads)
