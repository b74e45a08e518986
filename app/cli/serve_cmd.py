"""`trellis serve`: the portal and REST API behind gunicorn."""
from __future__ import annotations

import os
import sys

import click

DEFAULT_PORT = 8000


def gunicorn_argv(host: str, port: int, workers: int, threads: int) -> list[str]:
    """gunicorn with threaded workers: keep-alive for API clients, and a slow request does not block a worker."""
    return [
        sys.executable, "-m", "gunicorn", "app:create_app()",
        "--bind", f"{host}:{port}",
        "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
        "--keep-alive", "5", "--timeout", "120", "--graceful-timeout", "10",
        "--access-logfile", "-", "--log-level", "warning",
    ]


def run_server(host: str, port: int, workers: int, threads: int) -> None:
    """Replace this process with gunicorn (so signals reach it directly)."""
    click.echo(f"Trellis portal on http://{host}:{port}/  (REST API: http://{host}:{port}/api/v1/)", err=True)
    sys.stdout.flush()
    os.execv(sys.executable, gunicorn_argv(host, port, workers, threads))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True, help="Processes (one per core is right).")
@click.option("--threads", type=int, default=8, show_default=True, help="Threads per process.")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the portal and the REST API (uses NEO4J_URI, else the local Neo4j).

    Migrates the catalog database first (`trellis migrate`), and refuses to start when a newer release
    migrated it."""
    from app.cli.migrate_cmd import migrate_at_start

    migrate_at_start("trellis serve")
    run_server(host, port, workers, threads)
