"""CI get: the API calls of GitHub Actions, GitLab CI and Jenkins, through the door's HTTP client.

- GitHub Actions: `GET /repos/{owner}/{repo}/actions/runs`, following the Link header's next pages.
- GitLab: `GET /projects/:id/pipelines` (the project id or URL-encoded path), Link header or `X-Next-Page`.
  The list has no `started_at`/`duration`; the transform uses `updated_at - created_at` for finished
  pipelines (queue time included), which saves one request per pipeline.
- Jenkins: `GET /job/<name>/api/json?tree=builds[...]{0,N}`: the `{0,N}` range asks for the newest N builds
  in one response (Jenkins' documented way to page the builds array). API tokens go in HTTP Basic auth.
"""
from __future__ import annotations

import base64
import urllib.parse

from plugins.api import ApiClient
from plugins.builtin.ci.transform import GITHUB_ANNOTATION, jenkins_job_path

GITHUB_API = "https://api.github.com"
GITLAB_API = "https://gitlab.com/api/v4"
JENKINS_TREE = ("builds[number,result,timestamp,duration,url,building,displayName,"
                "actions[lastBuiltRevision[SHA1,branch[name]]]]")


def github_client(options: dict, token: str | None, **kwargs) -> ApiClient:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return ApiClient(options.get("api_url") or GITHUB_API, provider="GitHub", headers=headers, **kwargs)


def github_runs(http: ApiClient, slug: str, limit: int) -> list[dict]:
    """The newest `limit` workflow runs of a repository, following the Link header's next pages."""
    owner, _, repo = slug.partition("/")
    if not owner or not repo or "/" in repo:
        raise ValueError(f"{GITHUB_ANNOTATION} must be 'owner/repo', got {slug!r}")
    runs: list[dict] = []
    for page in http.pages(f"/repos/{owner}/{repo}/actions/runs", {"per_page": min(max(limit, 1), 100)}):
        runs.extend((page.body or {}).get("workflow_runs") or [])
        if len(runs) >= limit:
            break
    return runs[:limit]


def gitlab_client(options: dict, token: str | None, **kwargs) -> ApiClient:
    headers = {"PRIVATE-TOKEN": token} if token else {}
    return ApiClient(options.get("api_url") or GITLAB_API, provider="GitLab", headers=headers, **kwargs)


def gitlab_pipelines(http: ApiClient, project: str, limit: int) -> list[dict]:
    """The newest `limit` pipelines, following the Link header or `X-Next-Page`."""
    ident = urllib.parse.quote(project, safe="")
    params = {"per_page": min(max(limit, 1), 100), "order_by": "id", "sort": "desc"}
    out: list[dict] = []
    for page in http.pages(f"/projects/{ident}/pipelines", params):
        out.extend(page.body or [])
        if len(out) >= limit:
            break
    return out[:limit]


def jenkins_client(options: dict, user: str | None, token: str | None, **kwargs) -> ApiClient:
    headers = {}
    if user and token:   # Jenkins API tokens go in HTTP Basic auth as user:token
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
    return ApiClient(options["url"], provider="Jenkins", headers=headers, **kwargs)


def jenkins_builds(http: ApiClient, full_name: str, limit: int) -> list[dict]:
    page = http.get(jenkins_job_path(full_name) + "/api/json", {"tree": f"{JENKINS_TREE}{{0,{max(limit, 1)}}}"})
    return list(((page.body if page else None) or {}).get("builds") or [])[:limit]
