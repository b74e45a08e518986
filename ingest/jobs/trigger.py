"""Queue a run of a configured source from the CLI, the REST API or a webhook (one place for all three)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.jobs.config import JobsConfig, load_config
from ingest.jobs.runner import Outcome, enqueue

if TYPE_CHECKING:
    from graph.driver import Graph


class JobsUnavailable(RuntimeError):
    """The broker (Redis) cannot be reached: nothing was queued."""


def queue_run(graph: "Graph", source: str, *, trigger: str = "manual", force: bool = False,
              config: JobsConfig | None = None) -> Outcome:
    """Queue `source` (ConfigError when it is not configured); skipped when a run is queued or running.

    `config`: the sources the caller loaded once (the portal's settings); None reads TRELLIS_CONFIG (the CLI)."""
    import redis  # noqa: PLC0415 -- heavy: the broker client loads only when a run is queued

    from ingest.jobs.celery_app import app, redis_url  # noqa: PLC0415 -- heavy: Celery loads only when queueing
    from ingest.jobs.locks import SourceLock  # noqa: PLC0415 -- needs redis (above), loaded with it

    config = config or load_config()
    config.source(source)   # unknown source: ConfigError before touching the broker
    client = redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=5)

    def send(run_id: str) -> None:
        app.send_task("trellis.run_source", args=(source, trigger, force), task_id=run_id)

    try:
        return enqueue(graph, source, trigger=trigger, force=force, config=config, lock=SourceLock(client),
                       send=send)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise JobsUnavailable(f"the job queue (Redis at {redis_url()}) is not reachable: {exc}") from None
    except Exception as exc:   # kombu wraps broker connection failures in its own types
        if "OperationalError" in type(exc).__name__ or isinstance(exc, OSError):
            raise JobsUnavailable(f"the job queue (Redis at {redis_url()}) is not reachable: {exc}") from None
        raise
