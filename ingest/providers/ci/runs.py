"""Recording runs of runtime-fact providers (CI builds, Kubernetes workloads) like every other run.

These providers write through their own graph/ modules instead of `ingest_entities`, so nothing records
their `:IngestRun` for them. They go through the same recorder `ingest_entities` uses (running -> live
progress -> ok/partial/failed with counts, secrets redacted), so runs look alike in the portal, the API
and `trellis runs`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ingest.sync import IngestResult

if TYPE_CHECKING:
    from graph.driver import Graph
    from plugins.api import SyncContext

Progress = Callable[[str, int, int], None]


def recorded_run(ctx: "SyncContext", target: str, body: Callable[[IngestResult, Progress], object]) -> IngestResult:
    """Run `body(result, progress)` as this context's recorded run; raises what `body` raises (recorded)."""
    from ingest import sync

    result = IngestResult(source=ctx.source, target=target, run=ctx.run_id)
    return sync.recorded_run(ctx.graph, result, trigger=ctx.trigger, name=ctx.source, progress=ctx.progress,
                          body=lambda progress: body(result, progress))


def add_problems(graph: "Graph", result: IngestResult, problems: list[dict]) -> None:
    """Problems found before `ingest_entities` (an account, cluster or project that failed), added to the
    result and to its already-recorded run, which becomes `partial`.

    TODO(framework): `ingest_entities` could take these as a parameter and record them in one write.
    """
    if not problems or result.dry_run:
        return
    import json

    from graph import write
    from plugins.api import redact

    result.rejected.extend(problems)
    write.record_run(graph, {"id": result.run, "status": "partial", "rejected_count": len(result.rejected),
                             "rejected": redact(json.dumps(result.rejected))})
