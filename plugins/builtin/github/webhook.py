"""The GitHub webhook: `POST /api/v1/webhooks/github`, registered through the plugin API (plugins.api.Webhook).

No sign-in (permission PUBLIC): a delivery authenticates by its `X-Hub-Signature-256` (HMAC-SHA256 of the
raw body with the webhook secret of a configured `github` source, compared in constant time). A `push` to a
repository's default branch, or a `repository` created/deleted/archived/unarchived/renamed/transferred,
re-ingests the source reading that organisation (through the door's `reingest`: queued when the job broker
answers, synchronous otherwise, asking GitHub only about that repository); `ping` answers 200; other events
are acknowledged and ignored.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from plugins.api import PUBLIC, MissingSecret, Webhook, WebhookError, WebhookRequest, redact, secret

DEFAULT_WEBHOOK_SECRET = "github-webhook-secret"   # -> TRELLIS_SECRET_GITHUB_WEBHOOK_SECRET


@dataclass(frozen=True)
class Push:
    """What a `push` webhook delivery says, as far as the catalog cares."""

    org: str
    repo: str
    branch: str
    default_branch: str

    @property
    def to_default_branch(self) -> bool:
        return self.branch == self.default_branch


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`, compared in constant time."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def push_event(payload: Any) -> Push | None:
    """The repository and branch of a push delivery (None when the payload is not one)."""
    if not isinstance(payload, dict):
        return None
    repo = payload.get("repository")
    ref = payload.get("ref")
    if not isinstance(repo, dict) or not isinstance(ref, str) or not isinstance(repo.get("name"), str):
        return None
    owner = repo.get("owner") if isinstance(repo.get("owner"), dict) else {}
    org = owner.get("login") or owner.get("name") or str(repo.get("full_name", "/")).split("/")[0]
    if not org:
        return None
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ""
    return Push(org=str(org), repo=repo["name"], branch=branch, default_branch=str(repo.get("default_branch") or ""))


# `repository` webhook actions that change which repositories the organisation has (or reads).
REPOSITORY_ACTIONS = ("created", "deleted", "archived", "unarchived", "renamed", "transferred")


def repository_event(payload: Any) -> tuple[str, str, str] | None:
    """(org, repository, action) of a `repository` delivery that changes the catalog, else None."""
    if not isinstance(payload, dict) or payload.get("action") not in REPOSITORY_ACTIONS:
        return None
    repo = payload.get("repository")
    if not isinstance(repo, dict) or not isinstance(repo.get("name"), str):
        return None
    owner = repo.get("owner") if isinstance(repo.get("owner"), dict) else {}
    org = owner.get("login") or str(repo.get("full_name", "/")).split("/")[0]
    return (str(org), repo["name"], payload["action"]) if org else None


def watches(options: dict[str, Any], org: str) -> bool:
    """Whether a GitHub source with these options reads organisation `org` (logins are case-insensitive)."""
    return str(options.get("org", "")).lower() == org.lower()


def webhook_secret_name(options: dict[str, Any]) -> str:
    return str(options.get("webhook_secret_name") or DEFAULT_WEBHOOK_SECRET)


def _secret_of(source: Any) -> str:
    """The source's webhook secret, or "" (never matches) when it is not set."""
    try:
        return secret(webhook_secret_name(source.options))
    except MissingSecret:
        return ""


def handle(request: WebhookRequest) -> tuple[dict, int]:
    """Verify the delivery's signature, then act on `ping`, `push` and `repository`."""
    body = request.body
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        raise WebhookError(401, "signature_missing", "the X-Hub-Signature-256 header is missing; set a secret on "
                                                     "the GitHub webhook (content type application/json)")
    candidates = request.sources("github")
    if not candidates:
        raise WebhookError(404, "no_github_source", "no GitHub source is configured (TRELLIS_CONFIG); nothing "
                                                    "would handle this delivery")
    verified = [s for s in candidates if verify_signature(_secret_of(s), body, signature)]
    if not verified:
        raise WebhookError(401, "bad_signature", "the X-Hub-Signature-256 signature does not match the webhook "
                                                 "secret of any GitHub source")
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery")
    if event == "ping":
        return {"status": "ok", "event": "ping", "delivery": delivery, "sources": [s.name for s in verified]}, 200
    payload = request.json()
    if event == "push":
        push = push_event(payload)
        if push is None:
            raise WebhookError(400, "invalid_payload", "a push delivery needs `ref` and `repository` (name, owner) "
                                                       "in a JSON body (webhook content type application/json)")
        if not push.to_default_branch:
            return {"status": "ignored", "event": event, "reason":
                    f"push to {push.branch or 'a tag'}, not the default branch {push.default_branch}"}, 200
        org, repo, relist = push.org, push.repo, False
    elif event == "repository":
        change = repository_event(payload)
        if change is None:
            return {"status": "ignored", "event": event,
                    "reason": "this repository action does not change the catalog"}, 200
        org, repo, _ = change
        relist = True
    else:
        return {"status": "ignored", "event": event, "reason": f"{event or 'this'} event is not handled"}, 200
    targets = [s for s in verified if watches(s.options, org)]
    if not targets:
        return {"status": "ignored", "event": event,
                "reason": f"no GitHub source with this secret reads organisation {org}"}, 200
    runs = []
    for source in targets:
        try:
            runs.append(request.reingest(source, options={"refresh_repos": [repo], "refresh_listing": relist}))
        except Exception as exc:   # recorded as a failed run; GitHub shows the delivery as failed
            raise WebhookError(502, "reingest_failed", f"re-ingesting {org}/{repo} through source "
                                                       f"{source.name} failed: {redact(str(exc))}") from None
    queued = all(r.get("mode") == "queued" for r in runs)
    return {"status": "accepted", "event": event, "repository": f"{org}/{repo}", "runs": runs}, (202 if queued else 200)


WEBHOOK = Webhook(id="github", handle=handle, permission=PUBLIC)
