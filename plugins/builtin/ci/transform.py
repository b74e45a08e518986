"""CI: pure transforms from GitHub Actions runs, GitLab pipelines and Jenkins builds to build records.

A build record is {key, provider, id, name, number, status, branch, commit, started_at, duration_ms, url};
statuses are one vocabulary (queued, running, succeeded, failed, cancelled, skipped, unknown). Which entity a
project belongs to comes from its annotations: `github.com/project-slug` (owner/repo),
`gitlab.com/project-id` or `gitlab.com/project-slug`, `jenkins.io/job-full-name` (folder/sub/job).
No network, no graph: unit-tested on payloads alone (tests/test_ci_transform.py).
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

GITHUB_ACTIONS = "github-actions"
GITHUB_ANNOTATION = "github.com/project-slug"
GITLAB = "gitlab"
GITLAB_ANNOTATIONS = ("gitlab.com/project-id", "gitlab.com/project-slug")
JENKINS = "jenkins"
JENKINS_ANNOTATION = "jenkins.io/job-full-name"

_GITHUB_RUNNING = {"in_progress": "running", "queued": "queued", "requested": "queued", "waiting": "queued",
            "pending": "queued"}
_GITHUB_CONCLUSION = {"success": "succeeded", "failure": "failed", "timed_out": "failed", "startup_failure": "failed",
               "cancelled": "cancelled", "skipped": "skipped", "neutral": "succeeded", "stale": "cancelled",
               "action_required": "queued"}

_GITLAB_STATUS = {"success": "succeeded", "failed": "failed", "canceled": "cancelled", "canceling": "cancelled",
           "skipped": "skipped", "running": "running", "pending": "queued", "created": "queued",
           "waiting_for_resource": "queued", "preparing": "queued", "scheduled": "queued", "manual": "queued",
           "waiting_for_callback": "queued"}
_GITLAB_FINISHED = {"success", "failed", "canceled", "skipped"}


_JENKINS_RESULT = {"SUCCESS": "succeeded", "FAILURE": "failed", "UNSTABLE": "failed", "ABORTED": "cancelled",
           "NOT_BUILT": "skipped"}


@dataclass(frozen=True)
class CiKind:
    """What differs between CI systems: which annotations name a project, and how to get and transform."""

    provider: str
    annotations: tuple[str, ...]
    project_of: Callable[[dict], str | None]
    fetch: Callable[[Any, str, int], list[dict]]       # (the API client, project, how many) -> raw items
    transform: Callable[[str, dict], dict]


def group_by_project(kind: CiKind, entities: list[tuple[str, dict]]) -> dict[str, list[str]]:
    """project -> entity refs naming it (pure). Several entities may share one repository or job."""
    out: dict[str, list[str]] = {}
    for ref, annotations in entities:
        project = kind.project_of(annotations)
        if project:
            out.setdefault(project, []).append(ref)
    return out


def transform_all(kind: CiKind, project: str, raw: list[dict]) -> tuple[list[dict], list[str]]:
    """Build records of one project, and the reasons for payload items that could not be read."""
    records, problems = [], []
    for item in raw:
        try:
            records.append(kind.transform(project, item))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"unreadable {kind.provider} build in {project}: {type(exc).__name__}: {exc}")
    return records, problems


def option_int(options: dict[str, Any], name: str, default: int, low: int = 1, high: int = 1000) -> int:
    """An integer source option within bounds, or a clear error naming it."""
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"option {name!r} must be an integer from {low} to {high}, got {value!r}")
    return value


def _ms(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


# ------------------------------------------------------------------------------------------ GitHub Actions

def github_slug(annotations: dict) -> str | None:
    """The `owner/repo` an entity names with `github.com/project-slug`."""
    return str(annotations.get(GITHUB_ANNOTATION) or "").strip() or None


def github_status(run: dict) -> str:
    if run.get("status") != "completed":
        return _GITHUB_RUNNING.get(str(run.get("status")), "running")
    return _GITHUB_CONCLUSION.get(str(run.get("conclusion")), "unknown")


def github_run(slug: str, run: dict[str, Any]) -> dict:
    """One GitHub Actions workflow run (`GET /repos/{owner}/{repo}/actions/runs`) as a build record."""
    started = _ms(run.get("run_started_at") or run.get("created_at"))
    status = github_status(run)
    finished = _ms(run.get("updated_at")) if run.get("status") == "completed" else None
    return {
        "key": f"{GITHUB_ACTIONS}:{slug.lower()}:{run['id']}",
        "provider": GITHUB_ACTIONS,
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


# ------------------------------------------------------------------------------------------ GitLab CI

def gitlab_project(annotations: dict) -> str | None:
    """The project's `:id` path segment from an entity's annotations (id wins over slug)."""
    pid = str(annotations.get("gitlab.com/project-id") or "").strip()
    if pid:
        return pid
    slug = str(annotations.get("gitlab.com/project-slug") or "").strip().strip("/")
    return slug or None


def gitlab_pipeline(project: str, pipeline: dict[str, Any]) -> dict:
    """One GitLab pipeline (`GET /projects/:id/pipelines`) as a build record."""
    created = _ms(pipeline.get("started_at") or pipeline.get("created_at"))
    raw = str(pipeline.get("status"))
    updated = _ms(pipeline.get("finished_at") or pipeline.get("updated_at")) if raw in _GITLAB_FINISHED else None
    duration = pipeline.get("duration")
    return {
        "key": f"{GITLAB}:{project.lower()}:{pipeline['id']}",
        "provider": GITLAB,
        "id": str(pipeline["id"]),
        "name": pipeline.get("name") or f"pipeline #{pipeline.get('iid', pipeline['id'])}",
        "number": pipeline.get("iid"),
        "status": _GITLAB_STATUS.get(raw, "unknown"),
        "branch": pipeline.get("ref"),
        "commit": pipeline.get("sha"),
        "started_at": created,
        "duration_ms": int(duration * 1000) if isinstance(duration, (int, float))
        else ((updated - created) if updated is not None and created is not None else None),
        "url": pipeline.get("web_url"),
    }


# ------------------------------------------------------------------------------------------ Jenkins

def jenkins_job(annotations: dict) -> str | None:
    """The job full name an entity names with `jenkins.io/job-full-name`."""
    return str(annotations.get(JENKINS_ANNOTATION) or "").strip().strip("/") or None


def jenkins_job_path(full_name: str) -> str:
    parts = [p for p in full_name.strip("/").split("/") if p]
    if not parts:
        raise ValueError(f"{JENKINS_ANNOTATION} is empty")
    return "".join(f"/job/{urllib.parse.quote(p, safe='')}" for p in parts)


def _revision(build: dict) -> tuple[str | None, str | None]:
    for action in build.get("actions") or []:
        rev = (action or {}).get("lastBuiltRevision") if isinstance(action, dict) else None
        if rev:
            branches = rev.get("branch") or []
            name = branches[0].get("name") if branches else None
            if name and name.startswith("refs/remotes/"):
                name = name.split("/", 3)[-1]
            elif name and "/" in name and name.split("/", 1)[0] == "origin":
                name = name.split("/", 1)[1]
            return name, rev.get("SHA1")
    return None, None


def jenkins_build(full_name: str, build: dict[str, Any]) -> dict:
    """One Jenkins build (`GET /job/<name>/api/json?tree=builds[...]`) as a build record."""
    branch, commit = _revision(build)
    building = bool(build.get("building"))
    status = "running" if building else _JENKINS_RESULT.get(str(build.get("result")), "unknown")
    return {
        "key": f"{JENKINS}:{full_name.strip('/').lower()}:{build['number']}",
        "provider": JENKINS,
        "id": str(build["number"]),
        "name": build.get("displayName") or f"#{build['number']}",
        "number": build.get("number"),
        "status": status,
        "branch": branch,
        "commit": commit,
        "started_at": build.get("timestamp"),
        "duration_ms": None if building else build.get("duration"),
        "url": build.get("url"),
    }
