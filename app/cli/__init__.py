"""The `trellis` command line."""
from __future__ import annotations

import logging

import click

from app.cli.catalog_cmd import deps, impact, ingest, report, up
from app.cli.create_cmd import create
from app.cli.docs_cmd import docs
from app.cli.jobs_cmd import beat, runs, sync, worker
from app.cli.migrate_cmd import migrate
from app.cli.neo4j_cmd import neo4j
from app.cli.search_cmd import search, search_reindex
from app.cli.serve_cmd import serve
from app.cli.tokens_cmd import tokens
from app.cli.users_cmd import users
from app.logging_setup import configure_logging
from app.version import version


@click.group(name="trellis", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=version(), prog_name="trellis")
def main() -> None:
    """Trellis: a graph-native developer portal (Backstage-compatible catalog in Neo4j)."""
    # The driver warns on every retried transaction (e.g. a lock conflict between two parallel write
    # batches, which the managed transaction resolves by itself); that is noise in a terminal.
    logging.getLogger("neo4j").setLevel(logging.ERROR)
    configure_logging()   # TRELLIS_LOG_FORMAT=json: one JSON object per log line


for command in (neo4j, ingest, impact, deps, report, up, serve, users, tokens, docs, migrate, create):
    main.add_command(command)
main.add_command(search)
main.add_command(search_reindex)
for command in (worker, beat, runs, sync):
    main.add_command(command)
