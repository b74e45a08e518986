"""Admin endpoints of the REST API: role grants and the audit log (admins only)."""
from __future__ import annotations

from flask import current_app, jsonify

from app.admin.views import principal_key
from app.api import bp
from app.api.params import bad, int_arg, json_body, str_arg
from app.auth import access
from app.auth.audit import audit
from app.auth.principal import current_principal
from app.config import ROLES
from app.errors import ApiError
from app.graph_access import get_graph
from graph import audit as audit_log
from graph import roles as role_store


@bp.get("/admin/roles")
def list_roles():
    access.require("admin")
    return jsonify({"items": role_store.list_grants(get_graph()),
                    "configured": current_app.config.get("TRELLIS_ROLES") or {},
                    "default_role": current_app.config.get("TRELLIS_DEFAULT_ROLE")})


@bp.post("/admin/roles")
def grant_role():
    access.require("admin")
    body = json_body()
    role = body.get("role")
    if role not in ROLES:
        raise bad(f"role must be one of {', '.join(ROLES)}", "invalid_body")
    try:
        key = principal_key(str(body.get("principal") or ""))
    except ValueError as exc:
        raise bad(str(exc), "invalid_body") from None
    role_store.grant_role(get_graph(), key, role, current_principal().id)
    access.forget_subjects()
    audit("grant_role", "ok", target=key, details={"role": role})
    return jsonify({"principal": key, "role": role}), 201


@bp.delete("/admin/roles")
def revoke_role():
    access.require("admin")
    key = str_arg("principal", max_len=300)
    if not key:
        raise bad("principal is required", details={"parameter": "principal"})
    if not role_store.revoke_role(get_graph(), key):
        raise ApiError(404, "not_found", f"{key} has no grant", {"principal": key})
    access.forget_subjects()
    audit("revoke_role", "ok", target=key)
    return "", 204


@bp.get("/audit")
def audit_events():
    access.require("admin")
    outcome = str_arg("outcome", max_len=20)
    if outcome and outcome not in audit_log.OUTCOMES:
        raise bad(f"outcome must be one of {', '.join(audit_log.OUTCOMES)}", details={"parameter": "outcome"})
    before = int_arg("before", None, 0, 2**62)
    events = audit_log.list_events(
        get_graph(), actor=str_arg("actor", max_len=300), action=str_arg("action", max_len=100),
        outcome=outcome, before=before, limit=int_arg("limit", 100, 1, 1000))
    return jsonify({"items": events})
