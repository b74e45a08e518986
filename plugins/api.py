"""The plugin API: everything a plugin (built-in or a third-party package) may register with Trellis.

A plugin is a Python package exposing an entry point in the group `trellis.plugins`; the entry point is a
callable `register(registry: Registry) -> None`. Built-in plugins (plugins/builtin/...) are declared in
Trellis' own pyproject.toml the same way, so they use exactly this API and nothing more.

Providers pull metadata from somewhere (a Git host, a cloud, a CI system) into the graph. A provider's
`sync(ctx)` follows get -> transform -> load -> cleanup:
- get: call the remote API (through ctx.secret for credentials; never log them);
- transform: pure functions from API payloads to Backstage-shaped entity dicts (and/or runtime-fact records);
- load + cleanup of entities: `ingest.sync.ingest_entities(...)`, which validates, writes, removes what the
  source no longer reports (with the removal guard), and records the run;
- runtime facts (builds, deployments, repository facts) go through their own graph/ module.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

if TYPE_CHECKING:
    from graph.driver import Graph
    from ingest.sync import IngestResult

ENTRY_POINT_GROUP = "trellis.plugins"

Progress = Callable[[str, int, int], None]


class MissingSecret(LookupError):
    """A provider asked for a secret that is set neither as an environment variable nor as a file."""


class RetryableError(RuntimeError):
    """A transient failure (provider 5xx, rate limit, network): the job framework retries the run later.

    `retry_after` (seconds) is the provider's own hint, e.g. from a rate-limit reset header; the job waits
    at least that long (else its exponential backoff). Nothing has been deleted when this is raised.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PluginError(LookupError):
    """Asked for a provider nobody registered, or a plugin registered something invalid."""


_SECRET_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_revealed: set[str] = set()   # values handed out by secret() in this process, masked by redact()


def redact(text: str | None) -> str | None:
    """`text` with every secret this process has read replaced by `***` (run errors, logs)."""
    if not text:
        return text
    for value in sorted(_revealed, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def _reveal(value: str) -> str:
    if len(value) >= 4:   # masking a 1-3 character "secret" would shred every message
        _revealed.add(value)
    return value


def secret_env_name(name: str) -> str:
    """`github-token` -> `TRELLIS_SECRET_GITHUB_TOKEN` (dashes and dots become underscores)."""
    env = "TRELLIS_SECRET_" + re.sub(r"[-.]", "_", name).upper()
    if not _SECRET_NAME.match(env):
        raise MissingSecret(f"invalid secret name {name!r}: use letters, digits, '-', '_' or '.'")
    return env


def secret(name: str) -> str:
    """A secret from `TRELLIS_SECRET_<NAME>`, else from the file named by `TRELLIS_SECRET_<NAME>_FILE`.

    Only these two places: secrets never come from source options (which are stored and shown), and the
    error names the variables to set, never a value.
    """
    env = secret_env_name(name)
    value = os.environ.get(env)
    if value:
        return _reveal(value)
    file = os.environ.get(env + "_FILE")
    if file:
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MissingSecret(f"secret {name!r}: cannot read the file named by {env}_FILE ({exc.strerror})") from None
        if value:
            return _reveal(value)
        raise MissingSecret(f"secret {name!r}: the file named by {env}_FILE is empty")
    raise MissingSecret(f"secret {name!r} is not set: set {env} or {env}_FILE")


@dataclass
class SyncContext:
    """What one provider run gets. Options come from the source's configuration and hold no secrets."""

    graph: "Graph"
    source: str                      # the configured source name, e.g. "github-acme"
    options: dict[str, Any]
    run_id: str
    trigger: str = "manual"          # "schedule" | "manual" | "webhook"
    force: bool = False              # let the removal guard through
    secret: Callable[[str], str] = field(default=secret)
    progress: Progress = field(default=lambda stage, done, total: None)
    max_removal_share: float = 0.5   # the removal guard of this source (config `guard:`)
    min_removal_count: int = 10
    base_dir: str | None = None      # relative paths in options are relative to this (the config file's dir)
    kinds: Any = "default"           # the source's `kinds:` (ingest.kinds.parse_kinds): "default", None = any,
                                     # or lower-case kinds its repository files may declare
    # The outbound allow-list (ingest.integrations.Integrations): the hosts this source may contact and the
    # secret each may use. None: the integrations of $TRELLIS_CONFIG.
    integrations: Any = None

    def outbound(self) -> Any:
        """This run's integrations (`integrations`, else those of $TRELLIS_CONFIG)."""
        if self.integrations is None:
            from ingest.integrations import load_integrations
            self.integrations = load_integrations()
        return self.integrations

    def removal_guard(self) -> Any:
        """The source's RemovalGuard (forced when the run was triggered with --force)."""
        from ingest.sync import RemovalGuard
        return RemovalGuard(max_share=self.max_removal_share, min_count=self.min_removal_count, force=self.force)

    def ingest(self, entities: Iterable[tuple[str, dict]], *, target: str,
               unavailable: Iterable[str] = ()) -> "IngestResult":
        """Load + cleanup for this run: `ingest.sync.ingest_entities` with this context's source, run id,
        trigger, guard and progress. `unavailable`: origins that could not be fetched (their entities stay).
        Items are checked against the source's kind rules unless they carry their own (origin, entity, rules)."""
        from ingest.sync import ingest_entities
        return ingest_entities(self.graph, self.source, entities, target=target, trigger=self.trigger,
                               run_id=self.run_id, guard=self.removal_guard(), progress=self.progress,
                               unavailable=unavailable, rules=self.kind_rules())

    def kind_rules(self) -> Any:
        """The kinds this source's files may declare (ingest.kinds.source_rules of its `kinds:` setting)."""
        from ingest.kinds import source_rules
        return source_rules(self.source, self.kinds)


class Provider(ABC):
    """One kind of source. Instances are stateless; everything per run comes in the SyncContext."""

    name: ClassVar[str]              # what a source's `provider:` setting names, e.g. "github"

    @abstractmethod
    def sync(self, ctx: SyncContext) -> "IngestResult":
        """Run get -> transform -> load -> cleanup for one source; raise on a failure (nothing deleted)."""
