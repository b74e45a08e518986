"""Jenkins builds -> build records (`GET /job/<name>/api/json?tree=builds[...]{0,N}`).

Entities name their job with `jenkins.io/job-full-name` (`folder/sub/job`, as Jenkins' `fullName`); each
path element becomes a `/job/<element>` URL segment. The `{0,N}` range asks Jenkins for the newest N builds
in one response (Jenkins' documented way to page the builds array).
"""
from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from ingest.providers.http import ApiClient

PROVIDER = "jenkins"
ANNOTATION = "jenkins.io/job-full-name"
TREE = ("builds[number,result,timestamp,duration,url,building,displayName,"
        "actions[lastBuiltRevision[SHA1,branch[name]]]]")

_RESULT = {"SUCCESS": "succeeded", "FAILURE": "failed", "UNSTABLE": "failed", "ABORTED": "cancelled",
           "NOT_BUILT": "skipped"}


def client(options: dict, user: str | None, token: str | None, **kwargs) -> ApiClient:
    headers = {}
    if user and token:   # Jenkins API tokens go in HTTP Basic auth as user:token
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
    return ApiClient(options["url"], provider="Jenkins", headers=headers, **kwargs)


def job_path(full_name: str) -> str:
    parts = [p for p in full_name.strip("/").split("/") if p]
    if not parts:
        raise ValueError(f"{ANNOTATION} is empty")
    return "".join(f"/job/{urllib.parse.quote(p, safe='')}" for p in parts)


def get_builds(http: ApiClient, full_name: str, limit: int) -> list[dict]:
    page = http.get(job_path(full_name) + "/api/json", {"tree": f"{TREE}{{0,{max(limit, 1)}}}"})
    return list(((page.body if page else None) or {}).get("builds") or [])[:limit]


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


def transform_build(full_name: str, build: dict[str, Any]) -> dict:
    """One Jenkins build as a build record (pure)."""
    branch, commit = _revision(build)
    building = bool(build.get("building"))
    status = "running" if building else _RESULT.get(str(build.get("result")), "unknown")
    return {
        "key": f"{PROVIDER}:{full_name.strip('/').lower()}:{build['number']}",
        "provider": PROVIDER,
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
