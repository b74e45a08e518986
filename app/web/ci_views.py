"""The entity page's CI card: a template global that reads an entity's builds and CI health.

Why a template global and not a route edit: the card is one include in the overview tab; the data comes
from graph.builds (no Cypher here) and is shaped for display (badges, durations, dates) in Python.
"""
from __future__ import annotations

from datetime import datetime, timezone

from app.graph_access import get_graph
from app.web import bp
from graph.builds import builds_for, ci_health

CI_ANNOTATIONS = ("github.com/project-slug", "gitlab.com/project-slug", "gitlab.com/project-id",
                  "jenkins.io/job-full-name")
SHOWN = 5
BADGE = {"succeeded": "ok", "failed": "failed", "running": "running", "queued": "queued"}
PROVIDER_NAMES = {"github-actions": "GitHub Actions", "gitlab": "GitLab CI", "jenkins": "Jenkins"}


def duration_text(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = round(ms / 1000)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _safe_url(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://")) else None


@bp.app_template_global()
def ci_summary(ref: str, annotations: dict | None = None) -> dict | None:
    """Display data for the CI card, or None when the entity has no CI annotation and no builds."""
    builds = builds_for(get_graph(), ref, limit=20)
    if not builds and not any(k in (annotations or {}) for k in CI_ANNOTATIONS):
        return None
    health = ci_health(builds)
    rows = [{
        "status": b["status"], "badge": BADGE.get(b["status"], "skipped"),
        "title": b.get("name") or f"#{b['id']}", "number": b.get("number"), "url": _safe_url(b.get("url")),
        "branch": b.get("branch") or "", "commit": (b.get("commit") or "")[:8],
        "when": _when(b.get("started_at")), "duration": duration_text(b.get("duration_ms")),
        "provider": PROVIDER_NAMES.get(b.get("provider"), b.get("provider")),
    } for b in builds[:SHOWN]]
    rate = health["failure_rate"]
    return {**health, "rows": rows, "failure_percent": None if rate is None else round(rate * 100),
            "last_badge": BADGE.get(health["last_status"] or "", "skipped"),
            "provider_names": [PROVIDER_NAMES.get(p, p) for p in health["providers"]]}
