"""GitHub Actions workflow runs -> build records (`GET /repos/{owner}/{repo}/actions/runs`).

Entities name their repository with Backstage's `github.com/project-slug` annotation (`owner/repo`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ingest.providers.http import ApiClient

PROVIDER = "github-actions"
ANNOTATION = "github.com/project-slug"
DEFAULT_API = "https://api.github.com"

_RUNNING = {"in_progress": "running", "queued": "queued", "requested": "queued", "waiting": "queued",
            "pending": "queued"}
_CONCLUSION = {"success": "succeeded", "failure": "failed", "timed_out": "failed", "startup_failure": "failed",
               "cancelled": "cancelled", "skipped": "skipped", "neutral": "succeeded", "stale": "cancelled",
               "action_required": "queued"}


def client(options: dict, token: str | None, **kwargs) -> ApiClient:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return ApiClient(options.get("api_url") or DEFAULT_API, provider="GitHub", headers=headers, **kwargs)


def get_runs(http: ApiClient, slug: str, limit: int) -> list[dict]:
    """The newest `limit` workflow runs of a repository, following the Link header's next pages."""
    owner, _, repo = slug.partition("/")
    if not owner or not repo or "/" in repo:
        raise ValueError(f"{ANNOTATION} must be 'owner/repo', got {slug!r}")
    runs: list[dict] = []
    for page in http.pages(f"/repos/{owner}/{repo}/actions/runs", {"per_page": min(max(limit, 1), 100)}):
        runs.extend((page.body or {}).get("workflow_runs") or [])
        if len(runs) >= limit:
            break
    return runs[:limit]


def _ms(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def status_of(run: dict) -> str:
    if run.get("status") != "completed":
        return _RUNNING.get(str(run.get("status")), "running")
    return _CONCLUSION.get(str(run.get("conclusion")), "unknown")


def transform_run(slug: str, run: dict[str, Any]) -> dict:
    """One workflow run as a build record (pure)."""
    started = _ms(run.get("run_started_at") or run.get("created_at"))
    status = status_of(run)
    finished = _ms(run.get("updated_at")) if run.get("status") == "completed" else None
    return {
        "key": f"{PROVIDER}:{slug.lower()}:{run['id']}",
        "provider": PROVIDER,
        "id": str(run["id"]),
        "name": run.get("name") or run.get("display_title") or "",
        "number": run.get("run_number"),
        "status": status,
        "branch": run.get("head_branch"),
        "commit": run.get("head_sha"),
        "started_at": started,
        "duration_ms": (finished - started) if finished is not None and started is not None else None,
        "url": run.get("html_url"),
    }
