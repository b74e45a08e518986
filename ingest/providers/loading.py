"""Load + cleanup for the Git-host providers: what a run fetched, handed to ingest.sync.ingest_entities."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graph import write
from ingest.providers.http import HttpStats
from plugins.api import redact

if TYPE_CHECKING:
    from ingest.sync import IngestResult
    from plugins.api import SyncContext


class OptionsError(ValueError):
    """A source's options are missing or wrong (a configuration error, not retried)."""


@dataclass
class Fetched:
    """What the get step produced for one run, ready for ingest_entities."""

    entities: list[tuple[str, dict]] = field(default_factory=list)   # (origin, descriptor) of repository files
    org: list[tuple[str, dict]] = field(default_factory=list)        # teams/groups and members from the host's
                                                                     # own API: the only Group/User source
    problems: list[dict] = field(default_factory=list)   # {"origin", "document", "reason", "keep"}: keep = the
                                                         # file was not read, its entities must stay
    repos: int = 0                                                   # repositories/projects listed
    descriptors: int = 0                                             # descriptor files found
    stats: HttpStats | None = None


def problems_as_rejections(problems: list[dict]) -> list[dict]:
    """Unreadable remote files/documents in the shape of ingest rejections (file = the origin)."""
    return [{"file": p["origin"], "document": p["document"], "ref": None, "field": None, "reason": p["reason"]}
            for p in problems]


def load(ctx: "SyncContext", target: str, fetched: Fetched) -> "IngestResult":
    """Hand the fetched entities to ingest_entities through the context (its guard, run id, progress).

    Repository files go under the source's kind rules (repository kinds unless configured), the org's own
    teams and members under the org rules (ingest.kinds). A file that could not be read removes nothing it
    held; it is reported in `rejected` of the result and of the recorded run (ingest_entities only sees
    dicts, so its run record is completed here).
    """
    from ingest.kinds import org_rules

    unavailable = {p["origin"] for p in fetched.problems if p.get("keep", True)}
    org = org_rules(ctx.source)
    result = ctx.ingest([*fetched.entities, *((origin, entity, org) for origin, entity in fetched.org)],
                        target=target, unavailable=unavailable)
    if fetched.problems:
        result.rejected.extend(problems_as_rejections(fetched.problems))
        if not result.dry_run and ctx.graph is not None:   # the recorded run says so too
            write.record_run(ctx.graph, {"id": result.run, "status": "partial", "rejected_count": len(result.rejected),
                                         "rejected": redact(json.dumps(result.rejected))})
    return result
