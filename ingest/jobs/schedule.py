"""Beat's schedule from the sources file: one entry per source that has a `schedule`."""
from __future__ import annotations

from datetime import timedelta

from ingest.jobs.config import JobsConfig

TASK = "trellis.run_source"


def beat_schedule(config: JobsConfig) -> dict:
    """{entry name: {task, schedule, args}}; seconds become an interval, strings a crontab (UTC)."""
    from celery.schedules import crontab

    out: dict = {}
    for source in config.sources:
        if source.schedule is None:
            continue
        if isinstance(source.schedule, int):
            when = timedelta(seconds=source.schedule)
        else:
            minute, hour, day, month, weekday = source.schedule.split()
            when = crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday)
        out[f"source:{source.name}"] = {"task": TASK, "schedule": when, "args": (source.name, "schedule", False)}
    return out
