"""Beat's schedule: one entry per source of the sources file that has a `schedule`, plus the housekeeping
every portal needs whatever its sources (`trellis.audit_prune`: the audit log's retention, hourly)."""
from __future__ import annotations

from datetime import timedelta

from ingest.jobs.config import JobsConfig
from celery.schedules import crontab

TASK = "trellis.run_source"
AUDIT_PRUNE_TASK = "trellis.audit_prune"
AUDIT_PRUNE_EVERY = timedelta(hours=1)


def beat_schedule(config: JobsConfig) -> dict:
    """{entry name: {task, schedule, args}}; seconds become an interval, strings a crontab (UTC)."""
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
    out["audit:prune"] = {"task": AUDIT_PRUNE_TASK, "schedule": AUDIT_PRUNE_EVERY, "args": ()}
    return out
