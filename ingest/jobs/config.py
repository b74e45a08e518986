"""The sources file (`TRELLIS_CONFIG`): which providers run, with which options, on which schedule.

```yaml
sources:
  - name: demo                 # letters, digits, '-', '_', '.'; unique
    provider: git              # a registered provider (plugins)
    schedule: 300              # seconds, or a 5-field cron expression "*/15 * * * *"; omit for manual only
    options: {target: ./examples/demo-catalog}
    guard: {max_share: 0.5, min_count: 10}   # optional removal guard
    kinds: [Group, User]       # optional: kinds beyond Component/API/Resource/System/Domain/Location (or `any`)
```

Parsing is pure and strict: every problem is reported with its place (`sources[2].schedule`) at once, so a
bad file fails at start with a clear message instead of a half-running scheduler. Secrets never belong
here (the file is shown and logged); options that look like credentials are refused.

The same file's `integrations:` section (ingest.integrations) is parsed here too, and every source that
talks to a host (its `host`, `api_url`, `url` or git `target` option, or a built-in provider's default API)
must name a configured integration: a source cannot send the server's credentials anywhere else.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingest.kinds import parse_kinds
from ingest.integrations import Integrations, IntegrationsError, parse_integrations
from ingest.integrations.sources import outbound_problems
from celery.schedules import crontab

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_CRON_FIELD = re.compile(r"^[0-9*/,\-A-Za-z?]+$")
_SECRET_KEY = re.compile(r"(^|[_-])(token|password|passwd|secret|private[_-]?key|api[_-]?key)$", re.I)


class ConfigError(ValueError):
    """The sources file is missing, unreadable or invalid; the message lists every problem."""


class UnknownSource(ConfigError):
    """The sources file is fine but has no source of that name."""


@dataclass(frozen=True)
class SourceConfig:
    name: str
    provider: str
    options: dict[str, Any] = field(default_factory=dict)
    schedule: int | str | None = None    # seconds, or a cron expression
    max_share: float = 0.5
    min_count: int = 10
    base_dir: str | None = None          # the config file's directory: relative option paths start here
    kinds: Any = "default"               # ingest.kinds.parse_kinds: "default", None (any) or lower-case kinds


@dataclass(frozen=True)
class JobsConfig:
    sources: tuple[SourceConfig, ...] = ()
    path: str | None = None
    integrations: Integrations = field(default_factory=Integrations)

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources) or "none"
        where = f" in {self.path}" if self.path else " (no TRELLIS_CONFIG file)"
        raise UnknownSource(f"unknown source {name!r}{where}; configured sources: {known}")


def parse_config(data: Any, *, path: str | None = None) -> JobsConfig:
    """Validate a parsed YAML document into a JobsConfig, or raise ConfigError listing every problem."""
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(_message(path, ["the file must be a mapping with a `sources` list"]))
    # The same file holds the portal's settings (app.config: env, auth, roles...): only `sources` is ours.
    raw = data.get("sources") or []
    if not isinstance(raw, list):
        raise ConfigError(_message(path, ["sources must be a list"]))
    try:
        integrations = parse_integrations(data)
    except IntegrationsError as exc:
        problems.extend(exc.problems)
        integrations = parse_integrations({})
    base_dir = str(Path(path).resolve().parent) if path else None
    out: list[SourceConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"sources[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be a mapping with name and provider")
            continue
        extra = set(item) - {"name", "provider", "schedule", "options", "guard", "kinds"}
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))}")
        name = item.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{where}.name must be 1-100 letters, digits, '-', '_' or '.' (got {name!r})")
        elif name in seen:
            problems.append(f"{where}.name {name!r} is used twice")
        else:
            seen.add(name)
        provider = item.get("provider")
        if not isinstance(provider, str) or not provider:
            problems.append(f"{where}.provider is required (a registered provider name such as 'git')")
        options = item.get("options") or {}
        if not isinstance(options, dict):
            problems.append(f"{where}.options must be a mapping")
            options = {}
        for key in options:
            if _SECRET_KEY.search(str(key)):
                problems.append(f"{where}.options.{key} looks like a credential: secrets come only from "
                                f"TRELLIS_SECRET_<NAME> environment variables or files, never this file")
        if isinstance(provider, str):
            problems.extend(outbound_problems(provider, options, integrations, f"{where}.options"))
        schedule = _schedule(item.get("schedule"), f"{where}.schedule", problems)
        max_share, min_count = _guard(item.get("guard"), f"{where}.guard", problems)
        kinds = parse_kinds(item.get("kinds"), f"{where}.kinds", problems)
        if isinstance(name, str) and isinstance(provider, str):
            out.append(SourceConfig(name, provider, dict(options), schedule, max_share, min_count, base_dir,
                                    kinds))
    if problems:
        raise ConfigError(_message(path, problems))
    return JobsConfig(tuple(out), path, integrations)


def _schedule(value: Any, where: str, problems: list[str]) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        problems.append(f"{where} must be seconds or a cron expression")
        return None
    if isinstance(value, (int, float)):
        if value < 1:
            problems.append(f"{where} must be at least 1 second")
            return None
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _schedule(int(text), where, problems)
        fields = text.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            problems.append(f"{where} {value!r} is not seconds or a 5-field cron expression "
                            f"(minute hour day-of-month month day-of-week)")
            return None
        try:
            minute, hour, day, month, weekday = fields
            crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday)
        except Exception as exc:   # celery's own parser has the final word on ranges and names
            problems.append(f"{where} {value!r} is not a valid cron expression: {exc}")
            return None
        return text
    problems.append(f"{where} must be seconds or a cron expression")
    return None


def _guard(value: Any, where: str, problems: list[str]) -> tuple[float, int]:
    if value is None:
        return 0.5, 10
    if not isinstance(value, dict) or set(value) - {"max_share", "min_count"}:
        problems.append(f"{where} must be a mapping with max_share (0-1) and/or min_count")
        return 0.5, 10
    share, count = value.get("max_share", 0.5), value.get("min_count", 10)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        problems.append(f"{where}.max_share must be a number between 0 and 1")
        share = 0.5
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        problems.append(f"{where}.min_count must be a non-negative integer")
        count = 10
    return float(share), count


def _message(path: str | None, problems: list[str]) -> str:
    head = f"invalid sources file {path}" if path else "invalid sources configuration"
    return head + ":\n  - " + "\n  - ".join(problems)


def load_config(path: str | os.PathLike | None = None) -> JobsConfig:
    """Read `path` (default `$TRELLIS_CONFIG`); no file configured means no sources (manual ingest only)."""
    path = path or os.environ.get("TRELLIS_CONFIG")
    if not path:
        return JobsConfig()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the sources file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the sources file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_config(data, path=str(file))
