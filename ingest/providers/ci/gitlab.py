"""GitLab pipelines -> build records (`GET /projects/:id/pipelines`).

Entities name their project with `gitlab.com/project-id` (numeric) or `gitlab.com/project-slug`
(`group/sub/project`, URL-encoded into the `:id` path segment as GitLab documents).
The list endpoint has no `started_at`/`duration`; the duration is `updated_at - created_at` for finished
pipelines (queue time included), which saves one request per pipeline.
"""
from __future__ import annotations

import urllib.parse
from datetime import datetime
from typing import Any

from ingest.providers.http import ApiClient

PROVIDER = "gitlab"
ANNOTATIONS = ("gitlab.com/project-id", "gitlab.com/project-slug")
DEFAULT_API = "https://gitlab.com/api/v4"

_STATUS = {"success": "succeeded", "failed": "failed", "canceled": "cancelled", "canceling": "cancelled",
           "skipped": "skipped", "running": "running", "pending": "queued", "created": "queued",
           "waiting_for_resource": "queued", "preparing": "queued", "scheduled": "queued", "manual": "queued",
           "waiting_for_callback": "queued"}
_FINISHED = {"success", "failed", "canceled", "skipped"}


def client(options: dict, token: str | None, **kwargs) -> ApiClient:
    headers = {"PRIVATE-TOKEN": token} if token else {}
    return ApiClient(options.get("api_url") or DEFAULT_API, provider="GitLab", headers=headers, **kwargs)


def project_of(annotations: dict) -> str | None:
    """The project's `:id` path segment from an entity's annotations (id wins over slug)."""
    pid = str(annotations.get("gitlab.com/project-id") or "").strip()
    if pid:
        return pid
    slug = str(annotations.get("gitlab.com/project-slug") or "").strip().strip("/")
    return slug or None


def get_pipelines(http: ApiClient, project: str, limit: int) -> list[dict]:
    """The newest `limit` pipelines, following the Link header or `X-Next-Page`."""
    ident = urllib.parse.quote(project, safe="")
    params = {"per_page": min(max(limit, 1), 100), "order_by": "id", "sort": "desc"}
    out: list[dict] = []
    for page in http.pages(f"/projects/{ident}/pipelines", params):
        out.extend(page.body or [])
        if len(out) >= limit:
            break
    return out[:limit]


def _ms(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def transform_pipeline(project: str, pipeline: dict[str, Any]) -> dict:
    """One pipeline as a build record (pure)."""
    created = _ms(pipeline.get("started_at") or pipeline.get("created_at"))
    raw = str(pipeline.get("status"))
    updated = _ms(pipeline.get("finished_at") or pipeline.get("updated_at")) if raw in _FINISHED else None
    duration = pipeline.get("duration")
    return {
        "key": f"{PROVIDER}:{project.lower()}:{pipeline['id']}",
        "provider": PROVIDER,
        "id": str(pipeline["id"]),
        "name": pipeline.get("name") or f"pipeline #{pipeline.get('iid', pipeline['id'])}",
        "number": pipeline.get("iid"),
        "status": _STATUS.get(raw, "unknown"),
        "branch": pipeline.get("ref"),
        "commit": pipeline.get("sha"),
        "started_at": created,
        "duration_ms": int(duration * 1000) if isinstance(duration, (int, float))
        else ((updated - created) if updated is not None and created is not None else None),
        "url": pipeline.get("web_url"),
    }
