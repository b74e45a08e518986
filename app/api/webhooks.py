"""Webhooks from Git hosts: `POST /api/v1/webhooks/github`.

No sign-in: a delivery authenticates by its `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
webhook secret of a configured `github` source, compared in constant time). A `push` to a repository's
default branch, or a `repository` created/deleted/archived/unarchived/renamed/transferred, re-ingests the
source reading that organisation (ingest.providers.webhooks: queued when the job broker answers,
synchronous otherwise); `ping` answers 200; other events are acknowledged and ignored.
"""
from __future__ import annotations

from flask import jsonify, request

from app import settings
from app.api import bp
from app.api.params import raw_body
from app.auth import access
from app.auth.csrf import csrf_exempt
from app.errors import ApiError
from app.graph_access import get_graph
from ingest.jobs.config import ConfigError, SourceConfig
from plugins.builtin.github import transform as github
from plugins.api import MissingSecret, redact, secret

@bp.post("/webhooks/github")
@access.public
@csrf_exempt
def github_webhook():
    """Verify the delivery's signature, then act on `ping` and `push`.

    The body is read through the app's MAX_CONTENT_LENGTH (max_request_bytes, default 25 MiB, GitHub's own
    cap): a larger one is a 413 before it is all read, with a Content-Length or chunked alike."""
    body = raw_body()
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        raise ApiError(401, "signature_missing", "the X-Hub-Signature-256 header is missing; set a secret on the "
                                                 "GitHub webhook (content type application/json)")
    try:
        config = settings.current().jobs()   # TRELLIS_CONFIG as read at start
    except ConfigError as exc:
        raise ApiError(503, "config_error", str(exc)) from None
    candidates = [s for s in config.sources if s.provider == "github"]
    if not candidates:
        raise ApiError(404, "no_github_source", "no GitHub source is configured (TRELLIS_CONFIG); nothing would "
                                                "handle this delivery")
    verified = [s for s in candidates if github.verify_signature(_secret_of(s), body, signature)]
    if not verified:
        raise ApiError(401, "bad_signature", "the X-Hub-Signature-256 signature does not match the webhook secret "
                                             "of any GitHub source")
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery")
    if event == "ping":
        return jsonify({"status": "ok", "event": "ping", "delivery": delivery,
                        "sources": [s.name for s in verified]})
    payload = request.get_json(silent=True)
    if event == "push":
        push = github.push_event(payload)
        if push is None:
            raise ApiError(400, "invalid_payload", "a push delivery needs `ref` and `repository` (name, owner) "
                                                   "in a JSON body (webhook content type application/json)")
        if not push.to_default_branch:
            return jsonify({"status": "ignored", "event": event, "reason":
                            f"push to {push.branch or 'a tag'}, not the default branch {push.default_branch}"})
        org, repo, relist = push.org, push.repo, False
    elif event == "repository":
        change = github.repository_event(payload)
        if change is None:
            return jsonify({"status": "ignored", "event": event,
                            "reason": "this repository action does not change the catalog"})
        org, repo, _ = change
        relist = True
    else:
        return jsonify({"status": "ignored", "event": event, "reason": f"{event or 'this'} event is not handled"})
    targets = [s for s in verified if github.watches(s.options, org)]
    if not targets:
        return jsonify({"status": "ignored", "event": event,
                        "reason": f"no GitHub source with this secret reads organisation {org}"})
    from ingest.providers.webhooks import reingest

    runs = []
    for source in targets:
        try:
            runs.append(reingest(get_graph(), source, repo, relist=relist, config=config))
        except Exception as exc:   # recorded as a failed run; GitHub shows the delivery as failed
            raise ApiError(502, "reingest_failed", f"re-ingesting {org}/{repo} through source "
                                                   f"{source.name} failed: {redact(str(exc))}") from None
    queued = all(r.get("mode") == "queued" for r in runs)
    return jsonify({"status": "accepted", "event": event, "repository": f"{org}/{repo}",
                    "runs": runs}), (202 if queued else 200)


def _secret_of(source: SourceConfig) -> str:
    """The source's webhook secret, or "" (never matches) when it is not set."""
    try:
        return secret(github.webhook_secret_name(source.options))
    except MissingSecret:
        return ""
