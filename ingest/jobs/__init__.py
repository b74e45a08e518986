"""Ingestion jobs: the Celery application (`celery -A ingest.jobs worker`), its tasks, the sources file,
the per-source lock and a project-local Redis."""
from __future__ import annotations

from ingest.jobs.celery_app import app

__all__ = ["app"]
