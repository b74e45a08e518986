"""The Runs pages: `/runs` (recorded ingest runs, live progress of running ones, configured sources with a
"Sync now" button) and `/runs/<id>` (one run with its rejected documents and conflicts).

Thin views over graph.sources and ingest.jobs.config; the live parts are app/static/js/runs.js polling
GET /api/v1/ingest/runs/<id> (no inline script: the portal's CSP forbids it).
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import abort, render_template, request, url_for

from app import settings
from app.auth import access
from app.graph_access import get_graph
from app.web import bp
from app.web.helpers import BadQuery, int_arg
from graph import sources

STATUSES = ("queued", "running", "retrying", "ok", "partial", "failed", "skipped")
LIVE = ("queued", "running", "retrying")
PAGE = 50


@bp.app_template_global()
def run_time(ms: int | None) -> str:
    """A run timestamp (epoch ms) as UTC text."""
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _configured_sources() -> tuple[list, str | None]:
    """The sources of TRELLIS_CONFIG as read at start (app.settings), or why they could not be read."""
    loaded = settings.current()
    return list(loaded.sources.sources), loaded.sources_error


@bp.get("/runs")
def runs_page():
    access.require("read")
    source = (request.args.get("source") or "").strip() or None
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadQuery(f"status must be one of {', '.join(STATUSES)}")
    offset = int_arg(request.args, "offset", 0, 0, 100_000)
    graph = get_graph()
    items = sources.list_runs(graph, source=source, status=status, limit=PAGE, offset=offset)
    total = sources.count_runs(graph, source=source, status=status)
    configured, config_error = _configured_sources()

    def page_url(new_offset: int) -> str:
        args = {k: v for k, v in (("source", source), ("status", status)) if v}
        return url_for("web.runs_page", offset=new_offset or None, **args)

    return render_template(
        "runs.html", runs=items, total=total, source=source, status=status, statuses=STATUSES, live=LIVE,
        configured=configured, config_error=config_error, can_sync=access.can("ingest"),
        prev_url=page_url(max(0, offset - PAGE)) if offset else None,
        next_url=page_url(offset + PAGE) if offset + len(items) < total else None, offset=offset,
    )


@bp.get("/runs/<run_id>")
def run_page(run_id: str):
    access.require("read")
    run = sources.get_run(get_graph(), run_id)
    if run is None:
        abort(404, description=f"No ingest run {run_id} is recorded (only the latest 500 are kept).")
    return render_template("run.html", run=run, live=LIVE)
