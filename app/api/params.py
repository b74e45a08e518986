"""Request parsing for the API: every bad input becomes a 400 with the JSON error body, never a 500."""
from __future__ import annotations

import json

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import ApiError
from app.locations import TargetRefused, checked_target, location_roots
from graph.catalog import QueryError, parse_filter_param
from graph.model import RefError, parse_ref



def bad(message: str, code: str = "invalid_parameter", details: object = None) -> ApiError:
    return ApiError(400, code, message, details)


def int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise bad(f"{name} must be an integer", details={"parameter": name}) from None
    if not low <= value <= high:
        raise bad(f"{name} must be between {low} and {high}", details={"parameter": name})
    return value


def str_arg(name: str, *, required: bool = False, max_len: int = 1000) -> str | None:
    value = request.args.get(name)
    if value is None or not value.strip():
        if required:
            raise bad(f"the {name} parameter is required", details={"parameter": name})
        return None
    if len(value) > max_len:
        raise bad(f"{name} is too long", details={"parameter": name})
    return value.strip()


def list_arg(name: str) -> list[str]:
    """Repeated and/or comma-separated values (`kind=a&kind=b` or `kind=a,b`)."""
    return [part.strip() for raw in request.args.getlist(name) for part in raw.split(",") if part.strip()]


def ref_arg(name: str, *, default_kind: str | None = None) -> str:
    return to_ref(str_arg(name, required=True), name, default_kind=default_kind)


def to_ref(value: str, what: str, *, default_kind: str | None = None) -> str:
    try:
        return str(parse_ref(value, default_kind=default_kind))
    except RefError as exc:
        raise bad(f"{what}: {exc}; write refs as kind:namespace/name", "invalid_ref",
                  {"parameter": what, "value": value}) from None


def filters_arg() -> list:
    try:
        return parse_filter_param(request.args.getlist("filter"))
    except QueryError as exc:
        raise bad(str(exc), "invalid_filter") from None


def order_args() -> tuple[str, str]:
    """Backstage's `orderField=metadata.name,desc` (by-query) or `order=desc:metadata.name` (list)."""
    field_, order = "metadata.name", "asc"
    raw = request.args.get("orderField")
    if raw:
        field_, _, direction = raw.partition(",")
        order = direction or "asc"
    elif request.args.get("order"):
        direction, sep, rest = request.args["order"].partition(":")
        field_, order = (rest, direction) if sep else (direction, "asc")
    return field_.strip(), order.strip()


def raw_body() -> bytes:
    """The request body, read at most up to MAX_CONTENT_LENGTH (max_request_bytes).

    Werkzeug stops reading a streamed (chunked) body at the limit and hands back what it read, silently cut;
    a body that reaches the limit is therefore refused here (413, the JSON error body) instead of being
    used truncated. A Content-Length over the limit is refused by Werkzeug before anything is read.
    """
    data = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and len(data) >= limit:
        raise RequestEntityTooLarge()
    return data


def json_body() -> dict:
    """The JSON object body (415 for another content type and 400 for malformed JSON come from Flask)."""
    raw_body()
    body = request.get_json()
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object", "invalid_body")
    try:   # lone surrogates (valid JSON escapes) cannot travel to Neo4j as UTF-8
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise bad("the request body contains invalid unicode", "invalid_body") from None
    return body


def pick_fields(entity: dict, fields: list[str]) -> dict:
    """Backstage's `fields=kind,metadata.name`: keep only those dot paths."""
    out: dict = {}
    for path in fields:
        parts = path.split(".")
        src, dst = entity, out
        for i, part in enumerate(parts):
            if not isinstance(src, dict) or part not in src:
                break
            if i == len(parts) - 1:
                dst[part] = src[part]
            else:
                src = src[part]
                dst = dst.setdefault(part, {})
    return out


def allowed_target(target: str) -> str:
    """The shared location policy (app.locations), refusals as 400 with the JSON error body."""
    try:
        return checked_target(target)
    except TargetRefused as exc:
        raise bad(str(exc), "location_not_allowed",
                  {"target": target, "allowed_roots": [str(r) for r in location_roots()]}) from None
