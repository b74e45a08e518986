"""Job commands: worker, beat, runs, sync (the scheduled side of ingestion; see ingest/jobs)."""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone

import click

from app.cli.catalog_cmd import EXIT_FATAL, EXIT_OK, EXIT_REJECTED, emit_json, fail, open_graph
from app.cli.migrate_cmd import migrate_at_start
from app.logging_setup import use_json_on
from graph.sources import get_run, list_runs
from ingest.jobs.config import ConfigError, load_config
from ingest.jobs.trigger import JobsUnavailable, queue_run
from plugins.registry import registry
from servers.paths import state_dir

STATE_DIR = state_dir()


def _checked_config():
    """The sources file, validated, and the plugins, loaded, before a process commits to running."""
    try:
        config = load_config()
    except ConfigError as exc:
        fail(str(exc))
    plugins = registry()
    for failure in plugins.failures:
        click.echo(f"warning: plugin {failure.plugin} was skipped: {failure.reason}", err=True)
    names = {p.name for p in plugins.providers()}
    for source in config.sources:
        if source.provider not in names:
            click.echo(f"warning: source {source.name}: no provider {source.provider!r} is installed "
                       f"(registered: {', '.join(sorted(names)) or 'none'}); its runs will fail", err=True)
    return config


def _json_logs_for_celery() -> None:
    """Celery sets up its own handlers; in TRELLIS_LOG_FORMAT=json mode, give them the JSON formatter."""
    from celery import signals  # noqa: PLC0415 -- heavy: Celery loads only for the worker and beat

    def switch(logger=None, **_: object) -> None:
        use_json_on(logger)

    signals.after_setup_logger.connect(switch, weak=False)
    signals.after_setup_task_logger.connect(switch, weak=False)


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes (each runs one source at a time).")
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--queues", default="celery,docs,scaffolder", show_default=True,
              help="Queues to consume: `celery` (source runs), `docs` (TechDocs builds), `scaffolder` "
                   "(template runs), comma-separated.")
@click.option("--name", default=None, help="Celery node name (default: <first queue>@<host>).")
def worker(concurrency: int, pool: str, loglevel: str, queues: str, name: str | None) -> None:
    """Run a Celery worker that executes source runs and docs builds (broker: TRELLIS_REDIS_URL).

    `trellis worker --queues docs --concurrency 1` is the docs builder alone (docker-compose's docs-builder)."""
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - {"celery", "docs", "scaffolder"})
    if unknown or not wanted:
        fail(f"--queues: unknown queue {', '.join(unknown) or '(none)'}; use celery, docs, scaffolder "
             f"(comma-separated)")
    config = _checked_config()
    from ingest.jobs.celery_app import app, redis_url  # noqa: PLC0415 -- heavy: Celery, for the worker only

    migrate_at_start("trellis worker")
    _json_logs_for_celery()
    click.echo(f"worker: queues {','.join(wanted)}, {len(config.sources)} configured sources, broker "
               f"{redis_url()}", err=True)
    # Source runs (default queue `celery`), docs builds (the `docs` queue, docs_builder.tasks) and template
    # runs (the `scaffolder` queue, scaffolder.tasks) on one worker; a deployment can run a separate
    # docs-builder worker instead (docker-compose.yml).
    app.worker_main(["worker", f"--pool={pool}", f"--concurrency={concurrency}", f"--loglevel={loglevel}",
                     "--without-gossip", "--without-mingle", "-Q", ",".join(wanted),
                     "--include", "docs_builder.tasks,scaffolder.tasks", "-n", name or f"{wanted[0]}@%h"])


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run the scheduler: queues each source of TRELLIS_CONFIG on its `schedule`, and the hourly audit-log
    pruning (trellis.audit_prune)."""
    config = _checked_config()
    scheduled = [s for s in config.sources if s.schedule is not None]
    if not scheduled:
        click.echo("beat: no source in TRELLIS_CONFIG has a schedule; only the hourly audit-log pruning "
                   "will be queued", err=True)
    from ingest.jobs.celery_app import app  # noqa: PLC0415 -- heavy: Celery, for beat only

    migrate_at_start("trellis beat")
    _json_logs_for_celery()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    schedule_file = os.environ.get("TRELLIS_BEAT_SCHEDULE") or str(STATE_DIR / "beat-schedule")
    app.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule_file}"])


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@click.command()
@click.option("--source", help="Only runs of this source (configured name or location key).")
@click.option("--status", type=click.Choice(["queued", "running", "ok", "partial", "failed", "retrying", "skipped"]))
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON (the REST API's shape).")
def runs(source: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Recorded ingest runs, newest first."""
    with open_graph() as graph:
        items = list_runs(graph, source=source, status=status, limit=limit)
    if as_json:
        emit_json({"items": items})
        return
    if not items:
        click.echo("No runs recorded." if not (source or status) else "No runs match.")
        return
    rows = [("RUN", "SOURCE", "TRIGGER", "STATUS", "STARTED (UTC)", "SECONDS", "+ ~ = -", "REJECTED", "ERROR/PROGRESS")]
    for r in items:
        c = r["counts"]
        note = r["error"] or ""
        if r["status"] in ("running", "queued") and r["progress"]["stage"]:
            p = r["progress"]
            note = f"{p['stage']} {p['done']}/{p['total']}" if p["total"] else p["stage"]
        rows.append((r["id"], r["name"] or r["source"] or "-", r["trigger"], r["status"], _when(r["started_at"]),
                     f"{r['seconds']:.1f}" if r["seconds"] is not None else "-",
                     f"{c['added']} {c['updated']} {c['unchanged']} {c['removed']}", str(c["rejected"]),
                     note.splitlines()[0][:80] if note else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])


