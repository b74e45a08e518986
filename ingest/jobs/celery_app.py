"""The Celery application: Redis broker and result backend from `TRELLIS_REDIS_URL`.

Late acknowledgement everywhere: a task is acknowledged only after it finished, so a worker killed mid-run
leaves the message to be redelivered (after the broker's visibility timeout, `TRELLIS_VISIBILITY_TIMEOUT`)
instead of losing the run. One task at a time per worker process (prefetch 1): runs are long.
"""
from __future__ import annotations

import os

from celery import Celery, signals
from ingest.jobs.config import load_config
from ingest.jobs.schedule import beat_schedule
from ingest.jobs.logs import install

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("TRELLIS_REDIS_URL") or DEFAULT_REDIS_URL


def make_app() -> Celery:
    app = Celery("trellis", include=["ingest.jobs.tasks", "scaffolder.tasks"])
    url = redis_url()
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=7 * 24 * 3600,
        task_track_started=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # A killed worker's unacknowledged task is redelivered this long after it was taken: longer
            # than any run, or a slow run would be started twice.
            "visibility_timeout": int(os.environ.get("TRELLIS_VISIBILITY_TIMEOUT") or 3 * 3600),
            "unacked_restore_interval": int(os.environ.get("TRELLIS_RESTORE_INTERVAL") or 10),
            "unacked_restore_throttle": 1 if os.environ.get("TRELLIS_RESTORE_INTERVAL") else 10,
        },
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        worker_send_task_events=False,
        timezone="UTC",
        enable_utc=True,
    )
    return app


app = make_app()


@app.on_after_configure.connect
def _schedule_from_config(sender: Celery, **_: object) -> None:
    """Beat's schedule comes from the sources file; a bad file stops the process with the reason."""
    sender.conf.beat_schedule = beat_schedule(load_config())


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _mask_secrets(logger=None, **_: object) -> None:
    install(logger)
    install()
