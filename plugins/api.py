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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:
    from graph.driver import Graph
    from ingest.sync import IngestResult

ENTRY_POINT_GROUP = "trellis.plugins"

Progress = Callable[[str, int, int], None]


class MissingSecret(LookupError):
    """A provider asked for a secret that is set neither as an environment variable nor as a file."""


@dataclass
class SyncContext:
    """What one provider run gets. Options come from the source's configuration and hold no secrets."""

    graph: "Graph"
    source: str                      # the configured source name, e.g. "github-acme"
    options: dict[str, Any]
    run_id: str
    trigger: str = "manual"          # "schedule" | "manual" | "webhook"
    force: bool = False              # let the removal guard through
    secret: Callable[[str], str] = field(default=lambda name: (_ for _ in ()).throw(MissingSecret(name)))
    progress: Progress = field(default=lambda stage, done, total: None)


class Provider(ABC):
    """One kind of source. Instances are stateless; everything per run comes in the SyncContext."""

    name: ClassVar[str]              # what a source's `provider:` setting names, e.g. "github"

    @abstractmethod
    def sync(self, ctx: SyncContext) -> "IngestResult":
        """Run get -> transform -> load -> cleanup for one source; raise on a failure (nothing deleted)."""