@click.command()
@click.argument("source")
@click.option("--force", is_flag=True, help="Let this run remove more than the source's guard allows.")
@click.option("--wait", is_flag=True, help="Wait for the run to finish and exit with its outcome.")
@click.option("--timeout", type=float, default=3600, show_default=True, help="Seconds --wait waits at most.")
@click.option("--json", "as_json", is_flag=True, help="Print the queued (or finished, with --wait) run as JSON.")
def sync(source: str, force: bool, wait: bool, timeout: float, as_json: bool) -> None:
    """Queue a run of a configured SOURCE now (a worker runs it).

    Exit code 0: queued (or, with --wait, finished ok); 2: finished with rejected documents; 1: the source
    is unknown, a run of it is already queued or running (this trigger is recorded as skipped), the queue is
    unreachable, or (with --wait) the run failed.
    """
    with open_graph() as graph:
        try:
            outcome = queue_run(graph, source, trigger="manual", force=force)
        except (ConfigError, JobsUnavailable) as exc:
            fail(str(exc))
        if outcome.status == "skipped":
            if as_json:
                emit_json(outcome.as_json())
            fail(outcome.error or "skipped")
        if not wait:
            if as_json:
                emit_json(outcome.as_json())
            else:
                click.echo(f"Queued run {outcome.run} of {source}; follow it with `trellis runs --source {source}`.")
            sys.exit(EXIT_OK)
        deadline = time.monotonic() + timeout
        last = None
        while True:
            run = get_run(graph, outcome.run)
            status = run["status"] if run else "queued"
            if status in ("ok", "partial", "failed"):
                break
            if time.monotonic() > deadline:
                fail(f"run {outcome.run} is still {status} after {timeout:.0f}s (it goes on in the worker)")
            line = f"{status} {run['progress']['stage'] or ''}".strip() if run else status
            if line != last and not as_json:
                click.echo(f"  {line}", err=True)
                last = line
            time.sleep(0.5)
    if as_json:
        emit_json(run)
    else:
        c = run["counts"]
        click.echo(f"Run {run['id']} of {source}: {status} in {run['seconds'] or 0:.1f}s: {c['added']} added, "
                   f"{c['updated']} updated, {c['unchanged']} unchanged, {c['removed']} removed, "
                   f"{c['rejected']} rejected")
        if run["error"]:
            click.echo(f"error: {run['error']}", err=True)
    sys.exit({"ok": EXIT_OK, "partial": EXIT_REJECTED}.get(status, EXIT_FATAL))
