"""The portal's settings as one typed object, loaded once when the app is made and kept on it.

Why: the settings file (TRELLIS_CONFIG) used to be parsed twice - once for sign-in, roles and rules
(app.config.load_settings) and again, on every request, for the configured sources (ingest.jobs.config) - and
views read environment variables per request. Now create_app reads the file and the environment once
(:func:`load`), keeps the result in ``app.extensions["trellis.settings"]``, and views, the location services
and the jobs they queue take it from there (:func:`current`). The same keys stay in ``app.config``
(``TRELLIS_*``, derived from this object) for the code that reads them there; every environment variable and
file key keeps its meaning.

A sources section that does not validate does not stop the portal (as before): the pages that list sources show
the error, and queueing a run answers 503 with it (:meth:`Settings.jobs`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.config import ConfigError, load_settings, read_config_file
from ingest.integrations import Integrations
from ingest.jobs.config import ConfigError as SourcesError
from ingest.jobs.config import JobsConfig, parse_config
from plugins.search import DEFAULT_ENGINE

EXTENSION = "trellis.settings"

__all__ = ["ConfigError", "EXTENSION", "Settings", "SourcesError", "current", "install", "load"]


@dataclass(frozen=True)
class Settings:
    """Every portal setting, checked (ConfigError at start otherwise). Frozen: replace, never mutate."""

    config_file: str | None
    env: str
    location_roots: tuple[Path, ...]
    location_allow_git: bool
    catalog_rules: tuple[dict, ...]
    integrations: Integrations
    search_engine: str
    metrics_token: str | None
    #: The configured sources (the file's `sources:`), or why they could not be read (`sources_error`).
    sources: JobsConfig = field(default_factory=JobsConfig)
    sources_error: str | None = None
    #: The same settings in app.config's shape (`TRELLIS_*`, SECRET_KEY, MAX_CONTENT_LENGTH).
    config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def jobs(self) -> JobsConfig:
        """The configured sources for the jobs; ingest.jobs.config.ConfigError when the section is invalid."""
        if self.sources_error is not None:
            raise SourcesError(self.sources_error)
        return self.sources


def load(overrides: dict | None = None) -> Settings:
    """Read TRELLIS_CONFIG and the environment once (defaults < file < environment < `overrides`)."""
    overrides = dict(overrides or {})
    config_file = overrides.get("TRELLIS_CONFIG") or os.environ.get("TRELLIS_CONFIG") or None
    file_data = read_config_file(config_file) if config_file else {}
    config = load_settings(overrides, file_data=file_data, config_file=config_file)
    sources, sources_error = JobsConfig(), None
    if config_file:
        try:
            sources = parse_config(file_data, path=str(Path(config_file)))
        except SourcesError as exc:
            sources_error = str(exc)
    return Settings(
        config_file=config_file,
        env=config["TRELLIS_ENV"],
        location_roots=tuple(Path(r).resolve() for r in config.get("TRELLIS_LOCATION_ROOTS") or []),
        location_allow_git=bool(config.get("TRELLIS_LOCATION_ALLOW_GIT", True)),
        catalog_rules=tuple(config["TRELLIS_CATALOG_RULES"]),
        integrations=config["TRELLIS_INTEGRATIONS"],
        search_engine=(os.environ.get("TRELLIS_SEARCH_ENGINE") or DEFAULT_ENGINE).strip().lower(),
        metrics_token=_metrics_token(config),
        sources=sources,
        sources_error=sources_error,
        config=config,
    )


def _metrics_token(config: dict) -> str | None:
    """The scraper token (create_app config, else the environment; a file's content, else the value)."""
    value = config.get("TRELLIS_METRICS_TOKEN") or os.environ.get("TRELLIS_METRICS_TOKEN")
    path = config.get("TRELLIS_METRICS_TOKEN_FILE") or os.environ.get("TRELLIS_METRICS_TOKEN_FILE")
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"TRELLIS_METRICS_TOKEN_FILE={path}: cannot read it ({exc.strerror})") from None
    return value or None


def install(app: Flask, settings: Settings) -> None:
    """Keep `settings` on `app` (and its keys in app.config, for the code that reads them there)."""
    app.config.update(settings.config)
    app.extensions[EXTENSION] = settings


def current(app: Flask | None = None) -> Settings:
    """The settings of `app` (default: the app handling this request)."""
    return (app or current_app).extensions[EXTENSION]
