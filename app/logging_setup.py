"""Log format of every Trellis process: `TRELLIS_LOG_FORMAT=json` for one JSON object per line, else text.

Why: a log collector (Loki, Elasticsearch, CloudWatch) indexes fields, not prose; JSON lines keep a request's
route, status and duration, a run's source, and a traceback in one record. The portal's access records come
from app.metrics (logger `trellis.access`) in JSON mode, replacing gunicorn's text access log; gunicorn's own
and Celery's loggers get the same formatter.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone

FORMATS = ("text", "json")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def log_format() -> str:
    value = (os.environ.get("TRELLIS_LOG_FORMAT") or "text").strip().lower()
    if value not in FORMATS:
        raise SystemExit(f"TRELLIS_LOG_FORMAT={value!r}: use one of {', '.join(FORMATS)}")
    return value


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...extra fields, "exception"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:        # set (and secrets masked) by ingest.jobs.logs.RedactingFilter in workers
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging() -> None:
    """Give the root logger one stderr handler in the chosen format (idempotent; text mode changes nothing
    that was configured before, so tests and `flask run` keep their logging)."""
    if log_format() != "json":
        return
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    if root.level == logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def use_json_on(logger: logging.Logger | None = None) -> None:
    """Switch the handlers of `logger` (a framework's own, e.g. Celery's) to JSON, in JSON mode."""
    if log_format() != "json":
        return
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(JsonFormatter())


#: gunicorn's logging in JSON mode (its `logconfig_dict`): error log as JSON, the access log left to app.metrics.
GUNICORN_JSON_LOGCONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logging_setup.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}
