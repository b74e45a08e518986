"""Error handling in one place: JSON bodies for the API, pages for people, never a traceback.

API errors have the shape `{"error": {"code": "...", "message": "...", "details": ...}}`.
"""
from __future__ import annotations

import logging

from urllib.parse import quote

from flask import Flask, current_app, jsonify, make_response, redirect, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.auth.access import Denied
from graph.driver import GraphUnavailable
from graph.migrations import SchemaNotReady, SchemaTooNew

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses, with a machine-readable code."""

    def __init__(self, status: int, code: str, message: str, details: object = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, details: object = None):
    if _wants_json():
        body = {"error": {"code": code, "message": message, "details": details}}
        return make_response(jsonify(body), status)
    return make_response(render_template("error.html", status=status, code=code, message=message), status)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(Denied)
    def _denied(exc: Denied):
        if exc.status == 401 and not _wants_json():
            target = request.full_path if request.query_string else request.path
            return redirect("/auth/login?next=" + quote(target, safe="/"))
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(exc.status, "forbidden")
        return error_response(exc.status, code, exc.message)

    @app.errorhandler(SchemaNotReady)
    def _schema_not_ready(exc: SchemaNotReady):
        # No connection details in the body: the message names versions and the lock holder's process only.
        log.warning("catalog schema not ready: %s", exc)
        too_new = isinstance(exc, SchemaTooNew)
        response = error_response(
            503, "schema_too_new" if too_new else "migrating",
            "The catalog database was upgraded by a newer Trellis release; this portal must be upgraded too."
            if too_new else "The catalog database is being migrated to this release; try again in a moment.")
        response.headers["Retry-After"] = "30" if too_new else "5"
        return response

    @app.errorhandler(GraphUnavailable)
    def _graph_down(exc: GraphUnavailable):
        log.warning("graph unavailable: %s", exc)
        response = error_response(
            503, "graph_unavailable",
            "The catalog database (Neo4j) is not reachable right now. This page recovers by itself when it "
            "is back; try again in a moment.")
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return error_response(413, "payload_too_large",
                              f"the request body is larger than this server accepts ({limit} bytes; "
                              f"max_request_bytes in TRELLIS_CONFIG)", {"limit": limit})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
