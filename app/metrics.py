"""Prometheus metrics at `/metrics`, for the operator's scraper only.

Why a token and not the portal's sign-in: a scraper is no person and has no role; and the figures (routes,
queue depths, run counts) describe the deployment, so they are never public. `TRELLIS_METRICS_TOKEN` (or a
file named by `TRELLIS_METRICS_TOKEN_FILE`) must be sent as `Authorization: Bearer <token>`; without a
configured token `/metrics` does not exist (404).

What is reported:
- `trellis_http_request_duration_seconds{route,method,status}`: every request, by URL rule (not by path, so
  entity names do not become label values); under gunicorn summed over its worker processes
  (`PROMETHEUS_MULTIPROC_DIR`, set by `trellis serve`).
- `trellis_ingest_runs_total{status}` and `trellis_ingest_run_duration_seconds{status}`: finished ingest
  runs of every process, counted in the graph (graph.run_stats).
- `trellis_queue_depth{queue}`: messages waiting in the Celery queues (source runs `celery`, docs builds `docs`).
- `trellis_neo4j_up`, `trellis_neo4j_pool_connections{state}`, `trellis_neo4j_pool_max_connections` (the
  answering process's pool), `trellis_schema_version`, `trellis_build_info{version}`.
"""
from __future__ import annotations

import hmac
import logging
import os
import time

import redis
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from app import settings
from app.auth import access
from app.graph_access import get_graph
from app.version import version
from graph import migrations, run_stats
from graph.driver import GraphUnavailable
from ingest.jobs.celery_app import redis_url

log = logging.getLogger(__name__)
access_log = logging.getLogger("trellis.access")

bp = Blueprint("metrics", __name__)

REQUEST_SECONDS = Histogram(
    "trellis_http_request_duration_seconds", "Portal and API request latency, by URL rule",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
QUEUES = ("celery", "docs")
_PRIORITY_SEP = "\x06\x16"   # kombu's Redis transport keeps priority levels in lists `<queue>\x06\x16<n>`


def metrics_token(app: Flask) -> str | None:
    """The configured scraper token (create_app config, else the environment; read once at start, app.settings),
    or None: metrics are off."""
    return settings.current(app).metrics_token


def init_metrics(app: Flask) -> None:
    """Time every request (and, with TRELLIS_LOG_FORMAT=json, log it as one access record)."""
    app.register_blueprint(bp)

    @app.before_request
    def _start_timer() -> None:
        g.trellis_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("trellis_started", None)
        if started is None:
            return response
        seconds = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        REQUEST_SECONDS.labels(route, request.method, str(response.status_code)).observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("%s %s %s", request.method, route, response.status_code,
                            extra={"http": {"method": request.method, "route": route, "path": request.path,
                                            "status": response.status_code, "seconds": round(seconds, 4),
                                            "remote": request.remote_addr}})
        return response


@bp.get("/metrics")
@access.public   # not the portal's sign-in: the scraper's own bearer token, checked here
def metrics():
    token = metrics_token(current_app)
    if token is None:
        return _error(404, "not_found", "Metrics are off: set TRELLIS_METRICS_TOKEN to enable /metrics.")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        response = _error(401, "unauthorized", "/metrics needs `Authorization: Bearer <metrics token>`.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    extra = CollectorRegistry(auto_describe=False)
    extra.register(_CatalogCollector(current_app._get_current_object()))
    body = generate_latest(base) + generate_latest(extra)
    return Response(body, mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _error(status: int, code: str, message: str) -> Response:
    """The API's JSON error body (a scraper reads no HTML error page)."""
    response = jsonify({"error": {"code": code, "message": message, "details": None}})
    response.status_code = status
    return response


class _CatalogCollector:
    """Figures read at scrape time from Neo4j and Redis (shared by every process, so always whole)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        info = GaugeMetricFamily("trellis_build_info", "The running Trellis release", labels=["version"])
        info.add_metric([version()], 1)
        yield info
        yield from self._graph_metrics()
        yield from self._queue_metrics()

    def _graph_metrics(self):
        graph = self.app.extensions["trellis.graph"]
        up = GaugeMetricFamily("trellis_neo4j_up", "1 when Neo4j answers and its schema is usable")
        pool = graph.pool_stats()
        if pool:
            conns = GaugeMetricFamily("trellis_neo4j_pool_connections", "Bolt connections of the answering "
                                      "process", labels=["state"])
            conns.add_metric(["in_use"], pool["in_use"])
            conns.add_metric(["idle"], pool["idle"])
            yield conns
            yield GaugeMetricFamily("trellis_neo4j_pool_max_connections", "Pool size limit per process",
                                    value=pool["max"])
        try:
            get_graph()            # migrates/applies the schema first, like any request
            run_stats.fold(graph)
            stats = run_stats.read(graph)
            schema = migrations.status(graph)["version"]
        except GraphUnavailable as exc:
            log.warning("metrics: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("trellis_schema_version", "The catalog database's schema version", value=schema)
        runs = CounterMetricFamily("trellis_ingest_runs", "Finished ingest runs", labels=["status"])
        durations = HistogramMetricFamily("trellis_ingest_run_duration_seconds", "Duration of finished ingest "
                                          "runs", labels=["status"])
        for entry in stats:
            runs.add_metric([entry["status"]], entry["count"])
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, run_stats.BUCKETS), "+Inf"], entry["buckets"]):
                cumulative += count
                buckets.append((bound, cumulative))
            durations.add_metric([entry["status"]], buckets, entry["seconds_sum"])
        yield runs
        yield durations

    def _queue_metrics(self):
        depth = GaugeMetricFamily("trellis_queue_depth", "Messages waiting in a Celery queue", labels=["queue"])
        up = GaugeMetricFamily("trellis_redis_up", "1 when the broker (Redis) answers")
        try:
            client = redis.Redis.from_url(redis_url(), socket_timeout=2, socket_connect_timeout=2)
            try:
                for queue in QUEUES:
                    names = [queue, *(f"{queue}{_PRIORITY_SEP}{n}" for n in range(1, 10))]
                    pipe = client.pipeline(transaction=False)
                    for name in names:
                        pipe.llen(name)
                    depth.add_metric([queue], sum(pipe.execute()))
            finally:
                client.close()
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield depth
