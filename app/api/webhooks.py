"""Webhooks plugins registered (plugins.api.Webhook): `POST /api/v1/webhooks/<id>`, e.g. the GitHub plugin's
`/api/v1/webhooks/github` (plugins/builtin/github/webhook.py).

The portal does what every webhook needs, once: the body is read through the app's MAX_CONTENT_LENGTH
(max_request_bytes, default 25 MiB: a larger one is a 413 before it is all read, with a Content-Length or
chunked alike); the declared permission is enforced before the plugin runs (PUBLIC: no sign-in, the plugin
authenticates each delivery itself; otherwise an API token holding that permission, never a session cookie,
so no cross-site request can trigger it); the plugin gets the configured sources and a re-ingest service;
its refusals (WebhookError) become the JSON error body, and a plugin that raises is a 502 naming it.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import g, jsonify, request

from app import settings
from app.api import bp
from app.api.params import raw_body
from app.auth import access
from app.auth.csrf import csrf_exempt
from app.errors import ApiError
from app.graph_access import get_graph
from ingest.jobs.config import ConfigError, SourceConfig
from ingest.webhook_runs import reingest
from plugins.api import PUBLIC, WebhookError, WebhookRequest, redact
from plugins.registry import registry

log = logging.getLogger(__name__)


@bp.post("/webhooks/<hook_id>")
@access.public
@csrf_exempt
def plugin_webhook(hook_id: str):
    webhook = registry().webhook(hook_id)
    if webhook is None:
        raise ApiError(404, "unknown_webhook", f"no webhook {hook_id!r} is installed (installed: "
                                               f"{', '.join(w.id for w in registry().webhooks()) or 'none'})")
    if webhook.permission != PUBLIC:
        if not g.get("trellis_by_token"):
            raise ApiError(401, "token_required", f"the {hook_id} webhook needs an API token holding the "
                                                  f"{webhook.permission!r} permission (Authorization: Bearer trl_...)")
        access.require(webhook.permission)
    delivery = WebhookRequest(body=raw_body(), headers=request.headers, sources=_sources, reingest=_reingest)
    try:
        answer, status = webhook.handle(delivery)
    except WebhookError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    except Exception as exc:   # a plugin bug: named, logged, never a traceback
        log.exception("plugin %s: webhook %s failed", registry().origin("webhook", hook_id), hook_id)
        raise ApiError(502, "plugin_failed", f"the {hook_id} webhook failed: {redact(str(exc))}") from None
    return jsonify(answer), status


def _sources(provider: str) -> list[SourceConfig]:
    try:
        config = settings.current().jobs()   # TRELLIS_CONFIG as read at start
    except ConfigError as exc:
        raise WebhookError(503, "config_error", str(exc)) from None
    return [s for s in config.sources if s.provider == provider]


def _reingest(source: SourceConfig, *, options: dict[str, Any] | None = None) -> dict:
    return reingest(get_graph(), source, options=options, config=settings.current().jobs())
