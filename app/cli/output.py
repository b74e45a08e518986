"""What every `trellis` command shares to end and to print: the exit codes, one-line fatal errors, JSON output.

Why a module of its own: the commands import it, and it imports none of them, so `serve` can migrate through
`migrate_cmd` and `up` can serve through `serve_cmd` without the command modules importing each other in a
circle (app.cli.catalog_cmd re-exports these names for the commands that import them from there).
"""
from __future__ import annotations

import json
import sys

import click

EXIT_OK, EXIT_FATAL, EXIT_REJECTED = 0, 1, 2


def fail(message: str) -> None:
    """One line on stderr and exit code 1: the contract for fatal errors."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_FATAL)


def emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
