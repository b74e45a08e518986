"""Ingest runs and configured sources: list/get runs (live progress included), queue a source's run.

Thin views over graph.sources (runs) and ingest.jobs (sources file, queue); documented in app.api.openapi.
"""
from __future__ import annotations

from flask import jsonify, request, url_for

from app.api import bp
from app.api.params import bad, int_arg, str_arg
from app.auth import access
from app.errors import ApiError
from app.graph_access import get_graph
from graph import sources
from ingest.jobs.config import ConfigError, UnknownSource, load_config
from ingest.jobs.trigger import JobsUnavailable, queue_run

RUN_STATUSES = ("queued", "running", "ok", "partial", "failed", "retrying", "skipped")


@bp.get("/ingest/runs")
def ingest_runs():
    access.require("read")
    status = str_arg("status", max_len=20)
    if status is not None and status not in RUN_STATUSES:
        raise bad(f"status must be one of {', '.join(RUN_STATUSES)}", details={"status": status})
    source = str_arg("source", max_len=1000)
    limit = int_arg("limit", 50, 1, 500)
    offset = int_arg("offset", 0, 0, 100_000)
    graph = get_graph()
    items = sources.list_runs(graph, source=source, status=status, limit=limit, offset=offset)
    total = sources.count_runs(graph, source=source, status=status)
    return jsonify({"items": items, "total": total, "limit": limit, "offset": offset,
                    "next_offset": offset + len(items) if offset + len(items) < total else None})


@bp.get("/ingest/runs/<id>")
def ingest_run(id: str):  # noqa: A002  (the documented path parameter name)
    access.require("read")
    run = sources.get_run(get_graph(), id)
    if run is None:
        raise ApiError(404, "not_found", f"no ingest run {id}", {"id": id})
    return jsonify(run)


@bp.get("/ingest/sources")
def ingest_sources():
    """The configured sources (TRELLIS_CONFIG) with their schedule; options carry no secrets by design."""
    access.require("read")
    try:
        config = load_config()
    except ConfigError as exc:
        raise ApiError(503, "invalid_sources_file", str(exc)) from None
    return jsonify({"items": [{"name": s.name, "provider": s.provider, "schedule": s.schedule,
                               "options": s.options, "guard": {"max_share": s.max_share, "min_count": s.min_count}}
                              for s in config.sources]})


@bp.post("/ingest/sources/<name>/sync")
def sync_source(name: str):
    """Queue a run now: 202 with its id; 409 when a run of the source is already queued or running."""
    access.require("ingest")
    force = (request.args.get("force") or "").lower() in ("1", "true", "yes")
    try:
        outcome = queue_run(get_graph(), name, trigger="manual", force=force)
    except UnknownSource as exc:
        raise ApiError(404, "unknown_source", str(exc), {"source": name}) from None
    except ConfigError as exc:
        raise ApiError(503, "invalid_sources_file", str(exc)) from None
    except JobsUnavailable as exc:
        raise ApiError(503, "jobs_unavailable", str(exc), {"source": name}) from None
    if outcome.status == "skipped":
        raise ApiError(409, "sync_in_progress", outcome.error or "a run is already queued or running",
                       {"source": name, "run": outcome.run, "running": outcome.running})
    link = url_for("api.ingest_run", id=outcome.run)
    return jsonify({"run": outcome.run, "source": name, "status": outcome.status, "url": link}), 202, \
        {"Location": link}
